"""Shared-memory segments with unguessable names, mode 0600, and no resource tracker.

``multiprocessing.shared_memory.SharedMemory`` on Python < 3.13 registers every segment it
creates *or attaches* with a resource tracker, which (a) unlinks a segment the other process
still uses when the attaching process exits and (b) is itself a helper process started with
``sys.executable`` -- inside OBS that is the OBS binary. So on POSIX this module opens segments
through ``_posixshmem`` + ``mmap`` directly and never touches the tracker; on Windows (no tracker,
segments vanish with their last handle) it uses ``SharedMemory``.

Ownership: the process that creates a segment unlinks it; when that process is gone, the
survivor that knows the name unlinks it (``unlink_name``).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import secrets
import struct
from typing import Self

NAME_PREFIX = "ofs_"
_POSIX = os.name == "posix"

if _POSIX:
    import _posixshmem  # type: ignore[import-not-found]


class SharedMemoryFull(OSError):
    """No room for a new segment: the shared-memory file system (``/dev/shm``) is full or too small."""


def _reserve(fd: int, size: int) -> None:
    """Take the segment's memory now (``posix_fallocate``): a sparse segment on a full or small
    ``/dev/shm`` maps fine and then kills the process with SIGBUS at the first write to a page
    without room. Raises ``SharedMemoryFull`` when the room is not there."""
    if not hasattr(os, "posix_fallocate"):  # macOS: no such call (and no /dev/shm size limit)
        return
    while True:
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except InterruptedError:
            continue
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):  # a file system without fallocate
                return
            raise SharedMemoryFull(
                exc.errno, f"no room for {size / 2**20:.1f} MiB of shared memory ({exc.strerror}): /dev/shm "
                "is full or too small; free it or make it bigger (Docker: --shm-size=1g)") from None


def random_name() -> str:
    """A fresh segment name: prefix + 96 random bits (fits macOS' 31-character limit)."""
    return NAME_PREFIX + secrets.token_hex(12)


class Segment:
    """One mapped shared-memory segment. ``buf`` is a writable memoryview; ``address`` its C address."""

    def __init__(self, name: str, size: int, *, create: bool) -> None:
        if size <= 0 and create:
            raise ValueError("segment size must be positive")
        self.name = name
        self.created = create
        self._win = None
        if _POSIX:
            flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
            fd = _posixshmem.shm_open("/" + name, flags, mode=0o600)
            try:
                if create:
                    os.ftruncate(fd, size)
                    _reserve(fd, size)
                else:
                    size = os.fstat(fd).st_size
                self._mmap = mmap.mmap(fd, size)
            except BaseException:
                os.close(fd)
                if create:
                    _posixshmem.shm_unlink("/" + name)
                raise
            os.close(fd)
        else:  # Windows: SharedMemory does not use a resource tracker there
            from multiprocessing import shared_memory

            self._win = shared_memory.SharedMemory(name=name, create=create, size=size if create else 0)
            self._mmap = self._win._mmap  # type: ignore[attr-defined]
            size = self._win.size
        self.size = size
        self.buf = memoryview(self._mmap)
        anchor = ctypes.c_char.from_buffer(self._mmap)
        self.address = ctypes.addressof(anchor)
        del anchor  # drop the buffer export so close() can unmap

    @classmethod
    def create(cls, size: int) -> Segment:
        for _ in range(8):
            try:
                return cls(random_name(), size, create=True)
            except FileExistsError:
                continue
        raise FileExistsError("could not find a free shared-memory name")

    @classmethod
    def attach(cls, name: str) -> Segment:
        if not name.startswith(NAME_PREFIX) or not name[len(NAME_PREFIX):].isalnum():
            raise ValueError(f"not an obs-faceswap segment name: {name!r}")
        return cls(name, 0, create=False)

    def close(self) -> None:
        """Unmap. If views into the segment are still alive the mapping stays until they are freed."""
        buf, self.buf = self.buf, memoryview(b"")
        try:
            buf.release()
            self._mmap.close()
        except BufferError:
            pass
        if self._win is not None:
            try:
                self._win.close()
            except BufferError:
                pass

    def unlink(self) -> None:
        unlink_name(self.name)
        if self._win is not None:
            try:
                self._win.unlink()
            except Exception:
                pass


def unlink_name(name: str) -> bool:
    """Remove a segment by name (POSIX); True when it existed. A no-op on Windows."""
    if not _POSIX:
        return False
    try:
        _posixshmem.shm_unlink("/" + name)
        return True
    except FileNotFoundError:
        return False


def segment_exists(name: str) -> bool:
    """True when a segment of that name exists (POSIX; on Linux it is a file in /dev/shm)."""
    if not _POSIX:
        return False
    try:
        fd = _posixshmem.shm_open("/" + name, os.O_RDONLY, mode=0o600)
    except FileNotFoundError:
        return False
    os.close(fd)
    return True


__all__ = ["NAME_PREFIX", "Segment", "SharedMemoryFull", "random_name", "segment_exists", "unlink_name"]


def align(n: int, a: int = 64) -> int:
    """``n`` rounded up to a multiple of ``a`` (cache-line alignment of layout blocks)."""
    return (n + a - 1) // a * a


class SegmentView:
    """A typed view of one segment: the ``client`` creates it, the ``worker`` attaches to it by name."""

    # where each side's "I am asleep, wake me" flag (u32) lives in the layout's header
    worker_waiting_offset: int = 0
    client_waiting_offset: int = 0

    def __init__(self, segment: Segment, *, role: str) -> None:
        if role not in ("client", "worker"):
            raise ValueError("role must be 'client' or 'worker'")
        self.segment = segment
        self.role = role

    @classmethod
    def attach(cls, name: str) -> Self:
        return cls(Segment.attach(name), role="worker")

    @property
    def name(self) -> str:
        return self.segment.name

    def close(self) -> None:
        self.segment.close()

    def set_waiting(self, who: str, value: bool) -> None:
        off = self.worker_waiting_offset if who == "worker" else self.client_waiting_offset
        struct.pack_into("<I", self.segment.buf, off, 1 if value else 0)

    def take_waiting(self, who: str) -> bool:
        """True (and clears the flag) when ``who`` is asleep waiting: the caller should wake it."""
        off = self.worker_waiting_offset if who == "worker" else self.client_waiting_offset
        if struct.unpack_from("<I", self.segment.buf, off)[0]:
            struct.pack_into("<I", self.segment.buf, off, 0)
            return True
        return False
