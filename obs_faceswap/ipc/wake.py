"""Direct wake-ups between the two processes through named FIFOs (POSIX; standard library only).

A channel has two FIFOs in the client's private 0700 directory: one the worker sleeps on
("input waiting"), one the client sleeps on ("result ready"). Waking costs one non-blocking
``write`` of one byte, sleeping one ``select``; no thread of either process is in the way. On
Windows (or if a FIFO cannot be opened) wake-ups ride on the control connection instead.
Both ends open the FIFO read-write and non-blocking, so opening never waits for the peer and a
full FIFO (a sleeper that stopped draining) just drops the byte.
"""

from __future__ import annotations

import os
import select

AVAILABLE = os.name == "posix" and hasattr(os, "mkfifo")


class WakePipe:
    def __init__(self, path: str, *, create: bool = False) -> None:
        if not AVAILABLE:
            raise OSError("named FIFOs are not available on this platform")
        if create:
            os.mkfifo(path, 0o600)
        self.path = path
        self.fd: int | None = os.open(path, os.O_RDWR | os.O_NONBLOCK)

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
            ready, _, _ = select.select([fd], [], [], timeout)
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
