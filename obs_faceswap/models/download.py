"""Fetch model weights: licence first, then a resumable, verified, atomic download (stdlib urllib).

The body goes to ``<file>.part`` (resumed with an HTTP ``Range`` request when it exists), is checked
for size and SHA-256, and only then renamed over the final name, so a failed or interrupted
download never leaves a half-written model where the engine would load it. A truncated transfer
keeps the ``.part`` to resume from; a wrong size or hash deletes it.
"""

from __future__ import annotations

import errno
import http.client
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from obs_faceswap import __version__
from obs_faceswap.errors import DownloadError, ModelError, ModelSignatureError
from obs_faceswap.models.manifest import ModelEntry
from obs_faceswap.models.registry import (
    expected_sha256,
    file_sha256,
    get_entry,
    how_to_install,
    is_installed,
    is_verified,
    mark_verified,
    model_path,
    models_dir,
    record_hash,
)
from obs_faceswap.models.session import create_session
from obs_faceswap.models.signatures import family_signature

CHUNK = 1 << 20


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def licence_notice(entry: ModelEntry) -> str:
    redis = "may be redistributed" if entry.redistributable else "may NOT be redistributed"
    lines = [f"{entry.id}: {entry.description}", f"  licence: {entry.licence} ({redis})"]
    if entry.licence_url:
        lines.append(f"  terms:   {entry.licence_url}")
    if entry.size:
        lines.append(f"  size:    {_human(entry.size)}")
    return "\n".join(lines)


def confirm_licence(
    entry: ModelEntry,
    accept: bool,
    *,
    out: TextIO | None = None,
    interactive: bool | None = None,
    ask: Callable[[str], str] = input,
) -> None:
    """Show the licence; go on if ``accept`` or the user types yes. Non-interactive without
    ``accept`` is a clear refusal (scripts pass ``--yes`` / ``--accept-licence``)."""
    out = out or sys.stderr
    print(licence_notice(entry), file=out)
    if accept:
        return
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if not interactive:
        raise DownloadError(f"{entry.id} is licensed '{entry.licence}' and its licence must be accepted before "
                            "download. Read the terms above, then re-run with --yes (or --accept-licence).")
    answer = ask(f"Accept the licence of {entry.id} and download it? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise DownloadError(f"licence of {entry.id} not accepted; nothing was downloaded")


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"obs-faceswap/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DownloadError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot connect: {exc.reason}") from None
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"cannot connect: {exc or type(exc).__name__}") from None


def _fetch_one(url: str, part: Path, size: int, timeout: float, progress: bool, label: str) -> None:
    """Bring ``part`` to the complete body of ``url`` (resuming it when it holds a prefix)."""
    have = part.stat().st_size if part.is_file() else 0
    if size and have > size:
        part.unlink()
        have = 0
    if size and have == size:
        return  # complete from an earlier run; the caller checks the hash
    try:
        resp = _open(url, have, timeout)
    except DownloadError as exc:
        if have and "HTTP 416" in str(exc):  # our prefix does not fit this file: start over
            part.unlink()
            resp = _open(url, 0, timeout)
            have = 0
        else:
            raise
    with resp:
        resumed = bool(have) and resp.status == 206
        start = have if resumed else 0
        length_hdr = resp.headers.get("Content-Length")
        body = int(length_hdr) if length_hdr and length_hdr.isdigit() else None
        if size and body is not None and start + body != size:
            raise DownloadError(f"the server offers {start + body} bytes but {size} were expected "
                                "(a different file?)")
        from tqdm import tqdm

        received = 0
        with open(part, "ab" if resumed else "wb") as f, tqdm(
            total=(start + body) if body is not None else (size or None), initial=start, unit="B",
            unit_scale=True, unit_divisor=1024, desc=label, disable=not progress, leave=False,
        ) as bar:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (http.client.HTTPException, OSError) as exc:
                    raise DownloadError(f"connection lost after {start + received} bytes ({type(exc).__name__}); "
                                        f"run the command again to resume from {part.name}") from None
                if not chunk:
                    break
                try:
                    f.write(chunk)
                except OSError as exc:
                    full = " (is the disk full?)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
                    raise DownloadError(f"cannot write {part}: {exc.strerror or exc}{full}; free some space and "
                                        f"run the command again to resume from {part.name}") from None
                received += len(chunk)
                bar.update(len(chunk))
                if size and start + received > size:
                    f.close()
                    part.unlink(missing_ok=True)
                    raise DownloadError(f"the server sent more than the expected {size} bytes; deleted the partial file")
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                raise DownloadError(f"cannot write {part}: {exc.strerror or exc}; free some space and run the "
                                    f"command again to resume from {part.name}") from None
    if body is not None and received < body:
        raise DownloadError(f"transfer truncated: got {start + received} of {start + body} bytes; "
                            f"run the command again to resume from {part.name}")


