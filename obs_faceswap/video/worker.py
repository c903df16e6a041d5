"""Swap one segment: decode it, detect/track and swap its frames in batches, encode it.

A ``SegmentWorker`` loads the models once (the face pipeline from the settings) and then runs
any number of segments, of any number of videos: in this process (``--jobs 1``), in each process
of the local pool (``--jobs N``) and in each Ray actor (``--ray``). Detection and swapping are the
face pipeline's own stages (``build_detector``, ``FacePipeline.swap_faces``); this module adds the
per-segment tracker and the ffmpeg pipes.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class SegmentWorker:
    """The face pipeline plus what a segment needs; ``track`` follows faces between detections."""

    def __init__(self, options: FaceOptions, *, track: bool = True) -> None:
        from obs_faceswap.vision.pipeline import FacePipeline
        from obs_faceswap.vision.pipeline_build import build_detector

        self.options = options
        self.detector: FaceDetector = build_detector(options)
        self.pipeline = FacePipeline(options, detector=self.detector)  # the mesh model loads once, shared
        self.track = track

    def tracker(self, fps: float) -> FaceDetector:
        """A fresh detector for one segment: tracked (detect every N frames, smoothed) or plain."""
        if not self.track:
            return self.detector
        from obs_faceswap.vision.tracking import TrackedDetector

        return TrackedDetector(self.detector, detect_every=self.options.detect_every,
                               smoothing=self.options.smoothing, fps=fps)

    def run(self, stream: StreamInfo, seg: Segment, dest: Path, opts: EncodeOptions, output: Path,
            progress: Callable[[int], None] | None = None) -> SegmentResult:
        """Write ``seg`` of ``stream`` swapped into ``dest``; ``progress(frames written so far)``."""
        from obs_faceswap.vision.pipeline import FacePipeline

        t0 = time.perf_counter()
        detector = self.tracker(float(stream.info.fps))
        # a fresh pipeline too (its models come from the session cache; ~40 ms for the source photo):
        # stages may keep per-frame state (the embedded swapper reuses the last frame's triangulation),
        # and a segment must not depend on which segments this process ran before
        pipeline = FacePipeline(self.options, detector=self.detector)
        swapped, written, error = 0, 0, ""
        enc = subprocess.Popen(encode_command(stream, dest, opts, output), stdin=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
        assert enc.stdin is not None
        try:
            for index, batch in _batches(stream, seg, opts):
                found = [_detect(detector, frame) for frame in batch]  # tracking runs on warm-up frames too
                for i, (frame, (faces, det_err)) in enumerate(zip(batch, found, strict=True)):
                    if index + i < seg.start:
                        continue  # warm-up: only the tracker needed it
                    out, face_count, err = _swap(pipeline, frame, faces) if faces else (frame, 0, det_err)
                    swapped += face_count > 0
                    error = error or err
                    try:
                        enc.stdin.write(np.ascontiguousarray(out, dtype=np.uint8).tobytes())
                    except BrokenPipeError:  # the encoder stopped (e.g. no NVENC device): say why
                        enc.wait()
                        why = enc.stderr.read().decode(errors="replace").strip() if enc.stderr else ""
                        raise FaceSwapError(f"ffmpeg could not encode {seg.name}: "
                                            f"{'; '.join(why.splitlines())[:400] or 'the encoder stopped'}") from None
                    written += 1
                if progress is not None:
                    progress(written)
            enc.stdin.close()
            err_text = enc.stderr.read().decode(errors="replace") if enc.stderr else ""
            if encoder_failed(enc.wait(), err_text):  # ffmpeg 5 exits 0 on a full disk
                raise FaceSwapError(f"ffmpeg could not encode {seg.name}: {err_text.strip()[-300:]}")
        finally:
            if enc.poll() is None:
                enc.kill()
                enc.wait()
            if enc.stderr:
                enc.stderr.close()
        last = seg.end == stream.frames  # a file's last packets may not decode (a cut-off recording): keep the rest
        if written != seg.frames and not (last and written > 0):
            raise ImageReadError(f"{stream.path.name}: {seg.name}: the decoder gave {written} of {seg.frames} "
                                 "frames (a damaged file?)")
        return SegmentResult(seg.index, written, swapped, error, time.perf_counter() - t0)



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
