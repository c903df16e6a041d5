"""Fixtures for the model registry tests: a temporary manifest + models folder, and a local HTTP server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.models.helpers import LocalServer, local_server


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


def model_entry(mid: str, body: bytes = b"", **fields: Any) -> dict[str, Any]:
    """A manifest entry; ``body`` fills sha256/size with the facts of those bytes unless given."""
    entry: dict[str, Any] = {
        "id": mid, "family": "gfpgan", "file": f"{mid}.onnx", "description": f"stand-in {mid}",
        "licence": "Test Licence 1.0: tests only", "redistributable": False,
    }
    if body:
        entry["sha256"] = hashlib.sha256(body).hexdigest()
        entry["size"] = len(body)
    entry.update(fields)
    return entry


class Registry:
    """A manifest and models folder under tmp_path, wired in through the environment."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / "models" / "manifest.toml"
        self.models = root / "downloads"
        self.manifest.parent.mkdir(parents=True)

    def write(self, *entries: dict[str, Any]) -> None:
        lines = []
        for e in entries:
            lines.append("[[model]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in e.items()]
            lines.append("")
        self.manifest.write_text("\n".join(lines), encoding="utf-8")
        os.utime(self.manifest, ns=(0, self.manifest.stat().st_mtime_ns + 1))  # defeat the parse cache

    def files(self) -> list[str]:
        """Everything in the models folder except the lock file (no stray partials or temp files)."""
        if not self.models.exists():
            return []
        return sorted(p.name for p in self.models.iterdir() if p.name != "models.lock.json")


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    reg = Registry(tmp_path)
    monkeypatch.setenv("OBS_FACESWAP_MANIFEST", str(reg.manifest))
    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(reg.models))
    return reg


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as srv:
        yield srv


@pytest.fixture
def payload() -> bytes:
    """A 300 KiB stand-in 'model' (random bytes: only size and hash matter to the downloader)."""
    import numpy as np

    return np.random.default_rng(7).integers(0, 256, 300 * 1024, dtype=np.uint8).tobytes()


MakeEntry = Callable[..., dict[str, Any]]
