"""One video through the batched pipeline: probe, cut into segments, run them, join, mux audio.

The runner (``LocalRunner`` or ``RayRunner``) writes each segment to a private temporary folder;
the segments are then joined by ffmpeg's concat demuxer without re-encoding and the input's audio
is muxed once. The output appears only when complete and when at least one face was swapped
(``media.atomic_output``); an interruption leaves neither it nor the segments behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from obs_faceswap.errors import NoFaceError
from obs_faceswap.media import atomic_output
from obs_faceswap.video.codec import EncodeOptions, check_options, join_command, run_checked
from obs_faceswap.video.probe import StreamInfo, probe_stream
from obs_faceswap.video.segments import DEFAULT_SEGMENT_FRAMES, DEFAULT_WARMUP, Segment, segments_for
from obs_faceswap.video.worker import STAGES, SegmentResult


class Runner(Protocol):
    """Runs segments somewhere and leaves each one's pieces (``SegmentResult.pieces``) in ``folder``."""

    workers: int  # segments it runs at once (processes, Ray actors): the work is cut for them

    def run(self, stream: StreamInfo, segments: list[Segment], folder: Path, opts: EncodeOptions, output: Path,
            progress: Any) -> list[SegmentResult]: ...

    def close(self, *, abort: bool = False) -> None: ...

    def notes(self) -> list[str]: ...


@dataclass(frozen=True)
class VideoReport:
    input: Path
    output: Path
    stream: StreamInfo
    frames: int
    swapped: int
    segments: int
    seconds: float
    error: str = ""  # the first per-frame error (those frames were left unchanged)
    timings: dict[str, float] = field(default_factory=dict)  # the segments' ``SegmentResult.timings``, summed

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def swap_video_file(src: Path, out: Path, runner: Runner, opts: EncodeOptions, *,
                    segment_frames: int = DEFAULT_SEGMENT_FRAMES, warmup: int = DEFAULT_WARMUP,
                    progress: bool = True, face_selection: str = "") -> VideoReport:
    """Swap every frame of ``src`` into ``out``; ``NoFaceError`` (nothing written) when no frame had a face."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    check_options(opts, out)
    stream = probe_stream(src)
    segments = segments_for(stream, runner.workers, segment_frames, warmup)
    done = [0] * len(segments)
    with atomic_output(out) as tmp:
        folder = Path(tempfile.mkdtemp(prefix="obs-faceswap-segments-"))
        bar = tqdm(total=stream.frames, unit="frame", disable=not progress, desc=out.name)

        def advance(index: int, written: int) -> None:
            done[index] = written  # a retried segment starts again from 0: the total stays true
            bar.n = sum(done)
            bar.refresh()

        try:
            results = runner.run(stream, segments, folder, opts, out, advance)
            bar.n = sum(r.frames for r in results)
            bar.refresh()
            swapped = sum(r.swapped for r in results)
            error = next((r.error for r in results if r.error), "")
            if not swapped:
                why = f" ({error})" if error else f" (face selection '{face_selection}')" if face_selection else ""
                raise NoFaceError(f"no face found in any frame of {src.name}{why}; nothing written")
            listing = folder / "segments.txt"
            listing.write_text("".join(f"file '{folder / piece}'\n" for r in results for piece in r.pieces))
            run_checked(join_command(stream, listing, tmp, out), f"join the segments of {out.name}")
        finally:
            bar.close()
            shutil.rmtree(folder, ignore_errors=True)
    timings = {k: sum(r.timings.get(k, 0.0) for r in results) for k in STAGES}
    return VideoReport(src, out, stream, sum(r.frames for r in results), swapped, len(segments),
                       time.perf_counter() - t0, error, timings)