def fetch(
    urls: Sequence[str],
    dest: Path,
    *,
    sha256: str = "",
    size: int = 0,
    timeout: float = 30.0,
    progress: bool = True,
    label: str = "",
) -> str:
    """Download to ``dest`` from the first URL that yields the right bytes; return its SHA-256.

    Raises ``DownloadError`` listing what went wrong with each URL. ``dest`` is only ever created
    by an atomic rename of a complete, verified file.
    """
    if not urls:
        raise DownloadError(f"no download address for {dest.name}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest):
        return _fetch_all(urls, dest, sha256, size, timeout, progress, label)


@contextmanager
def _exclusive(dest: Path) -> Iterator[None]:
    """One download per file at a time (two writers would interleave bytes in the same .part)."""
    lock = dest.with_name(dest.name + ".lock")
    with open(lock, "a+b") as f:
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DownloadError(f"another download of {dest.name} is running (lock {lock}); wait for it to "
                                "finish") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def _fetch_all(urls: Sequence[str], dest: Path, sha256: str, size: int, timeout: float, progress: bool,
               label: str) -> str:
    part = dest.with_name(dest.name + ".part")
    problems: list[str] = []
    for url in urls:
        for _attempt in range(2):  # a resumed download that fails its hash is retried once from zero
            resumed = part.is_file() and part.stat().st_size > 0
            try:
                _fetch_one(url, part, size, timeout, progress, label or dest.name)
            except DownloadError as exc:
                problems.append(f"{url}: {exc}")
                break
            got = part.stat().st_size
            if size and got < size:  # the body ended early without saying how long it was
                problems.append(f"{url}: transfer ended after {got} of {size} bytes; run the command again to "
                                f"resume from {part.name}")
                break
            if size and got > size:
                part.unlink(missing_ok=True)
                problems.append(f"{url}: got {got} bytes, expected {size}; deleted the partial file")
                break
            actual = file_sha256(part)
            if sha256 and actual != sha256:
                part.unlink(missing_ok=True)
                if resumed:
                    continue  # the old .part may not have been a prefix of this file: start over
                problems.append(f"{url}: SHA-256 mismatch (expected {sha256}, got {actual}); deleted the download")
                break
            _chmod_like_umask(part)
            os.replace(part, dest)
            return actual
    if problems and all(": cannot connect" in p for p in problems):
        raise DownloadError(f"cannot reach any download address for {dest.name} (no network?). Download it on "
                            "another machine and install it here with 'obs-faceswap models import ID FILE'.\n  "
                            + "\n  ".join(problems))
    raise DownloadError(f"download of {dest.name} failed:\n  " + "\n  ".join(problems))


def download_model(
    model_id: str,
    *,
    accept_licence: bool = False,
    force: bool = False,
    progress: bool = True,
    timeout: float = 30.0,
    out: TextIO | None = None,
    interactive: bool | None = None,
    ask: Callable[[str], str] = input,
) -> Path:
    """Install a manifest model: licence, download, size + SHA-256 check, atomic rename.

    An installed file whose hash checks out is kept (``force`` downloads again). With no
    published hash the first download's hash is recorded in the lock file, with a warning.
    """
    out = out or sys.stderr
    entry = get_entry(model_id)
    dest = model_path(entry)
    if entry.embedded or not entry.downloadable:
        if is_installed(entry.id):
            return dest
        raise ModelError(f"{entry.id} cannot be downloaded: {how_to_install(entry)}")
    expected, source = expected_sha256(entry)
    if not force and is_installed(entry.id):
        if is_verified(entry) or (expected and file_sha256(dest) == expected):
            if not is_verified(entry):
                mark_verified(entry, dest, expected)
            print(f"{entry.id}: already installed and verified ({dest})", file=out)
            return dest
        print(f"{entry.id}: installed file does not match its SHA-256; downloading it again", file=out)
    confirm_licence(entry, accept_licence, out=out, interactive=interactive, ask=ask)
    actual = fetch(entry.urls, dest, sha256=expected, size=entry.size, timeout=timeout, progress=progress,
                   label=entry.id)
    if not expected:
        record_hash(entry, actual, dest.stat().st_size, "download")
        print(f"warning: {entry.id} has no published hash; recorded sha256 {actual} in "
              f"{models_dir() / 'models.lock.json'} (later downloads must match it)", file=out)
    elif source == "lock":
        print(f"{entry.id}: matches the hash recorded earlier in the lock file", file=out)
    mark_verified(entry, dest, actual)
    print(f"{entry.id}: installed {dest}", file=out)
    return dest


def _check_loads_as(entry: ModelEntry, path: Path, shown: Path) -> None:
    """Refuse a file that is not an ONNX model with the I/O of ``entry``'s family (or, for a torch
    checkpoint family, that its own loader refuses)."""
    if entry.family == "openvoice_converter":
        from obs_faceswap.voice.openvoice import load_converter

        try:
            load_converter(path, "cpu")
        except ModelError as exc:
            raise ModelError(f"{shown} cannot be imported as {entry.id}: {exc}. Nothing was installed.") from None
        return
    inputs, outputs = family_signature(entry.family)
    try:
        create_session(path, "cpu", threads=1, expect_inputs=inputs, expect_outputs=outputs, family=entry.family)
    except ModelSignatureError as exc:
        detail = str(exc).split(": ", 1)[-1]  # "expected ...; the file has ..."
        raise ModelError(f"{shown} cannot be imported as {entry.id}: it is not a {entry.family} model "
                         f"({detail}). Nothing was installed.") from None
    except ModelError:
        raise ModelError(f"{shown} cannot be imported as {entry.id}: it is not a valid ONNX model (corrupt, "
                         "truncated, or another kind of file). Nothing was installed.") from None


def _chmod_like_umask(path: Path) -> None:
    """Temp files are created 0600; an installed model gets the mode a new file normally has."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def import_model(model_id: str, source: str | os.PathLike[str], *, out: TextIO | None = None) -> Path:
    """Copy a file the user already has into the models dir, refusing one whose hash or size is wrong."""
    out = out or sys.stderr
    entry = get_entry(model_id)
    src = Path(source).expanduser()
    if entry.embedded:
        raise ModelError(f"{entry.id} is embedded (ships with obs-faceswap); there is nothing to import")
    if not src.is_file():
        raise ModelError(f"cannot import {entry.id}: no such file {src}")
    got_size = src.stat().st_size
    if entry.size and got_size != entry.size:
        raise ModelError(f"{src} is not {entry.id}: it has {got_size} bytes, expected {entry.size}. "
                         "Nothing was installed.")
    expected, _ = expected_sha256(entry)
    dest = model_path(entry)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.file}.", suffix=".import", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as f, open(src, "rb") as s:
                shutil.copyfileobj(s, f, CHUNK)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if exc.filename == str(src):
                raise
            raise ModelError(f"cannot write to {dest.parent}: {exc.strerror or exc}; free some space and import "
                             "again. Nothing was installed.") from None
        actual = file_sha256(tmp)
        if expected and actual != expected:
            raise ModelError(f"{src} is not {entry.id}: SHA-256 {actual} does not match the expected {expected}. "
                             "Nothing was installed.")
        if not expected:  # nothing pins the bytes: at least it must load as a model of the right family
            _check_loads_as(entry, tmp, src)
        _chmod_like_umask(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    print(licence_notice(entry), file=out)
    if not expected and not entry.user_supplied:
        record_hash(entry, actual, got_size, f"import:{src.name}")
        print(f"warning: {entry.id} has no published hash; recorded sha256 {actual} from {src.name}", file=out)
    mark_verified(entry, dest, actual)
    print(f"{entry.id}: installed {dest}", file=out)
    return dest
