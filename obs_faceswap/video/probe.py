"""What the batched video pipeline needs to know about an input: ffprobe, once per file.

Beyond ``media.probe_video`` (size, fps, frames, audio): every frame's presentation time and
which frames are keyframes (from the packet list, no decoding), the display rotation, and the
colour tags (range, matrix, primaries, transfer) so the output is decoded and encoded in the
same colours and shown the same way up.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from obs_faceswap.errors import ImageReadError
from obs_faceswap.media import VideoInfo, _rotation, _tool, probe_video

# ffprobe colour-space names -> swscale colour-matrix names (untagged video: swscale's default, bt601)
_MATRIX = {"bt709": "bt709", "smpte170m": "bt601", "bt470bg": "bt601", "fcc": "fcc", "smpte240m": "smpte240m",
           "bt2020nc": "bt2020", "bt2020c": "bt2020"}


@dataclass(frozen=True)
class StreamInfo:
    """A video input as the segment planner, decoder and encoder see it."""

    path: Path
    info: VideoInfo
    times: tuple[float, ...]  # presentation time of every frame (s, from the file's start), in display order
    keyframes: tuple[int, ...]  # indices into ``times`` of the frames a decoder can start at
    start_time: float = 0.0  # the container's start time: ffmpeg's -ss counts from here
    rotation: int = 0  # display rotation in degrees as ffprobe reports it, mod 360 (0, 90, 180, 270)
    color_range: str = ""  # "tv", "pc" or "" (untagged)
    color_space: str = ""
    color_primaries: str = ""
    color_transfer: str = ""
    size: int = field(default=0)  # bytes on disk (what a remote worker must receive)

    @property
    def frames(self) -> int:
        return len(self.times)

    @property
    def full_range(self) -> bool:
        return self.color_range == "pc"

    @property
    def matrix(self) -> str:
        """The swscale colour matrix for converting this video's YUV to BGR and back."""
        return _MATRIX.get(self.color_space, "bt601")


def _run_json(cmd: list[str], path: Path) -> dict:  # type: ignore[type-arg]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit code {res.returncode}"
        raise ImageReadError(f"cannot read {path.name}: {last}")
    return json.loads(res.stdout or "{}")  # type: ignore[no-any-return]


def _tag(stream: dict, key: str) -> str:  # type: ignore[type-arg]
    value = str(stream.get(key, "") or "")
    return "" if value in ("unknown", "reserved", "unspecified") else value


def probe_stream(path: str | os.PathLike[str]) -> StreamInfo:
    """Probe ``path`` for the batched pipeline; ``ImageReadError`` when it is no readable video."""
    p = Path(path)
    info = probe_video(p)  # the checks and messages users already know (not found, no video stream)
    if info.still:
        raise ImageReadError(f"{p.name} is a still image, not a video (use swap-image)")
    ffprobe = _tool("ffprobe")
    head = _run_json([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_streams", "-show_format",
                      "-of", "json", str(p)], p)
    stream = (head.get("streams") or [{}])[0]
    start = float(head.get("format", {}).get("start_time", 0) or 0)
    packets = _run_json([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                         "packet=pts_time,flags", "-of", "json", str(p)], p).get("packets", [])
    timed = sorted((float(pk["pts_time"]), "K" in pk.get("flags", ""))  # D: discarded by the demuxer (edit lists)
                   for pk in packets if pk.get("pts_time") not in (None, "N/A") and "D" not in pk.get("flags", ""))
    if not timed:
        raise ImageReadError(f"cannot read {p.name}: its video stream has no timed frames")
    times = tuple(t - start for t, _ in timed)
    keys = tuple(i for i, (_, k) in enumerate(timed) if k) or (0,)
    return StreamInfo(
        path=p, info=info, times=times, keyframes=keys, start_time=start, rotation=_rotation(stream),
        color_range=_tag(stream, "color_range") or ("pc" if str(stream.get("pix_fmt", "")).startswith("yuvj") else ""),
        color_space=_tag(stream, "color_space"), color_primaries=_tag(stream, "color_primaries"),
        color_transfer=_tag(stream, "color_transfer"),
        size=p.stat().st_size,
    )
