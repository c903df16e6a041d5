"""The worker's control loop: one process serving every channel of one client.

The main thread reads control messages, sends stats and heartbeats once per second, and
watches the client: it exits when the control connection ends or the parent process is gone.
Each channel runs in its own thread (numpy, OpenCV and ONNX Runtime release the GIL).
Segments belong to the client, which unlinks them; only when the client died without saying
goodbye does the worker unlink them, so nothing is left in /dev/shm.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection
from typing import Any

import obs_faceswap
from obs_faceswap.errors import ProtocolError
from obs_faceswap.ipc import control, shm
from obs_faceswap.worker.channels import AudioWorker, VideoWorker

EXIT_OK, EXIT_CONNECT, EXIT_PROTOCOL = 0, 3, 4


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} obs-faceswap worker[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


class Server:
    def __init__(self, conn: Connection, parent_pid: int | None, *, stats_interval: float = 1.0,
                 address: str = "") -> None:
        self.conn = conn
        self.address = address
        self.parent_pid = parent_pid
        self.stats_interval = stats_interval
        self.channels: dict[int, VideoWorker | AudioWorker] = {}
        self.send_lock = threading.Lock()
        self.client_gone = False
        self.known_segments: set[str] = set()

    # -- sending (any thread) -----------------------------------------------------------------
    def send(self, msg: dict[str, Any]) -> None:
        try:
            with self.send_lock:
                control.send(self.conn, msg)
        except (OSError, ValueError, ProtocolError):
            pass

    def wake(self, cid: int) -> None:
        try:
            with self.send_lock:
                self.conn.send_bytes(control.wake_message(cid))
        except (OSError, ValueError):
            pass

    def report(self, cid: int, text: str) -> None:
        log(f"channel {cid}: {text}")
        self.send({"type": "error", "channel": cid, "message": text, "fatal": False})

    # -- client liveness ----------------------------------------------------------------------
    def parent_alive(self) -> bool:
        if self.parent_pid is None or os.name != "posix":
            return True
        return os.getppid() == self.parent_pid

    def _parent_died(self, grace: float = 1.0) -> bool:
        """After EOF: the kernel closes a dead client's sockets before it re-parents us; wait a little."""
        if os.name != "posix" or self.parent_pid is None:
            return True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not self.parent_alive():
                return True
            time.sleep(0.02)
        return False

    # -- loop ---------------------------------------------------------------------------------
    def run(self) -> int:
        code = EXIT_OK
        last_stats = time.monotonic()
        try:
            while True:
                if not self.parent_alive():
                    log("the client process is gone; exiting")
                    self.client_gone = True
                    break
                try:
                    ready = self.conn.poll(0.25)
                except (OSError, ValueError):
                    ready = True
                if ready:
                    try:
                        msg = control.receive(self.conn)
                    except EOFError:
                        self.client_gone = self._parent_died()
                        log("control connection closed" + ("; the client died" if self.client_gone else ""))
                        break
                    except ProtocolError as exc:
                        log(f"protocol error: {exc}")
                        if self.conn.closed:  # oversized: the stream cannot be trusted any more
                            code = EXIT_PROTOCOL
                            break
                        self.send({"type": "error", "message": str(exc), "fatal": False})
                        continue
                    if isinstance(msg, int):
                        ch = self.channels.get(msg)
                        if ch is not None:
                            ch.poke()
                        continue
                    if self.handle(msg) == "shutdown":
                        log("shutdown requested")
                        break
                now = time.monotonic()
                if now - last_stats >= self.stats_interval:
                    last_stats = now
                    self.send({"type": "stats", "channels": {str(k): c.stats() for k, c in self.channels.items()}})
                    self.send({"type": "heartbeat", "t": now})
        finally:
            self.close_all()
        return code

    def handle(self, msg: dict[str, Any]) -> str:
        kind = msg["type"]
        try:
            if kind == "open_channel":
                self.open_channel(msg)
            elif kind == "close_channel":
                ch = self.channels.pop(int(msg["channel"]), None)
                if ch is not None:
                    ch.stop()
            elif kind == "settings":
                ch = self.channels.get(int(msg["channel"]))
                if ch is None:
                    raise KeyError(f"no channel {msg['channel']}")
                ch.update(dict(msg.get("settings") or {}))
            elif kind == "shutdown":
                return "shutdown"
            elif kind in ("heartbeat", "hello", "stats", "log"):
                pass
            elif kind == "error":
                log(f"client error: {msg.get('message')}")
        except (KeyError, ValueError, TypeError) as exc:
            self.send({"type": "error", "channel": msg.get("channel"), "fatal": False,
                       "message": f"bad {kind} message: {exc}"})
        return ""

    def open_channel(self, msg: dict[str, Any]) -> None:
        cid = int(msg["channel"])
        name = str(msg["shm"])
        kind = str(msg.get("kind", "video"))
        settings = dict(msg.get("settings") or {})
        processor = str(msg.get("processor") or ("face" if kind == "video" else "voice"))
        wake_paths = [str(p) for p in msg.get("wake") or []]
        self.known_segments.add(name)
        ch = self.channels.get(cid)
        if ch is not None and ch.kind == kind:
            if isinstance(ch, VideoWorker):
                ch.remap(name)
            ch.update(settings, processor)
            return
        if ch is not None:
            self.channels.pop(cid).stop()
        try:
            if kind == "video":
                new: VideoWorker | AudioWorker = VideoWorker(cid, name, settings, processor, self.wake, self.report,
                                                             wake_paths)
            elif kind == "audio":
                new = AudioWorker(cid, name, settings, processor, self.wake, self.report, wake_paths)
            else:
                raise ValueError(f"unknown channel kind {kind!r}")
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot open channel {cid}: {exc}") from None
        self.channels[cid] = new
        new.start()
        log(f"channel {cid} opened: {kind}, processor {processor}")

    def close_all(self) -> None:
        for ch in list(self.channels.values()):
            names = ch.segment_names
            ch.stop()
            self.known_segments.update(names)
        self.channels.clear()
        if self.client_gone:  # the creator died: we are the last one who knows these names
            removed = [n for n in self.known_segments if shm.unlink_name(n)]
            if removed:
                log(f"unlinked {len(removed)} segment(s) of the dead client")
            self._remove_socket_dir()
        try:
            self.conn.close()
        except OSError:
            pass


    def _remove_socket_dir(self) -> None:
        """The dead client's private socket directory (``obs-faceswap-*``): remove the socket and it."""
        if os.name != "posix" or not self.address:
            return
        d = os.path.dirname(self.address)
        if not os.path.basename(d).startswith("obs-faceswap-"):
            return
        shutil.rmtree(d, ignore_errors=True)  # socket, wake-up FIFOs, log


