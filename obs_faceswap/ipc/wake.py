"""Direct wake-ups between the two processes through named FIFOs (POSIX; standard library only).

A channel has two FIFOs in the client's private 0700 directory: one the worker sleeps on
("input waiting"), one the client sleeps on ("result ready"). Waking costs one non-blocking
``write`` of one byte, sleeping one ``poll`` (no descriptor-number limit, unlike ``select``); no
thread of either process is in the way. On
Windows (or if a FIFO cannot be opened) wake-ups ride on the control connection instead.
Both ends open the FIFO read-write and non-blocking, so opening never waits for the peer and a
full FIFO (a sleeper that stopped draining) just drops the byte.
"""

from __future__ import annotations

import math
import os
import select
import stat

AVAILABLE = os.name == "posix" and hasattr(os, "mkfifo")


class WakePipe:
    """One FIFO end. ``folder``: the peer's (worker's) check that ``path`` lies directly in the
    client's private directory; a symlink, a regular file or a device there is refused, so a
    forged path never gets bytes written into it."""

    def __init__(self, path: str, *, create: bool = False, folder: str | None = None) -> None:
        if not AVAILABLE:
            raise OSError("named FIFOs are not available on this platform")
        if folder is not None and os.path.realpath(os.path.dirname(os.path.abspath(path))) != os.path.realpath(folder):
            raise OSError(f"wake-up path {path!r} is not in the client's folder")
        if create:
            os.mkfifo(path, 0o600)
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(f"wake-up path {path!r} is not a FIFO")
        self.fd: int | None = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def notify(self) -> None:
        fd = self.fd
        if fd is None:
            return
        try:
            os.write(fd, b"\1")
        except (BlockingIOError, OSError):
            pass

    def wait(self, timeout: float) -> bool:
        """Sleep until notified or ``timeout`` s; True when notified. Drains pending notifications."""
        fd = self.fd
        if fd is None:
            return False
        try:
            ready = self._poll.poll(max(0, math.ceil(timeout * 1000)))
        except (OSError, ValueError):
            return False
        if not ready:
            return False
        try:
            os.read(fd, 4096)
        except (BlockingIOError, OSError):
            pass
        return True

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def unlink(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass
