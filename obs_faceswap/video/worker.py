"""Swap one segment: decode it, detect/track and swap its frames in batches, encode it.

A ``SegmentWorker`` loads the models once (the face pipeline from the settings) and then runs
any number of segments, of any number of videos: in this process (``--jobs 1``), in each process
of the local pool (``--jobs N``) and in each Ray actor (``--ray``). Detection and swapping are the
face pipeline's own stages (``build_detector``, ``FacePipeline.swap_faces``); this module adds the
per-segment tracker and the ffmpeg pipes: the decoder's pipe is read on one thread and the
encoder's fed from another, so ffmpeg works while the frames are swapped.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from obs_faceswap.errors import FaceSwapError, ImageReadError
from obs_faceswap.media import encoder_failed
from obs_faceswap.video.codec import EncodeOptions, decode_command, encode_command
from obs_faceswap.video.probe import StreamInfo
from obs_faceswap.video.segments import Segment
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.types import FaceDetector, Frame

BATCH = 4  # frames read from the decoder, detected and swapped together (and progress reported)


@dataclass(frozen=True)
class SegmentResult:
    index: int
    frames: int  # frames written
    swapped: int  # frames in which a face was swapped
    error: str = ""  # the first per-frame error (those frames were written unchanged)
    seconds: float = 0.0
    # where the time went, seconds (``STAGES``): wall time waiting for the decoder, in detection, in the
    # swap, waiting for the encoder; CPU time of this process (all its threads) and of its ffmpeg processes
    timings: dict[str, float] = field(default_factory=dict)
    pid: int = 0  # the process that ran it
    sessions: int = 0  # ONNX Runtime sessions that process had created when it finished (the loads)
    pipelines: int = 0  # face pipelines that process had built when it finished (one per worker)
    pieces: tuple[str, ...] = ()  # the files written, one per tracking chunk, in order, next to ``dest``


STAGES = ("decode_wait", "detect", "swap", "encode_wait", "python_cpu", "ffmpeg_cpu")


@dataclass(frozen=True)
class WorkerReady:
    """What a worker process reports once its models are loaded."""

    pid: int
    notes: list[str]  # the lines a user should see (source photo, where the models ran)
    sessions: int  # ONNX Runtime sessions this process has created (the models load once per process)


class SegmentWorker:
    """The face pipeline plus what a segment needs; ``track`` follows faces between detections.

    ``threads``: this process's share of the cores (ONNX Runtime's and OpenCV's thread pools), for a
    process that shares the machine with others of its kind; 0 leaves both libraries their default
    (every core)."""

    def __init__(self, options: FaceOptions, *, track: bool = True, threads: int = 0) -> None:
        from obs_faceswap.vision.pipeline import FacePipeline
        from obs_faceswap.vision.pipeline_build import build_detector

        if threads:
            import cv2

            from obs_faceswap.models.session import set_default_threads

            cv2.setNumThreads(threads)
            set_default_threads(threads)
        self.options = options
        self.detector: FaceDetector = build_detector(options)
        # built once (models, the prepared source photo) and reused by every segment this worker runs
        self.pipeline = FacePipeline(options, detector=self.detector)
        self.track = track
        # stack the model runs of a batch's frames (``detect_many``, --no-track only) where that pays: on a
        # GPU it saves a launch per frame; on the CPU it measured 2-4 % more CPU time (bench video's
        # detect_* rows, one thread), so there the frames are detected one by one (docs/video.md)
        used = getattr(self.detector, "providers", None) or ["CPUExecutionProvider"]
        self.stack_frames = any(p != "CPUExecutionProvider" for p in used)

    def ready(self) -> WorkerReady:
        from obs_faceswap.commands.swap_image import pipeline_notes
        from obs_faceswap.models.session import sessions_created

        return WorkerReady(os.getpid(), pipeline_notes(self.pipeline), sessions_created())

    def tracker(self, fps: float) -> FaceDetector:
        """A fresh detector for one segment: tracked (detect every N frames, smoothed) or plain."""
        if not self.track:
            return self.detector
        from obs_faceswap.vision.tracking import TrackedDetector

        return TrackedDetector(self.detector, detect_every=self.options.detect_every,
                               smoothing=self.options.smoothing, fps=fps)

    def run(self, stream: StreamInfo, seg: Segment, dest: Path, opts: EncodeOptions, output: Path,
            progress: Callable[[int], None] | None = None) -> SegmentResult:
        """Write ``seg`` of ``stream`` swapped into pieces next to ``dest`` (``SegmentResult.pieces``, to
        join in order); ``progress(frames written so far)``.

        Tracking restarts at the segment's first frame and at each of its ``restarts`` with a fresh
        tracker, warmed up on the frames before (kept from the decoder, not decoded again), the
        pipeline forgets what earlier frames left (``FacePipeline.forget_frames``) and a new encoder
        starts a new piece: every tracking chunk is swapped and encoded as if it were a segment of its
        own, whichever worker runs which, so its frames and its encoded bits are the same."""
        t0, cpu0, kids0 = time.perf_counter(), time.process_time(), _children_cpu()
        fps = float(stream.info.fps)
        restarts = dict(seg.restarts)
        recent: deque[Frame] = deque(maxlen=max(restarts.values(), default=0))  # warm-up frames of the next chunk
        detector = self.tracker(fps)
        self.pipeline.forget_frames()
        swapped, written, error = 0, 0, ""
        spent = dict.fromkeys(STAGES, 0.0)
        with _Pieces(lambda piece: encode_command(stream, piece, opts, output), dest, seg.name) as enc:
            batches = _prefetch(_batches(stream, seg, opts), depth=2)
            try:
                while True:
                    t = time.perf_counter()
                    item = next(batches, None)
                    spent["decode_wait"] += time.perf_counter() - t
                    if item is None:
                        break
                    for index, part in _split(*item, restarts):
                        if index in restarts:  # a new tracking chunk: as a segment starting here would
                            t = time.perf_counter()
                            detector = self.tracker(fps)
                            warm = restarts[index]
                            for frame in list(recent)[len(recent) - warm:] if warm else []:
                                _detect(detector, frame)
                            spent["detect"] += time.perf_counter() - t
                            self.pipeline.forget_frames()
                            enc.next_piece()
                        t = time.perf_counter()
                        found = _detect_batch(detector, part, self.stack_frames)  # tracking runs on warm-up too
                        spent["detect"] += time.perf_counter() - t
                        for i, (frame, (faces, det_err)) in enumerate(zip(part, found, strict=True)):
                            if recent.maxlen:
                                recent.append(frame)
                            if index + i < seg.start:
                                continue  # warm-up: only the tracker needed it
                            t = time.perf_counter()
                            out, face_count, err = (_swap(self.pipeline, frame, faces) if faces
                                                    else (frame, 0, det_err))
                            spent["swap"] += time.perf_counter() - t
                            swapped += face_count > 0
                            error = error or err
                            t = time.perf_counter()
                            enc.write(out)
                            spent["encode_wait"] += time.perf_counter() - t
                            written += 1
                    if progress is not None:
                        progress(written)
            finally:
                batches.close()  # the decoder stops at once on an error
        last = seg.end == stream.frames  # a file's last packets may not decode (a cut-off recording): keep the rest
        if written != seg.frames and not (last and written > 0):
            raise ImageReadError(f"{stream.path.name}: {seg.name}: the decoder gave {written} of {seg.frames} "
                                 "frames (a damaged file?)")
        spent["python_cpu"] = time.process_time() - cpu0
        spent["ffmpeg_cpu"] = _children_cpu() - kids0
        from obs_faceswap.models.session import sessions_created
        from obs_faceswap.vision.pipeline import pipelines_built

        return SegmentResult(seg.index, written, swapped, error, time.perf_counter() - t0, spent, os.getpid(),
                             sessions_created(), pipelines_built(), tuple(p.name for p in enc.paths))


def _split(index: int, batch: list[Frame], restarts: dict[int, int]) -> Iterator[tuple[int, list[Frame]]]:
    """``batch`` (its first frame is ``index``) cut before every tracking restart inside it."""
    cuts = [i - index for i in sorted(restarts) if index < i < index + len(batch)]
    for a, b in zip([0, *cuts], [*cuts, len(batch)], strict=True):
        yield index + a, batch[a:b]


def _children_cpu() -> float:
    """CPU seconds of this process's finished child processes (its ffmpeg decoders and encoders)."""
    try:
        import resource
    except ImportError:  # not on Unix: not measured
        return 0.0
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


class _Encoder:
    """ffmpeg encoding raw frames from its stdin, fed by a thread: a frame (2.7 MB at 720p) is many times
    a pipe's buffer, so a plain write waits until ffmpeg has taken all of it; the thread lets the swap of
    the next frames run meanwhile (ffmpeg encodes on the other cores)."""

    def __init__(self, cmd: list[str], name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.queue: queue.Queue[Frame | None] = queue.Queue(maxsize=BATCH)
        self.broken = False
        self.thread = threading.Thread(target=self._feed, name=f"encode {name}", daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        assert self.proc.stdin is not None
        while (frame := self.queue.get()) is not None:
            if self.broken:
                continue  # keep taking frames so the swap never blocks on a full queue
            try:
                self.proc.stdin.write(memoryview(frame).cast("B"))
            except (BrokenPipeError, ValueError, OSError):
                self.broken = True

    def _why(self) -> str:
        self.proc.wait()
        why = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
        return "; ".join(why.splitlines())[:400] or "the encoder stopped"

    def write(self, frame: Frame) -> None:
        if self.broken:  # the encoder stopped (e.g. no NVENC device): say why
            raise FaceSwapError(f"ffmpeg could not encode {self.name}: {self._why()}")
        self.queue.put(np.ascontiguousarray(frame, dtype=np.uint8))

    def __enter__(self) -> _Encoder:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        proc = self.proc
        if kind is not None:  # stop the encoder first: the thread's writes then fail at once
            proc.kill()
        self.queue.put(None)
        self.thread.join()
        try:
            if kind is None:
                if self.broken:
                    raise FaceSwapError(f"ffmpeg could not encode {self.name}: {self._why()}")
                assert proc.stdin is not None
                proc.stdin.close()
                err_text = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                if encoder_failed(proc.wait(), err_text):  # ffmpeg 5 exits 0 on a full disk
                    raise FaceSwapError(f"ffmpeg could not encode {self.name}: {err_text.strip()[-300:]}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stderr):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass


class _Pieces:
    """A segment's encoders, one per tracking chunk (``next_piece``): a chunk is encoded on its own,
    so its bits do not depend on the segment it was in. The finished piece's encoder flushes in the
    background while the next chunk runs; its errors are raised when the segment ends."""

    def __init__(self, command: Callable[[Path], list[str]], dest: Path, name: str) -> None:
        self.command, self.dest, self.name = command, dest, name
        self.paths: list[Path] = []
        self.closing: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self.current: _Encoder | None = None
        self.next_piece()

    def next_piece(self) -> None:
        path = self.dest.with_name(f"{self.dest.stem}.{len(self.paths):03d}{self.dest.suffix}")
        old, self.current = self.current, _Encoder(self.command(path), self.name)
        self.paths.append(path)
        if old is not None:
            thread = threading.Thread(target=self._finish, args=(old,), name=f"finish {self.name}", daemon=True)
            thread.start()
            self.closing.append(thread)

    def _finish(self, enc: _Encoder) -> None:
        try:
            enc.__exit__(None)
        except BaseException as exc:  # raised by __exit__, in the segment's own thread
            self.errors.append(exc)

    def write(self, frame: Frame) -> None:
        assert self.current is not None
        self.current.write(frame)

    def __enter__(self) -> _Pieces:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            assert self.current is not None
            self.current.__exit__(kind)
        finally:
            for thread in self.closing:
                thread.join()
        if kind is None and self.errors:
            raise self.errors[0]


_T = TypeVar("_T")


def _prefetch(items: Iterator[_T], depth: int) -> Iterator[_T]:
    """``items`` produced by a thread up to ``depth`` ahead (the decoder's pipe is read while frames
    are swapped); its errors are raised here, and stopping early closes ``items`` in that thread."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
            else:
                q.put(("end", None))
        except BaseException as exc:  # handed to the consumer
            q.put(("error", exc))
        finally:
            if stop.is_set():
                close = getattr(items, "close", None)
                if close is not None:
                    close()

    thread = threading.Thread(target=produce, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


def _detect_batch(detector: FaceDetector, batch: list[Frame], stack: bool) -> list[tuple[list[Any], str]]:
    """Faces of every frame of ``batch``: with ``stack``, in one go where the detector can
    (``detect_many``: the models' runs stacked across frames), else frame by frame (always for a
    tracker: each frame starts from the last)."""
    many = getattr(detector, "detect_many", None) if stack else None
    if many is not None:
        try:
            return [(faces, "") for faces in many(batch)]
        except Exception:  # which frame failed and why: frame by frame (detection keeps no state here)
            pass
    return [_detect(detector, frame) for frame in batch]


def _swap(pipeline: Any, frame: Frame, faces: list[Any]) -> tuple[Frame, int, str]:
    """The pipeline's swap stages on already detected faces; a failing frame is written unchanged."""
    stats: dict[str, Any] = {}
    try:
        out = pipeline.swap_faces(frame, faces, stats)
    except Exception as exc:  # one bad frame must not lose the video: keep it, say why once
        return frame, 0, str(exc) if isinstance(exc, FaceSwapError) else f"{type(exc).__name__}: {exc}"
    return out, int(stats.get("faces", 0)), ""


def _detect(detector: FaceDetector, frame: Frame) -> tuple[list[Any], str]:
    try:
        return detector.detect(frame), ""
    except Exception as exc:  # as FacePipeline.process: the frame stays as it is, the reason is kept
        return [], str(exc) if isinstance(exc, FaceSwapError) else f"{type(exc).__name__}: {exc}"


def _batches(stream: StreamInfo, seg: Segment, opts: EncodeOptions) -> Iterator[tuple[int, list[Frame]]]:
    """(index of the first frame, frames) for the segment's frames, warm-up included, ``BATCH`` at a time."""
    info = stream.info
    size = info.width * info.height * 3
    dec = subprocess.Popen(decode_command(stream, seg, opts), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    assert dec.stdout is not None
    index = seg.warm_start
    try:
        while index < seg.end:
            batch: list[Frame] = []
            while len(batch) < BATCH and index + len(batch) < seg.end:
                buf = dec.stdout.read(size)
                if len(buf) < size:
                    break
                batch.append(np.frombuffer(buf, np.uint8).reshape(info.height, info.width, 3).copy())
            if not batch:
                break
            yield index, batch
            index += len(batch)
            if len(batch) < BATCH and index < seg.end:
                break
    finally:
        dec.stdout.close()
        if dec.poll() is None:
            dec.kill()
        err = dec.stderr.read().decode(errors="replace") if dec.stderr else ""
        dec.wait()
        if dec.stderr:
            dec.stderr.close()
    if index < seg.end and err.strip():
        raise ImageReadError(f"ffmpeg could not decode {stream.path.name}: {err.strip().splitlines()[-1]}")