def _read_authkey() -> bytes:
    line = sys.stdin.readline().strip() if sys.stdin is not None else ""
    key = line or os.environ.get(control.AUTHKEY_ENV, "")
    try:
        return bytes.fromhex(key)
    except ValueError:
        return b""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m obs_faceswap.worker",
                                 description="obs-faceswap worker: started by the OBS script or the live mode, "
                                             "reads the authkey (hex) from stdin.")
    ap.add_argument("--address", required=True, help="control socket / named pipe of the client")
    ap.add_argument("--family", default="AF_PIPE" if sys.platform == "win32" else "AF_UNIX")
    ap.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    ap.add_argument("--hello-timeout", type=float, default=10.0)
    args = ap.parse_args(argv)
    authkey = _read_authkey()
    if not authkey:
        log("no authkey on stdin; refusing to start")
        return EXIT_CONNECT
    try:
        conn = Client(args.address, args.family, authkey=authkey)
    except AuthenticationError:
        log("the client refused our authkey (wrong key); exiting")
        return EXIT_CONNECT
    except (OSError, EOFError) as exc:
        log(f"cannot connect to the client at {args.address}: {exc}")
        return EXIT_CONNECT
    hello = {"type": "hello", "protocol": obs_faceswap.PROTOCOL_VERSION, "pid": os.getpid(),
             "version": obs_faceswap.__version__}
    try:
        control.send(conn, hello)
        if not conn.poll(args.hello_timeout):
            log("the client sent no hello; exiting")
            return EXIT_PROTOCOL
        msg = control.receive(conn)
        if not isinstance(msg, dict):
            raise ProtocolError("the client sent a wake-up before hello")
        control.check_hello(msg, obs_faceswap.PROTOCOL_VERSION, "client")
    except ProtocolError as exc:
        log(str(exc))
        try:
            control.send(conn, {"type": "error", "message": str(exc), "fatal": True})
        except (OSError, ValueError):
            pass
        conn.close()
        return EXIT_PROTOCOL
    except (OSError, EOFError) as exc:
        log(f"the client went away during the handshake: {exc}")
        return EXIT_CONNECT
    log(f"connected (protocol {obs_faceswap.PROTOCOL_VERSION})")
    return Server(conn, args.parent_pid, address=args.address).run()
