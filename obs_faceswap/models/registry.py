"""Where models live, whether they are installed and intact, and the one way to load one.

- ``models_dir()``: ``$OBS_FACESWAP_MODELS`` or ``<repo>/models/downloads`` (downloads, imports).
- embedded models live in ``models/embedded/`` next to the manifest and ship with the project.
- ``models.lock.json`` in the models dir records hashes the manifest does not publish (first
  download or import wins, later files must match) and which files were verified (by size+mtime),
  so ``models list`` can say "verified" without re-hashing hundreds of megabytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obs_faceswap.config import user_data_dir, write_text_atomic
from obs_faceswap.errors import ModelError
from obs_faceswap.models.manifest import REPO_ROOT, ModelEntry, in_checkout, load_manifest, manifest_path
from obs_faceswap.models.session import Session, check_signature, create_session
from obs_faceswap.models.signatures import family_signature

LOCK_NAME = "models.lock.json"


def models_dir() -> Path:
    """Where downloaded weights go: ``$OBS_FACESWAP_MODELS``, else ``models/downloads`` of a checkout,
    else (a wheel install, whose package folder may not be writable) the per-user data folder."""
    env = os.environ.get("OBS_FACESWAP_MODELS", "").strip()
    if env:
        return Path(env).expanduser()
    return REPO_ROOT / "models" / "downloads" if in_checkout() else user_data_dir() / "models"


def embedded_dir() -> Path:
    return manifest_path().parent / "embedded"


def entries() -> dict[str, ModelEntry]:
    return load_manifest()


def get_entry(model_id: str) -> ModelEntry:
    known = entries()
    entry = known.get(model_id)
    if entry is None:
        raise ModelError(f"unknown model {model_id!r}. Known models: {', '.join(sorted(known))} "
                         "('obs-faceswap models list').")
    return entry


def model_path(entry: ModelEntry) -> Path:
    """Where this model's file is (or would be, once installed)."""
    return (embedded_dir() if entry.embedded else models_dir()) / entry.file


def is_installed(model_id: str) -> bool:
    """The file is present (and has the published size, when one is known)."""
    entry = get_entry(model_id)
    p = model_path(entry)
    try:
        size = p.stat().st_size
    except OSError:
        return False
    return p.is_file() and size > 0 and (entry.size == 0 or size == entry.size)


def how_to_install(entry: ModelEntry) -> str:
    if entry.embedded:
        return ("it ships with obs-faceswap in models/embedded/; reinstall, or run "
                "'python tools/convert_mediapipe.py' from a checkout to rebuild it")
    if entry.user_supplied or not entry.urls:
        return f"bring your own file: 'obs-faceswap models import {entry.id} PATH', or set the setting to its path"
    return (f"download it with 'obs-faceswap models download {entry.id}' "
            f"(or 'obs-faceswap models import {entry.id} FILE' if you already have it)")


def resolve_model(id_or_path: str) -> Path:
    """An installed model id or an existing file path -> the file. ``ModelError`` says how to get it."""
    text = str(id_or_path).strip()
    if not text:
        raise ModelError("no model given: pass a model id ('obs-faceswap models list') or a file path")
    candidate = Path(text).expanduser()
    known = entries()
    if text not in known:
        if candidate.is_file():
            return candidate
        if candidate.suffix or os.sep in text or "/" in text:
            raise ModelError(f"model file not found: {candidate}")
        raise ModelError(f"unknown model {text!r} and no such file. Known models: {', '.join(sorted(known))}.")
    entry = known[text]
    p = model_path(entry)
    if not is_installed(text):
        if p.is_file():
            raise ModelError(f"model {entry.id} at {p} has {p.stat().st_size} bytes, expected {entry.size}: it is "
                             f"incomplete or a different file; {how_to_install(entry)}")
        raise ModelError(f"model {entry.id} is not installed (looked for {p}); {how_to_install(entry)}")
    return p


def load_model(id_or_path: str, family: str, provider: str = "auto", *, threads: int = 0) -> Session:
    """Resolve, load with ONNX Runtime, and check the file against ``family_signature(family)``.

    For a manifest id the entry's family must be ``family``, and an entry that pins its exact
    shapes (``inputs``/``outputs`` in the manifest) is checked against those too.
    Raises ``ModelError`` (missing/corrupt) or ``ModelSignatureError`` (wrong inputs/outputs).
    """
    inputs, outputs = family_signature(family)
    entry = entries().get(str(id_or_path).strip())
    if entry is not None and entry.family != family:
        raise ModelError(f"model {entry.id} is a {entry.family} model, not a {family} model; "
                         f"pick a {family} model ('obs-faceswap models list').")
    path = resolve_model(id_or_path)
    if entry is not None:
        ensure_intact(entry)
    sess = create_session(path, provider, threads=threads, expect_inputs=inputs, expect_outputs=outputs,
                          family=family, user_file=entry is None)
    if entry is not None and (entry.inputs or entry.outputs):
        check_signature(sess, entry.inputs, entry.outputs, family=f"{family} ({entry.id})")
    return sess


