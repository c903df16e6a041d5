"""Run segments as Ray tasks: one actor per CPU (or per GPU) loads the models once and swaps
whole segments; the driver loads no model (it waits for every actor to report its models loaded,
so a bad setting fails before any video) and joins the returned segment files.

What travels to the workers: the face options, the source/reference photos (as bytes, written to a
temporary folder on each worker), the segment plan and, when a worker's machine does not have the
input at the same path, the input file itself through Ray's object store (put once, fetched once
per worker). Models travel by name: a model id loads from each node's model folder (download it
there, same SHA-256 pin), a model file path must exist on every node. Each segment comes back as
its encoded bytes.

A worker that dies (killed, out of memory, its node lost) is restarted by Ray and its segment is
retried (``max_restarts``/``max_task_retries``), so the job finishes; a segment that fails with a
user-facing error (a broken file) is not retried and ends the job with that error.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.settings import split_paths
from obs_faceswap.video.codec import EncodeOptions, segment_suffix
from obs_faceswap.video.probe import StreamInfo
from obs_faceswap.video.segments import Segment
from obs_faceswap.video.worker import SegmentResult, SegmentWorker, WorkerReady
from obs_faceswap.vision.options import FaceOptions

RETRIES = 4  # restarts of a dead worker, and retries of the segment it was running
INSTALL_HINT = ("--ray needs Ray: pip install 'obs-faceswap[ray]' (or pip install 'ray>=2.9' into this environment)"
                "; see docs/video.md")
_PHOTO_KEYS = ("source_image", "reference_image")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise FaceSwapError(INSTALL_HINT) from None
    return ray


def pack_photos(options: FaceOptions) -> dict[str, list[tuple[str, bytes]]]:
    """The photos the options name, as (file name, bytes), per setting."""
    return {key: [(Path(p).name, Path(p).read_bytes()) for p in split_paths(str(getattr(options, key) or ""))]
            for key in _PHOTO_KEYS}


def unpack_photos(options: FaceOptions, photos: Mapping[str, list[tuple[str, bytes]]],
                  folder: Path) -> FaceOptions:
    """``options`` with the photo paths pointing at copies written into ``folder``."""
    out: dict[str, Any] = {}
    for key, files in photos.items():
        paths = []
        for i, (name, data) in enumerate(files):
            path = folder / f"{key}-{i}-{name}"
            path.write_bytes(data)
            paths.append(str(path))
        out[key] = ";".join(paths)
    return options.with_changes(out)


def _signal_handlers() -> dict[int, Any]:
    import signal

    names = ("SIGTERM", "SIGINT", "SIGHUP")
    return {sig: signal.getsignal(sig) for sig in (getattr(signal, n, None) for n in names) if sig is not None}


class _DeferredSignals:
    """While Ray's calls run, SIGTERM/SIGHUP are only noted: Ray turns any exception a Python signal
    handler raises inside its calls into KeyboardInterrupt, which would lose which signal it was.
    ``check()`` then runs the command's own handler (it raises its own exception) between calls."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> _DeferredSignals:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig, handler in _signal_handlers().items():
                if callable(handler) and sig != signal.SIGINT:  # Ctrl-C's KeyboardInterrupt is right as it is
                    self.saved[sig] = handler
                    signal.signal(sig, lambda signum, _frame: self.pending.append(signum))
        return self

    def check(self) -> None:
        if self.pending:
            signum = self.pending[0]
            handler = self.saved[signum]
            self.__exit__()
            handler(signum, None)

    def __exit__(self, *_exc: object) -> None:
        _restore(self.saved)
        self.saved = {}


def _restore(saved: Mapping[int, Any]) -> None:
    import signal

    for sig, handler in saved.items():
        if handler is not None and signal.getsignal(sig) is not handler:
            try:
                signal.signal(sig, handler)
            except ValueError:  # not the main thread: nothing was installed there either
                pass


_PREFIX = "obs-faceswap-ray-"


