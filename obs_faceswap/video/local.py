"""Run segments on this machine: in this process (``--jobs 1``) or on a pool of N processes.

Each pool process loads the models once (``SegmentWorker``; the parent, which only hands out
segments, loads none) and takes whole segments from a queue; each segment is decoded, swapped and encoded by its process, so decoding and encoding
spread over the cores too. Progress and results come back over a second queue. A process that
cannot start (or dies) ends the run with a clear error instead of being restarted in a loop.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.video.codec import EncodeOptions, segment_suffix
from obs_faceswap.video.probe import StreamInfo
from obs_faceswap.video.segments import Segment
from obs_faceswap.video.worker import SegmentResult, SegmentWorker, WorkerReady
from obs_faceswap.vision.options import FaceOptions

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
Progress = Callable[[int, int], None]  # (segment index, frames of it written so far)

def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _serve(options: FaceOptions, track: bool, threads: int, tasks: Any, results: Any) -> None:
    """A pool process: load the models once, say so, then run segments until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it stops the pool)
    try:
        worker = SegmentWorker(options, track=track, threads=threads)
    except Exception as exc:  # a FaceSwapError is sent back whole (its one-line message); others as text
        results.put(("failed", -1, exc if isinstance(exc, FaceSwapError) else f"{type(exc).__name__}: {exc}"))
        return
    results.put(("ready", -1, worker.ready()))
    while (task := tasks.get()) is not None:
        stream, seg, dest, opts, output = task
        try:
            result = worker.run(stream, seg, dest, opts, output,
                                progress=lambda n, i=seg.index: results.put(("progress", i, n)))
        except Exception as exc:
            results.put(("failed", seg.index, exc))
        else:
            results.put(("done", seg.index, result))


class LocalRunner:
    """Segments on ``jobs`` processes of this machine; the models load once per process that swaps:
    this one for ``--jobs 1``, else each pool process (and not this one)."""

    def __init__(self, options: FaceOptions, *, jobs: int, track: bool = True) -> None:
        self.jobs = max(1, int(jobs))
        self.track = track
        self.options = options
        self.worker: SegmentWorker | None = None
        self.ready: list[WorkerReady] = []  # one per process that loaded the models
        self._procs: list[Any] = []
        self._tasks: Any = None
        self._results: Any = None
        if self.jobs == 1:
            self.worker = SegmentWorker(options, track=track)
            self.ready = [self.worker.ready()]
        else:
            self._start()  # every process loads the models now: a bad setting or model fails before any video

    def notes(self) -> list[str]:
        """Where the models ran and which source photo was used (as the first worker reported)."""
        return self.ready[0].notes if self.ready else []

    @property
    def workers(self) -> int:
        return self.jobs

    def _start(self) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that holds ONNX Runtime sessions and threads
        self._tasks, self._results = ctx.Queue(), ctx.Queue()
        threads = max(1, default_jobs() // self.jobs)
        self._procs = [ctx.Process(target=_serve, daemon=True, name=f"obs-faceswap segment worker {i + 1}",
                                   args=(self.options, self.track, threads, self._tasks, self._results))
                       for i in range(self.jobs)]
        # one process per core: the math libraries' own thread pools (OpenBLAS spins while it waits) would
        # only fight each other; Ray sets the same for its workers
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update({k: str(threads) for k in _THREAD_VARS})
        try:
            for p in self._procs:
                p.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        try:
            while len(self.ready) < self.jobs:
                kind, _, payload = self._get()
                if kind != "ready":
                    raise payload if isinstance(payload, BaseException) else FaceSwapError(
                        f"a segment worker could not start: {payload}")
                self.ready.append(payload)
        except BaseException:
            self.close(abort=True)
            raise

    def _get(self) -> tuple[str, int, Any]:
        """The next message of the pool; a clear error when one of its processes died."""
        while True:
            try:
                return self._results.get(timeout=0.5)  # type: ignore[no-any-return]
            except queue.Empty:
                dead = [p for p in self._procs if not p.is_alive()]
                if dead:
                    raise FaceSwapError("a segment worker process ended unexpectedly "
                                        f"(exit code {dead[0].exitcode})") from None

    def run(self, stream: StreamInfo, segments: Sequence[Segment], folder: Path, opts: EncodeOptions,
            output: Path, progress: Progress) -> list[SegmentResult]:
        """Every segment written to ``folder`` (its pieces next to ``f"{index:05d}{suffix}"``); results in
        segment order."""
        suffix = segment_suffix(output)
        if self.worker is not None:
            return [self.worker.run(stream, seg, folder / f"{seg.index:05d}{suffix}", opts, output,
                                    progress=lambda n, i=seg.index: progress(i, n)) for seg in segments]
        for seg in segments:
            self._tasks.put((stream, seg, folder / f"{seg.index:05d}{suffix}", opts, output))
        done: dict[int, SegmentResult] = {}
        while len(done) < len(segments):
            kind, index, payload = self._get()
            if kind == "progress":
                progress(index, payload)
            elif kind == "done":
                done[index] = payload
            elif isinstance(payload, BaseException):
                raise payload
            else:
                raise FaceSwapError(f"a segment worker failed: {payload}")
        return [done[seg.index] for seg in segments]

    def close(self, *, abort: bool = False) -> None:
        """Stop the pool: at once (``abort``: an error or a signal) or after its queued work."""
        for p in self._procs:
            if abort:
                p.terminate()
            else:
                self._tasks.put(None)
        for p in self._procs:
            p.join(timeout=None if not abort else 5)
            if p.is_alive():
                p.kill()
                p.join()
        self._procs = []
        for q in (self._tasks, self._results):
            if q is not None:
                if abort:
                    q.cancel_join_thread()  # unsent tasks must not hold up the exit
                q.close()
        self._tasks = self._results = None
