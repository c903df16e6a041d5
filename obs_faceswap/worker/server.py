"""The worker's control loop: one process serving every channel of one client.

The main thread reads control messages, sends stats and heartbeats once per second, and
watches the client: it exits when the control connection ends or the parent process is gone.
Each channel runs in its own thread (numpy, OpenCV and ONNX Runtime release the GIL).
Segments belong to the client, which unlinks them; only when the client died without saying
goodbye does the worker unlink them, so nothing is left in /dev/shm.
"""

from __future__ import annotations

import argparse
import errno
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
from obs_faceswap.worker.channel_workers import AudioWorker, VideoWorker

EXIT_OK, EXIT_CONNECT, EXIT_PROTOCOL = 0, 3, 4
MAX_CHANNELS = 64  # per client: far more filters than one OBS has; bounds threads, fds and segments
CHANNEL_KINDS = ("video", "audio")
STATS_ERROR_CHARS = 2000  # a channel's last_error as sent in stats (the full text went in its error message)
REVIVE_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

log_failure = ""  # why the worker log could not be written (e.g. a full disk), once it could not


def _process_started() -> float:
    """When this process started, on the ``time.monotonic()`` clock (Linux: from /proc, so the
    interpreter's own start-up counts; elsewhere: when this module was imported)."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.monotonic() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic()


PROCESS_STARTED = _process_started()
connected_at = PROCESS_STARTED  # set when the handshake is done
was_spare = False  # started as a warm spare (then PROCESS_STARTED is when it was promoted)


def log(msg: str) -> None:
    """One line in the worker log (the client points stderr at it). Never raises: a full disk or a
    closed stderr must not kill a channel thread or the worker; the first failure is remembered
    and reported to the client over the control connection."""
    global log_failure
    try:
        print(f"{time.strftime('%H:%M:%S')} obs-faceswap worker[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)
    except (OSError, ValueError) as exc:
        if not log_failure:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            log_failure = f"the worker log cannot be written ({reason})" + (
                ": the disk is full" if getattr(exc, "errno", None) == errno.ENOSPC else "")


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
        self._opened: dict[int, tuple[str, str, str, list[str]]] = {}  # id -> kind, shm, processor, wake paths
        self._deaths: dict[int, tuple[int, float]] = {}  # id -> revivals so far, when the next one may run
        self._log_failure_sent = False
        self._ready_logged: set[int] = set()

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
                    self.revive_dead_channels(now)
                    self.log_ready_channels()
                    self.send_stats()
                    self.send({"type": "heartbeat", "t": now})
                    if log_failure and not self._log_failure_sent:
                        self._log_failure_sent = True
                        self.send({"type": "error", "message": log_failure, "fatal": False})
        finally:
            self.close_all()
        return code

    def handle(self, msg: dict[str, Any]) -> str:
        """Act on one control message. Whatever an authenticated but malformed message holds
        (wrong types, absurd numbers), it gets an error reply and the worker keeps serving."""
        kind = msg["type"]
        try:
            if kind == "open_channel":
                self.open_channel(msg)
            elif kind == "close_channel":
                cid = control.channel_id(msg.get("channel"))
                ch = self.channels.pop(cid, None)
                self._opened.pop(cid, None)
                self._deaths.pop(cid, None)
                if ch is not None:
                    ch.stop()
            elif kind == "settings":
                cid = control.channel_id(msg.get("channel"))
                settings = msg.get("settings") or {}
                if not isinstance(settings, dict):
                    raise TypeError("settings must be a JSON object")
                ch = self.channels.get(cid)
                if ch is None:
                    raise KeyError(f"no channel {cid}")
                if not ch.thread.is_alive() and not ch.stop_flag:
                    ch = self._revive(cid, ch)  # a settings change revives a channel whose thread died
                ch.update(dict(settings), gen=msg.get("gen"))
            elif kind == "shutdown":
                return "shutdown"
            elif kind in ("heartbeat", "hello", "stats", "log"):
                pass
            elif kind == "error":
                log(f"client error: {str(msg.get('message'))[:STATS_ERROR_CHARS]}")
        except Exception as exc:  # noqa: BLE001 - a bad message must never end the worker
            cid = msg.get("channel")
            self.send({"type": "error", "channel": cid if isinstance(cid, int) and not isinstance(cid, bool) else None,
                       "fatal": False, "message": f"bad {kind} message: {str(exc)[:STATS_ERROR_CHARS]}"})
        return ""

    def open_channel(self, msg: dict[str, Any]) -> None:
        cid = control.channel_id(msg.get("channel"))
        name = msg["shm"]
        kind = msg.get("kind", "video")
        if not isinstance(name, str):
            raise TypeError("shm must be a segment name")
        if kind not in CHANNEL_KINDS:  # validated before anything existing is touched
            raise ValueError(f"unknown channel kind {str(kind)[:40]!r} (video or audio)")
        settings = msg.get("settings") or {}
        if not isinstance(settings, dict):
            raise TypeError("settings must be a JSON object")
        processor = str(msg.get("processor") or ("face" if kind == "video" else "voice"))
        wake_paths = self._wake_paths(msg.get("wake"))
        ch = self.channels.get(cid)
        if ch is not None and ch.kind == kind:
            self.known_segments.add(name)
            self._opened[cid] = (kind, name, processor, wake_paths)
            if not ch.thread.is_alive() and not ch.stop_flag:
                ch = self._revive(cid, ch)
            if isinstance(ch, VideoWorker):
                ch.remap(name)
            ch.update(settings, processor, gen=msg.get("gen"))
            return
        if ch is None and len(self.channels) >= MAX_CHANNELS:
            raise ValueError(f"cannot open channel {cid}: this worker already serves {MAX_CHANNELS} channels "
                             "(the most one client may open)")
        new = self._new_channel(cid, kind, name, dict(settings), processor, wake_paths)
        gen = msg.get("gen")
        if isinstance(gen, int) and not isinstance(gen, bool):
            new.gen_received = gen & 0xFFFFFFFF
        if ch is not None:
            self.channels.pop(cid).stop()
        self.known_segments.add(name)
        self._opened[cid] = (kind, name, processor, wake_paths)
        self._deaths.pop(cid, None)
        self.channels[cid] = new
        new.start()
        log(f"channel {cid} opened: {kind}, processor {processor}")

    def _new_channel(self, cid: int, kind: str, name: str, settings: dict[str, Any], processor: str,
                     wake_paths: list[str]) -> VideoWorker | AudioWorker:
        cls = VideoWorker if kind == "video" else AudioWorker
        try:
            return cls(cid, name, settings, processor, self.wake, self.report, wake_paths)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot open channel {cid}: {exc}") from None

    def _wake_paths(self, paths: Any) -> list[str]:
        """The channel's wake-up FIFOs, only if both lie in the client's own socket folder (the
        channel then opens them as FIFOs only, without following links); otherwise none, and
        wake-ups ride on the control connection."""
        if not isinstance(paths, list) or len(paths) != 2 or not all(isinstance(p, str) for p in paths):
            return []
        folder = os.path.dirname(self.address) if self.address else ""
        if not folder or any(os.path.realpath(os.path.dirname(os.path.abspath(p))) != os.path.realpath(folder)
                             for p in paths):
            return []
        return list(paths)

    # -- channels whose thread died -------------------------------------------------------------
    def _revive(self, cid: int, dead: VideoWorker | AudioWorker) -> VideoWorker | AudioWorker:
        """A fresh thread (and fresh segment views) for a channel whose thread died, with its
        current settings; on failure the dead one stays and the error is reported."""
        kind, name, processor, wake_paths = self._opened.get(cid, (dead.kind, "", dead.processor_name, []))
        revivals, _ = self._deaths.get(cid, (0, 0.0))
        self._deaths[cid] = (revivals + 1, time.monotonic()
                             + REVIVE_BACKOFF_S[min(revivals, len(REVIVE_BACKOFF_S) - 1)])
        dead.stop(0.1)
        try:
            new = self._new_channel(cid, kind, name, dict(dead.settings), processor, wake_paths)
        except ValueError as exc:
            self.report(cid, f"channel restart failed: {exc}")
            return dead
        new.gen_received = dead.gen_received
        self.channels[cid] = new
        new.start()
        log(f"channel {cid} restarted after its thread stopped ({dead.last_error or 'no reason given'})")
        return new

    def revive_dead_channels(self, now: float) -> None:
        for cid, ch in list(self.channels.items()):
            if ch.thread.is_alive() or ch.stop_flag or not ch.thread.ident:
                continue
            _, not_before = self._deaths.get(cid, (0, 0.0))
            if now >= not_before:
                self._revive(cid, ch)

    # -- stats -------------------------------------------------------------------------------
    def log_ready_channels(self) -> None:
        """Once per channel, where its start-up time went (also sent to the client's log): what a
        restart after a crash costs before the picture is swapped again."""
        for cid, ch in list(self.channels.items()):
            if cid in self._ready_logged or ch.first_frame_at is None:
                continue
            self._ready_logged.add(cid)
            base = PROCESS_STARTED
            spare = was_spare
            text = (f"channel {cid} ready {ch.first_frame_at - base:.2f} s after the worker was started "
                    f"({'a warm spare, from its promotion' if spare else 'a new process'}): "
                    f"{'key to connection' if spare else 'interpreter and imports'} {connected_at - base:.2f} s, "
                    "channel opened at "
                    f"{ch.opened_at - base:.2f} s, processor built in {ch.build_s or 0.0:.2f} s, first frame "
                    f"done at {ch.first_frame_at - base:.2f} s")
            log(text)
            self.send({"type": "log", "message": text})

    def _channel_stats(self, ch: VideoWorker | AudioWorker) -> dict[str, Any]:
        try:
            st = ch.stats() if ch.thread.is_alive() or not ch.thread.ident else {}
        except Exception as exc:  # noqa: BLE001 - a broken channel must not end the stats of all
            st = {"last_error": f"stats failed: {exc}"}
        if not st:
            st = {"kind": ch.kind, "processor": ch.processor_name, "passing_through": True,
                  "last_error": ch.last_error or "channel stopped", "settings_version": ch.settings_version}
        if isinstance(st.get("last_error"), str) and len(st["last_error"]) > STATS_ERROR_CHARS:
            st["last_error"] = st["last_error"][:STATS_ERROR_CHARS] + "…"
        return st

    def send_stats(self) -> None:
        """Stats of every channel, in as many messages as the size limit needs (the client merges
        them by channel id), so one channel with a huge entry never silences the others."""
        budget = control.MAX_MESSAGE // 2
        batch: dict[str, Any] = {}
        size = 0
        gpu = _gpu_memory() if any(ch.kind == "video" for ch in self.channels.values()) else None
        for cid, ch in list(self.channels.items()):
            st = self._channel_stats(ch)
            if gpu and st.get("kind") == "video":
                st.update(gpu)  # gpu_memory_used_mb / gpu_memory_total_mb: the models share one GPU
            n = len(control.encode(st))
            if n > budget:
                log(f"channel {cid}: stats of {n} bytes left out (over {budget})")
                st = {k: st[k] for k in ("kind", "processor", "passing_through", "last_error", "settings_version")
                      if k in st}
                n = len(control.encode(st))
            if batch and size + n > budget:
                self.send({"type": "stats", "channels": batch})
                batch, size = {}, 0
            batch[str(cid)] = st
            size += n + 16
        self.send({"type": "stats", "channels": batch})

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


def _preload() -> None:
    """Import what the face and voice channels need (a warm spare does it while it waits)."""
    import importlib

    for name in ("cv2", "onnxruntime", "obs_faceswap.vision.pipeline", "obs_faceswap.voice.engine"):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported when a channel needs it, as without a spare
            log(f"warm spare: {name} not imported ({exc})")


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
    ap.add_argument("--spare", action="store_true",
                    help="a warm spare: import the engines first, then wait for the authkey")
    args = ap.parse_args(argv)
    global PROCESS_STARTED, was_spare
    was_spare = bool(args.spare)
    if args.spare:
        _preload()
    authkey = _read_authkey()
    if args.spare:  # its start-up is counted from its promotion: the time a crash actually costs
        PROCESS_STARTED = time.monotonic()
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
    global connected_at
    connected_at = time.monotonic()
    log(f"connected (protocol {obs_faceswap.PROTOCOL_VERSION}) {connected_at - PROCESS_STARTED:.2f} s after "
        "the process started")
    return Server(conn, args.parent_pid, address=args.address).run()


def _gpu_memory() -> dict[str, float] | None:
    """GPU 0's used/total memory (MiB) for the stats; None without an NVIDIA GPU or the gpu extra."""
    from obs_faceswap.models.device import gpu_memory

    return gpu_memory()