def _remove_orphans() -> None:
    """Remove the temporary folders of this node's workers that were killed (SIGKILL, out of memory)
    and so could not remove their own; a folder's name carries its worker's process id."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        try:
            pid = int(folder.name[len(_PREFIX):].split("-", 1)[0])
            os.kill(pid, 0)
        except ValueError:
            continue  # not one of ours
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            continue  # another user's live process


class SegmentActor:
    """A Ray actor: the models of one ``SegmentWorker``, loaded once, then any number of segments."""

    def __init__(self, options: FaceOptions, photos: Mapping[str, list[tuple[str, bytes]]],
                 track: bool) -> None:
        _remove_orphans()
        self._folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        atexit.register(shutil.rmtree, self._folder, True)  # a graceful exit of the worker process
        self._inputs: dict[str, Path] = {}
        self.worker: SegmentWorker | None = None
        self.failure: Exception | None = None  # raised by ready() and run(): Ray would retry a failing __init__
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        try:
            self.worker = SegmentWorker(unpack_photos(options, photos, self._folder), track=track,
                                        threads=max(1, int(cpus)))
        except Exception as exc:
            self.failure = exc

    def ready(self) -> WorkerReady:
        """The worker's report once its models are loaded; the reason when they could not be."""
        if self.worker is None:
            assert self.failure is not None
            raise self.failure
        return self.worker.ready()

    def close(self) -> None:
        """Remove this worker's copies (photos, shipped inputs) before the actor is killed."""
        shutil.rmtree(self._folder, ignore_errors=True)
        self._inputs = {}

    def pid(self) -> int:
        return os.getpid()

    def _input(self, stream: StreamInfo, shipped: list[Any]) -> StreamInfo:
        """The stream with a path this worker can read: the same path when its file is here, else
        the shipped copy (fetched from the object store once per input)."""
        p = stream.path
        if p.is_file() and p.stat().st_size == stream.size:
            return stream
        key = f"{p}:{stream.size}"
        if key not in self._inputs:
            if not shipped:
                raise FaceSwapError(f"{p} is not on this Ray node and was not shipped")
            import ray

            local = self._folder / f"input-{len(self._inputs)}{p.suffix}"
            local.write_bytes(ray.get(shipped[0]))
            self._inputs[key] = local
        from dataclasses import replace

        return replace(stream, path=self._inputs[key])

    def run(self, stream: StreamInfo, seg: Segment, opts: EncodeOptions, output: Path, shipped: list[Any],
            progress: Any) -> tuple[list[bytes], SegmentResult]:
        progress.start.remote(seg.index, os.getpid())
        if self.worker is None:
            return self.ready()  # type: ignore[return-value]  # raises why the models did not load
        here = self._input(stream, shipped)
        dest = self._folder / f"segment-{seg.index:05d}{segment_suffix(output)}"
        try:
            result = self.worker.run(here, seg, dest, opts, output,
                                     progress=lambda n: progress.set.remote(seg.index, n))
            return [(self._folder / name).read_bytes() for name in result.pieces], result
        finally:
            for piece in self._folder.glob(f"{dest.stem}.*"):
                piece.unlink(missing_ok=True)


class ProgressBoard:
    """A Ray actor holding the frames written so far per segment (a retried segment starts again at 0)
    and how many times each segment was started (more than once: it was retried)."""

    def __init__(self) -> None:
        self.done: dict[int, int] = {}
        self.attempts: dict[int, int] = {}
        self.pids: dict[int, int] = {}

    def start(self, index: int, pid: int) -> None:
        self.attempts[index] = self.attempts.get(index, 0) + 1
        self.done[index] = 0
        self.pids[index] = pid

    def pid(self, index: int) -> int | None:
        return self.pids.get(index)

    def set(self, index: int, frames: int) -> None:
        self.done[index] = frames

    def get(self) -> tuple[dict[int, int], dict[int, int]]:
        return dict(self.done), dict(self.attempts)


