"""The model manifest: every model the project knows, read from ``models/manifest.toml``.

One ``[[model]]`` table per model; see the comments at the top of the manifest for the fields.
The manifest is found next to the package in the repository layout (``<repo>/models/manifest.toml``)
or at ``$OBS_FACESWAP_MANIFEST``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from obs_faceswap.errors import ModelError
from obs_faceswap.models.session import TensorSpec
from obs_faceswap.models.signatures import FAMILIES, parse_spec

REPO_ROOT = Path(__file__).resolve().parents[2]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


@dataclass(frozen=True)
class ModelEntry:
    """One model: where it comes from, what it is, and whether we may hand it out."""

    id: str
    family: str
    file: str  # file name inside the models dir (or models/embedded for embedded entries)
    description: str
    licence: str
    redistributable: bool
    urls: tuple[str, ...] = ()
    sha256: str = ""  # "" = no published hash: the first download records one in the lock file
    size: int = 0  # bytes; 0 = unknown
    licence_url: str = ""
    embedded: bool = False  # ships with the project in models/embedded/
    user_supplied: bool = False  # no download: the user brings the file ('models import')
    inputs: tuple[TensorSpec, ...] = field(default=())  # this file's exact inputs, if pinned
    outputs: tuple[TensorSpec, ...] = field(default=())

    @property
    def downloadable(self) -> bool:
        return bool(self.urls) and not self.embedded


def in_checkout() -> bool:
    """Whether the package runs from a checkout of the repository (editable install or source tree)."""
    return (REPO_ROOT / "models" / "manifest.toml").is_file()


def data_dir() -> Path:
    """The folder holding ``manifest.toml`` and ``embedded/``: the checkout's ``models/``, or the copy a
    wheel carries inside the package (``obs_faceswap/_data``, a link to ``models/`` in the repo)."""
    return REPO_ROOT / "models" if in_checkout() else Path(__file__).resolve().parents[1] / "_data"


def manifest_path() -> Path:
    env = os.environ.get("OBS_FACESWAP_MANIFEST", "").strip()
    return Path(env).expanduser() if env else data_dir() / "manifest.toml"


def load_manifest(path: str | os.PathLike[str] | None = None) -> dict[str, ModelEntry]:
    """Parse and validate a manifest; ``path`` defaults to ``manifest_path()``. Cached per path, mtime, size."""
    p = Path(path) if path is not None else manifest_path()
    try:
        st = p.stat()
    except OSError:
        raise ModelError(f"model manifest not found: {p}. Set OBS_FACESWAP_MANIFEST to the path of "
                         "manifest.toml, or run from a checkout of obs-faceswap.") from None
    return dict(_load_cached(str(p.resolve()), st.st_mtime_ns, st.st_size))


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: int, _size: int) -> tuple[tuple[str, ModelEntry], ...]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"cannot read model manifest {path}: {exc}") from None
    entries: dict[str, ModelEntry] = {}
    for i, raw in enumerate(data.get("model", [])):
        entry = _entry(raw, where=f"{path}: [[model]] #{i + 1}")
        if entry.id in entries:
            raise ModelError(f"{path}: model id {entry.id!r} appears twice")
        entries[entry.id] = entry
    return tuple(entries.items())


def _entry(raw: dict[str, object], where: str) -> ModelEntry:
    def req(key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise ModelError(f"{where}: missing or empty '{key}'")
        return value

    mid = req("id")
    where = f"{where} ({mid})"
    if not _ID.match(mid):
        raise ModelError(f"{where}: id must be lower-case letters, digits, '_', '.', '-'")
    family = req("family")
    if family not in FAMILIES:
        raise ModelError(f"{where}: unknown family {family!r} (known: {', '.join(FAMILIES)})")
    file = req("file")
    if Path(file).name != file or file in (".", ".."):
        raise ModelError(f"{where}: 'file' must be a plain file name, got {file!r}")
    sha = str(raw.get("sha256", "")).lower()
    if sha and not _SHA256.match(sha):
        raise ModelError(f"{where}: sha256 must be 64 hex digits or \"\"")
    urls = raw.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
        raise ModelError(f"{where}: 'urls' must be a list of strings")
    size = raw.get("size", 0)
    if not isinstance(size, int) or size < 0:
        raise ModelError(f"{where}: 'size' must be a whole number of bytes")
    redistributable = raw.get("redistributable")
    if not isinstance(redistributable, bool):
        raise ModelError(f"{where}: 'redistributable' must be true or false")
    embedded = bool(raw.get("embedded", False))
    if embedded and not redistributable:
        raise ModelError(f"{where}: an embedded model must be redistributable")
    specs_in = tuple(parse_spec(s) for s in _str_list(raw.get("inputs", []), where, "inputs"))
    specs_out = tuple(parse_spec(s) for s in _str_list(raw.get("outputs", []), where, "outputs"))
    return ModelEntry(
        id=mid, family=family, file=file, description=req("description"), licence=req("licence"),
        redistributable=redistributable, urls=tuple(urls), sha256=sha, size=size,
        licence_url=str(raw.get("licence_url", "")), embedded=embedded,
        user_supplied=bool(raw.get("user_supplied", False)), inputs=specs_in, outputs=specs_out,
    )


def _str_list(value: object, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ModelError(f"{where}: '{key}' must be a list of 'name dtype[dims]' strings")
    return list(value)
