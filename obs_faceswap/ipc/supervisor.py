"""Start, watch and restart the worker process (standard library only).

The worker is started with an explicit interpreter: ``[python, "-m", "obs_faceswap.worker",
"--address", ..., "--parent-pid", ...]`` (inside OBS ``sys.executable`` is the OBS binary, so
``multiprocessing`` spawn is never used). The authkey travels through the worker's stdin pipe,
never argv. One background thread accepts connections, one supervises: it waits for the worker's
hello without blocking the caller, notices a crash (exit), a hang (silence) or a protocol error,
and restarts with exponential back-off. A third thread is the only one that writes to the control
connection: every message (``post``), heartbeat and wake-up (``send_wake``) goes through its queue.
A worker that stops reading (hung, or stopped with SIGSTOP) fills the socket and blocks that thread
alone: the caller's per-frame path only puts into a queue, and the supervisor still notices the
silence and kills the worker, which frees the blocked sender.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener, answer_challenge, deliver_challenge
from pathlib import Path
from typing import Any

import obs_faceswap
from obs_faceswap.errors import ProtocolError
from obs_faceswap.ipc import control

LogFn = Callable[[str], None]
PACKAGE_ROOT = str(Path(obs_faceswap.__file__).resolve().parents[1])
HANDSHAKE_TIMEOUT_S = 5.0  # a peer that connects and says nothing is dropped after this
RAN_WELL_S = 10.0  # a worker that served this long before dying was not crash-looping
SPARE_DELAY_S = 5.0  # the warm spare starts this long after a worker connected (after its model loads)


def _abort(conn: Connection) -> None:
    """Wake a thread blocked reading ``conn`` (EOF) and release it: shut the socket down."""
    try:
        with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError, AttributeError):
        pass
    try:
        conn.close()
    except OSError:
        pass


def _default_log(msg: str) -> None:
    print(f"[obs-faceswap] {msg}", file=sys.stderr, flush=True)


class Supervisor:
    """Owns the listener, the worker process and its control connection."""

    def __init__(
        self,
        python: str,
        *,
        on_connected: Callable[[], None],
        on_message: Callable[[dict[str, Any] | int], None],
        on_lost: Callable[[str], None],
        log: LogFn | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 30.0,
        heartbeat_interval: float = 0.5,
        hang_timeout: float = 10.0,
        backoff: tuple[float, float] = (0.2, 10.0),
        log_path: str | None = None,
        worker_args: tuple[str, ...] = (),
        warm_spare: bool = False,
    ) -> None:
        self.python = python
        self._log_fn = log or _default_log
        self.env = dict(env) if env is not None else None
        self.startup_timeout = startup_timeout
        self.heartbeat_interval = heartbeat_interval
        self.hang_timeout = hang_timeout
        self.backoff = backoff
        self.worker_args = worker_args
        # a second worker process started ahead of need: interpreter up and heavy modules imported,
        # waiting for the authkey on stdin; a crash then costs no interpreter start (see _take_worker)
        self.warm_spare = warm_spare
        self._spare: subprocess.Popen[bytes] | None = None
        self._on_connected, self._on_message, self._on_lost = on_connected, on_message, on_lost
        self._authkey = control.new_authkey()
        self._address, self._family, self._dir = control.new_address()
        self.log_path = log_path or os.path.join(self._dir or tempfile.gettempdir(),
                                                 "worker.log" if self._dir else "obs-faceswap-worker.log")
        self._listener: Listener | None = None
        self._accepted: queue.Queue[Connection] = queue.Queue()
        # (connection generation, message or wake-up channel id, event set once sent) | None = quit
        self._outbox: queue.Queue[tuple[int, dict[str, Any] | int, threading.Event | None] | None] = queue.Queue()
        self._gen = 0  # +1 per worker connection: queued items of an earlier one are dropped
        self._live = threading.Event()  # set once the current connection's channels are re-opened
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.connected = False
        self.state = "stopped"  # stopped | starting | running | restarting | failed
        self.status = "worker not started"
        self.restarts = 0
        self.last_exit: int | None = None
        self.worker_pid: int | None = None

    def log(self, msg: str) -> None:
        """Hand a line to the caller's logger; a failing logger must never stop supervision."""
        try:
            self._log_fn(msg)
        except Exception:
            pass

    # -- public -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        # no authkey on the listener itself: each connection is authenticated in its own thread with
        # a time limit (Listener.accept would run the challenge inline, with none)
        self._listener = Listener(self._address, self._family)
        self.state, self.status = "starting", "starting worker"
        for target, name in ((self._accept_loop, "obs-faceswap-accept"), (self._run, "obs-faceswap-supervisor"),
                             (self._send_loop, "obs-faceswap-sender")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the worker to shut down, wait briefly, kill it if needed, and remove the listener."""
        if self._stop.is_set():
            return
        self._stop.set()
        sent = threading.Event()
        if self.conn is not None and self.connected:  # the sender thread writes it (a closing
            self._outbox.put((self._gen, {"type": "shutdown"}, sent))  # connection tells the worker too)
            sent.wait(timeout)  # not written in time: the worker stopped reading; it gets killed
        proc = self.proc
        if proc is not None and self.conn is not None and not sent.is_set() and proc.poll() is None:
            proc.kill()  # it stopped reading (hung): killing it also frees the blocked sender thread
        threads = self._threads + [threading.Thread()] * (3 - len(self._threads))  # never started: dummies
        if threads[1].is_alive():
            threads[1].join(timeout)  # the supervisor thread notices _stop within ~20 ms
        if proc is not None:
            try:
                proc.wait(timeout if sent.is_set() else 0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if threads[1].is_alive():
            threads[1].join(timeout)
        self._outbox.put(None)
        if threads[2].is_alive():
            threads[2].join(timeout)
        if self._listener is not None:
            try:  # unblock accept(): connect to ourselves
                Client(self._address, self._family, authkey=self._authkey).close()
            except Exception:
                pass
        if threads[0].is_alive():
            threads[0].join(timeout)
        if self._listener is not None:
            self._listener.close()
        while not self._accepted.empty():
            try:
                self._accepted.get_nowait().close()
            except (queue.Empty, OSError):
                break
        self._drop_spare()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
        self.state, self.status, self.connected = "stopped", "worker stopped", False

    def post(self, msg: dict[str, Any]) -> None:
        """Queue a control message for the current worker; the sender thread sends it. Never blocks."""
        self._outbox.put((self._gen, msg, None))

    def drop_queued_messages(self) -> None:
        """Forget the control messages and wake-ups queued so far (a new connection gets each channel's
        full state instead); a queued stop or shutdown stays."""
        keep = []
        while True:
            try:
                item = self._outbox.get_nowait()
            except queue.Empty:
                break
            if item is None or item[2] is not None:  # quit / shutdown: not ours to drop
                keep.append(item)
        for item in keep:
            self._outbox.put(item)

    def send_wake(self, channel: int) -> bool:
        """Queue a wake-up for ``channel`` (the fallback where no wake FIFO exists, e.g. Windows).
        Never blocks and never touches the connection: the sender thread writes it."""
        if not self.connected:
            return False
        self._outbox.put((self._gen, channel, None))
        return True

    @property
    def wake_dir(self) -> str | None:
        """The private directory for wake-up FIFOs (None on Windows)."""
        return self._dir

    @property
    def authkey(self) -> bytes:
        return self._authkey

    @property
    def address(self) -> str:
        return self._address

    # -- threads ------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn = self._listener.accept()
            except OSError as exc:
                if self._stop.is_set():
                    return
                self.log(f"control connection failed: {exc}")
                time.sleep(0.05)
                continue
            if self._stop.is_set():
                conn.close()
                return
            threading.Thread(target=self._authenticate, args=(conn,), name="obs-faceswap-auth", daemon=True).start()

    def _authenticate(self, conn: Connection) -> None:
        """The authkey challenge both ways, bounded in time, so a silent or slow peer never keeps a
        restarted worker from connecting."""
        timer = threading.Timer(HANDSHAKE_TIMEOUT_S, _abort, (conn,))
        timer.daemon = True
        timer.start()
        try:
            deliver_challenge(conn, self._authkey)
            answer_challenge(conn, self._authkey)
        except AuthenticationError:
            self.log("refused a control connection with a wrong authkey")
            conn.close()
            return
        except (OSError, EOFError, ValueError) as exc:
            if not self._stop.is_set():
                self.log(f"control connection failed during the handshake: {exc or 'no answer in time'}")
            conn.close()
            return
        finally:
            timer.cancel()
        if self._stop.is_set():
            conn.close()
            return
        self._accepted.put(conn)

    def _send_loop(self) -> None:
        """The only writer of the control connection; blocks on a full socket without harm."""
        while True:
            item = self._outbox.get()
            if item is None:
                return
            gen, msg, done = item
            shutdown = done is not None
            # items of the connection being set up wait until its channels are re-opened
            while not shutdown and gen == self._gen and not self._live.wait(0.05):
                if self._stop.is_set():
                    break
            conn = self.conn
            try:
                if conn is None or gen != self._gen or not (shutdown or (self.connected and not self._stop.is_set())):
                    continue  # meant for a worker that is gone
                with self._send_lock:
                    if isinstance(msg, int):
                        conn.send_bytes(control.wake_message(msg))
                    else:
                        control.send(conn, msg)
            except ProtocolError as exc:
                self.log(str(exc))
            except (OSError, ValueError):
                pass
            finally:
                if done is not None:
                    done.set()

    def _take_worker(self) -> subprocess.Popen[bytes]:
        """The warm spare, handed the authkey now, when one is waiting; else a new process."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.poll() is None and spare.stdin is not None:
            try:
                spare.stdin.write(self._authkey.hex().encode("ascii") + b"\n")
                spare.stdin.close()
                return spare
            except OSError:
                self._kill(spare)
        return self._spawn()

    def _start_spare(self) -> None:
        if not self.warm_spare or self._stop.is_set() or (self._spare is not None and self._spare.poll() is None):
            return
        try:
            self._spare = self._spawn(hold_key=True)
        except OSError:
            self._spare = None

    def _drop_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            self._kill(spare)
            if spare.stdin is not None:
                try:
                    spare.stdin.close()
                except OSError:
                    pass

    def _spawn(self, hold_key: bool = False) -> subprocess.Popen[bytes]:
        env = dict(os.environ if self.env is None else self.env)
        env.pop("PYTHONHOME", None)  # OBS' embedded interpreter settings must not leak into the venv
        env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.pop(control.AUTHKEY_ENV, None)
        args = [self.python, "-m", "obs_faceswap.worker", "--address", self._address, "--family", self._family,
                "--parent-pid", str(os.getpid()), *self.worker_args, *(["--spare"] if hold_key else [])]
        try:
            logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        except OSError as exc:  # a full or read-only temp folder must not stop the worker
            self.log(f"cannot open the worker log {self.log_path} ({exc.strerror}); starting without one")
            logf = open(os.devnull, "ab")  # noqa: SIM115
        try:
            flags = subprocess.CREATE_NO_WINDOW if sys.platform == "win32" else 0  # type: ignore[attr-defined]
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=logf, stderr=logf, env=env,
                                    close_fds=True, creationflags=flags)
        finally:
            logf.close()
        assert proc.stdin is not None
        if hold_key:  # a warm spare: it imports its modules, then waits for the key (_take_worker)
            return proc
        try:
            proc.stdin.write(self._authkey.hex().encode("ascii") + b"\n")
            proc.stdin.close()
        except OSError:
            pass
        return proc

    def _log_tail(self, n: int = 6) -> str:
        try:
            lines = Path(self.log_path).read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def _handshake(self, proc: subprocess.Popen[bytes]) -> Connection:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._stop.is_set():
                raise ConnectionAbortedError("stopping")
            try:
                conn = self._accepted.get(timeout=0.05)
            except queue.Empty:
                code = proc.poll()
                if code is not None:
                    tail = self._log_tail()
                    raise ConnectionError(f"worker exited with code {code} during start-up"
                                          + (f": {tail}" if tail else "")) from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker did not connect within {self.startup_timeout:.0f} s") from None
                continue
            try:
                if not conn.poll(max(0.1, deadline - time.monotonic())):
                    raise TimeoutError("worker connected but sent no hello")
                msg = control.receive(conn)
                if not isinstance(msg, dict):
                    raise ProtocolError("worker sent a wake-up before hello")
                if msg.get("pid") != proc.pid:
                    conn.close()  # a stale worker from an earlier start: not ours
                    continue
                try:
                    control.check_hello(msg, obs_faceswap.PROTOCOL_VERSION, "worker")
                finally:  # tell the worker our version either way, so it can log the mismatch too
                    control.send(conn, {"type": "hello", "protocol": obs_faceswap.PROTOCOL_VERSION,
                                        "pid": os.getpid(), "version": obs_faceswap.__version__})
                return conn
            except BaseException:
                conn.close()
                raise

    def _kill(self, proc: subprocess.Popen[bytes]) -> int | None:
        if proc.poll() is None:
            proc.kill()
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            return None

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                reason = self._run_once()
            except Exception as exc:  # a bug or a failing callback: keep supervising
                reason = f"supervisor error: {exc!r}"
                self.connected = False
            if self._stop.is_set():
                break
            self.restarts += 1
            if time.monotonic() - started > RAN_WELL_S:
                attempt = 0
            fatal = reason.startswith("fatal:")
            # a worker that ran well and then died is replaced at once; a crash loop backs off
            delay = 30.0 if fatal else 0.0 if attempt == 0 else min(self.backoff[1],
                                                                    self.backoff[0] * (2 ** (attempt - 1)))
            attempt += 1
            self.state = "failed" if fatal else "restarting"
            self.status = f"{reason.removeprefix('fatal: ')}; restarting in {delay:.1f} s"
            self.log(f"worker: {self.status}")
            self._stop.wait(delay)

    def _run_once(self) -> str:
        self.state, self.status = "starting", "starting worker"
        try:
            proc = self._take_worker()
        except OSError as exc:
            return f"cannot start the worker with {self.python!r}: {exc}"
        self.proc = proc
        try:
            try:
                conn = self._handshake(proc)
            except ConnectionAbortedError:
                return "stopped"
            except ProtocolError as exc:
                return f"fatal: {exc}"
            except (ConnectionError, TimeoutError, EOFError, OSError) as exc:
                return str(exc)
            self._live.clear()
            self._gen += 1
            self.conn, self.worker_pid = conn, proc.pid
            self.connected = True
            self.state, self.status = "running", "worker running"
            self.log(f"worker started (pid {proc.pid})")
            try:
                self._on_connected()
                self._live.set()
                return self._serve(proc, conn, spare_at=time.monotonic() + SPARE_DELAY_S)
            finally:
                self._live.clear()
                self.connected = False
                if not self._stop.is_set():
                    self.last_exit = self._kill(proc)
                with self._send_lock:
                    conn.close()
                self.conn = None
        finally:
            if not self._stop.is_set():
                self.last_exit = self._kill(proc)
                self._on_lost("worker gone")

    def _serve(self, proc: subprocess.Popen[bytes], conn: Connection, spare_at: float = 0.0) -> str:
        last_heard = last_beat = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if spare_at and now >= spare_at:  # once the worker has loaded its models: not to slow it
                spare_at = 0.0
                self._start_spare()
            if now - last_beat >= self.heartbeat_interval:
                last_beat = now
                self.post({"type": "heartbeat", "t": now})
            try:
                ready = conn.poll(0.02)
            except (OSError, ValueError):
                ready = True
            while ready and not self._stop.is_set():
                try:
                    msg = control.receive(conn)
                except EOFError:
                    try:
                        return f"worker exited with code {proc.wait(1.0)}"
                    except subprocess.TimeoutExpired:
                        return f"worker closed the connection (killed, exit code {self._kill(proc)})"
                except ProtocolError as exc:
                    if "larger than" in str(exc):
                        return f"worker sent an oversized control message ({exc})"
                    self.log(f"ignored a bad message from the worker: {exc}")
                    msg = None
                last_heard = time.monotonic()
                if msg is not None:
                    if isinstance(msg, dict) and msg.get("type") == "error" and msg.get("fatal"):
                        self.log(f"worker error: {msg.get('message')}")
                    try:
                        self._on_message(msg)
                    except Exception as exc:  # never let a handler kill supervision
                        self.log(f"control handler failed: {exc!r}")
                try:
                    ready = conn.poll(0)
                except (OSError, ValueError):
                    break
            code = proc.poll()
            if code is not None:
                tail = self._log_tail(3)
                return f"worker exited with code {code}" + (f" ({tail})" if tail and code not in (0, -9) else "")
            if time.monotonic() - last_heard > self.hang_timeout:
                return f"worker stopped answering for {self.hang_timeout:.0f} s"
        return "stopped"