class RayRunner:
    """Segments as tasks on a Ray cluster (``address``: None starts a private local one, 'auto' joins
    the one started on this machine with ``ray start``, or a head's address)."""

    def __init__(self, options: FaceOptions, *, address: str | None = None, track: bool = True,
                 actors: int | None = None) -> None:
        ray = import_ray()
        self.ray = ray
        self.options = options
        self.track = track
        self._owns = not ray.is_initialized()
        if self._owns:
            import logging

            saved = _signal_handlers()
            try:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                         include_dashboard=False, configure_logging=True)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise FaceSwapError(f"cannot reach the Ray cluster at {address}: {exc}") from None
            finally:
                _restore(saved)  # ray.init replaces SIGTERM's handler; the command's own must stay
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        self.gpus = gpus
        count = actors or (gpus if gpus else max(1, int(resources.get("CPU", 1))))
        # max_concurrency 2: close() and pid queries answer while a segment runs (one segment at a time)
        actor_cls = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_restarts=RETRIES,
                               max_task_retries=RETRIES, max_concurrency=2)(SegmentActor)
        photos = pack_photos(options)
        self.actors = [actor_cls.remote(options, photos, track) for _ in range(count)]
        # the models load in the workers only; a bad setting or model fails here, before any video
        self.ready: list[WorkerReady] = []
        try:
            self.ready = [self._get(a.ready.remote(), "loading the models") for a in self.actors]
        except BaseException:
            self.close(abort=True)
            raise
        self._board_cls = ray.remote(num_cpus=0)(ProgressBoard)
        self._shipped: dict[str, Any] = {}
        self.on_progress: Callable[[int, int], None] | None = None  # extra hook (tests kill workers from it)
        self.attempts: dict[int, int] = {}  # segment -> times started, for the last video
        self._busy: dict[int, Any] = {}  # segment -> the actor running it
        self._board: Any = None

    def notes(self) -> list[str]:
        """Where the models ran and which source photo was used (as the first worker reported)."""
        return self.ready[0].notes if self.ready else []

    @property
    def workers(self) -> int:
        """One per actor: one per CPU (or GPU) of the cluster."""
        return len(self.actors)

    def _get(self, ref: Any, what: str) -> Any:
        """``ray.get(ref)`` with a worker's failure as this project's one-line error."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.as_instanceof_cause()
            if isinstance(cause, FaceSwapError):
                raise FaceSwapError(str(cause).splitlines()[-1] if str(cause) else what) from None
            raise FaceSwapError(f"{what} failed on the Ray cluster: {exc}") from None
        except ray.exceptions.RayActorError as exc:
            raise FaceSwapError(f"{what}: its Ray worker died {RETRIES + 1} times ({exc})") from None

    def actor_pids(self) -> list[int]:
        return list(self.ray.get([a.pid.remote() for a in self.actors]))

    def pid_running(self, segment: int) -> int | None:
        """The process id of the worker running ``segment`` now (None when it is not running)."""
        if segment not in self._busy or self._board is None:
            return None
        pid = self.ray.get(self._board.pid.remote(segment))  # the board answers while the worker is busy
        return None if pid is None else int(pid)

    def _ship(self, stream: StreamInfo) -> list[Any]:
        """The input in the object store when some node may lack it (a cluster of several nodes)."""
        if len(self.ray.nodes()) <= 1:
            return []
        key = str(stream.path)
        if key not in self._shipped:
            self._shipped = {key: self.ray.put(stream.path.read_bytes())}  # one input at a time
        return [self._shipped[key]]

    def run(self, stream: StreamInfo, segments: Sequence[Segment], folder: Path, opts: EncodeOptions,
            output: Path, progress: Callable[[int, int], None]) -> list[SegmentResult]:
        ray = self.ray
        board = self._board = self._board_cls.remote()
        shipped = self._ship(stream)
        todo = list(segments)
        idle = list(self.actors)
        running: dict[Any, tuple[Any, Segment]] = {}
        results: dict[int, SegmentResult] = {}
        seen: dict[int, int] = {}
        deferred = _DeferredSignals()
        try:
            deferred.__enter__()
            while todo or running:
                deferred.check()
                while todo and idle:
                    actor, seg = idle.pop(0), todo.pop(0)
                    running[actor.run.remote(stream, seg, opts, output, shipped, board)] = (actor, seg)
                    self._busy[seg.index] = actor
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.3)
                for ref in ready:
                    actor, seg = running.pop(ref)
                    self._busy.pop(seg.index, None)
                    data, result = self._get(ref, seg.name)
                    for name, piece in zip(result.pieces, data, strict=True):  # the names the worker gave
                        (folder / name).write_bytes(piece)
                    results[seg.index] = result
                    idle.append(actor)
                board_done, self.attempts = ray.get(board.get.remote())
                for index, n in board_done.items():
                    if seen.get(index) != n and index not in results:
                        seen[index] = n
                        progress(index, n)
                        if self.on_progress is not None:
                            self.on_progress(index, n)
                for index, result in results.items():
                    if seen.get(index) != result.frames:
                        seen[index] = result.frames
                        progress(index, result.frames)
            deferred.check()
        finally:  # on an error or a signal the runner's close() kills the actors, and their tasks with them
            deferred.__exit__()
            ray.kill(board)
            self._board = None
            self._busy.clear()
        return [results[s.index] for s in segments]

    def close(self, *, abort: bool = False) -> None:
        """Each worker removes its temporary copies (a few seconds at most; a busy or dead one is
        skipped), then the actors are killed and a private cluster is stopped."""
        ray = self.ray
        if self.actors:
            ray.wait([a.close.remote() for a in self.actors], num_returns=len(self.actors), timeout=5)
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()