def looks_like_path(value: str) -> bool:
    """A setting value meant as a file (not a model id): ends in .onnx, has a separator, or exists."""
    return value.lower().endswith(".onnx") or "/" in value or "\\" in value or Path(value).is_file()


def load_family(id_or_path: str, family: str, provider: str = "auto") -> Session:
    """A model id (``load_model``) or a file the user named, checked against ``family``'s signature."""
    path = Path(id_or_path).expanduser()
    if path.is_file():
        inputs, outputs = family_signature(family)
        return create_session(path, provider, expect_inputs=inputs, expect_outputs=outputs, family=family,
                              user_file=True)
    if looks_like_path(id_or_path):
        raise ModelError(f"{family} model not found: {id_or_path} (pass a model id from 'obs-faceswap models "
                         "list' or the path of an existing .onnx file)")
    return load_model(id_or_path, family, provider)


# ----------------------------------------------------------------------------- hashes and the lock


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def lock_path() -> Path:
    return models_dir() / LOCK_NAME


def read_lock() -> dict[str, Any]:
    try:
        data = json.loads(lock_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"recorded": {}, "verified": {}}
    if not isinstance(data, dict):
        return {"recorded": {}, "verified": {}}
    data.setdefault("recorded", {})
    data.setdefault("verified", {})
    return data


def _write_lock(data: dict[str, Any]) -> None:
    write_text_atomic(lock_path(), json.dumps(data, indent=2, sort_keys=True) + "\n")


def expected_sha256(entry: ModelEntry) -> tuple[str, str]:
    """(hash, where it comes from): 'manifest' (published), 'lock' (recorded locally) or ('', '')."""
    if entry.sha256:
        return entry.sha256, "manifest"
    if entry.user_supplied:  # the user's own weights: any file is fine, nothing to pin
        return "", ""
    rec = read_lock()["recorded"].get(entry.id)
    if isinstance(rec, dict) and isinstance(rec.get("sha256"), str):
        return rec["sha256"], "lock"
    return "", ""


def record_hash(entry: ModelEntry, sha256: str, size: int, source: str) -> None:
    """Remember the hash of the first file accepted for an entry with no published hash."""
    data = read_lock()
    data["recorded"][entry.id] = {"file": entry.file, "sha256": sha256, "size": size, "source": source}
    _write_lock(data)


def mark_verified(entry: ModelEntry, path: Path, sha256: str) -> None:
    st = path.stat()
    data = read_lock()
    data["verified"][entry.id] = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    _write_lock(data)


def is_verified(entry: ModelEntry) -> bool:
    """Installed, and its hash was checked against the expected one since it last changed."""
    p = model_path(entry)
    expected, _ = expected_sha256(entry)
    if entry.embedded and expected and p.is_file():  # a few MB that ship with us: just hash them
        return file_sha256(p) == expected
    rec = read_lock()["verified"].get(entry.id)
    if not expected or not isinstance(rec, dict):
        return False
    try:
        st = p.stat()
    except OSError:
        return False
    return rec.get("sha256") == expected and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns


def ensure_intact(entry: ModelEntry) -> None:
    """Before loading an installed model: re-hash it when it changed since it was last verified
    (size or mtime differ from the lock), and refuse a file that no longer matches its SHA-256.

    Hashing happens once per change of the file, not at every load.
    """
    expected, _ = expected_sha256(entry)
    if not expected or is_verified(entry):
        return
    result = verify(entry.id)
    if result.status == "mismatch":
        raise ModelError(f"model {entry.id} at {result.path} does not match its SHA-256 (expected "
                         f"{result.expected[:16]}…, got {result.actual[:16]}…): the file is damaged or a different "
                         f"file; download it again with 'obs-faceswap models download {entry.id} --force'.")


@dataclass(frozen=True)
class VerifyResult:
    id: str
    # "ok", "recorded" (no published hash; this one is now pinned), "unpinned" (user-supplied
    # weights, nothing to compare with), "mismatch", "missing"
    status: str
    path: Path
    expected: str = ""
    actual: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "recorded", "unpinned")


def verify(model_id: str) -> VerifyResult:
    """Hash the installed file and compare it with the published (or recorded) SHA-256."""
    entry = get_entry(model_id)
    p = model_path(entry)
    if not p.is_file():
        return VerifyResult(entry.id, "missing", p)
    actual = file_sha256(p)
    expected, _source = expected_sha256(entry)
    if not expected and entry.user_supplied:
        return VerifyResult(entry.id, "unpinned", p, "", actual)
    if not expected:
        record_hash(entry, actual, p.stat().st_size, "verify")
        mark_verified(entry, p, actual)
        return VerifyResult(entry.id, "recorded", p, actual, actual)
    if actual != expected:
        return VerifyResult(entry.id, "mismatch", p, expected, actual)
    mark_verified(entry, p, actual)
    return VerifyResult(entry.id, "ok", p, expected, actual)
