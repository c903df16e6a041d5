"""ffmpeg command lines of the batched pipeline: decode a segment, encode a segment, join them.

Frames travel as raw ``bgr24`` through pipes, as in ``media`` (measured against PyAV in
docs/video.md: the pipe decodes as fast and lets NVDEC/NVENC through unchanged). Colours: the
decoder converts with the input's own matrix and range, the encoder converts back with the same
ones and tags the stream, so a full-range or BT.709 video comes out as it went in. Rotation: as in
``media``, the decoder turns a phone video upright (faces are found the way people see them), so
the output is stored upright and needs no display rotation; ``info`` has the upright size.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.media import _audio_codec, _pix_fmt, _tool, encoder_failed
from obs_faceswap.video.probe import StreamInfo
from obs_faceswap.video.segments import Segment

HWACCELS = ("none", "auto", "cuda", "vaapi", "qsv", "videotoolbox")
# exact rounding both ways: without it a decode -> encode round trip darkens every pixel by 2 levels
# (measured: mean -1.99); with it -0.16. full_chroma_int would reach 0.01 but doubles the conversion
# cost (720p: 4.4 -> 8.7 ms a frame on one core), a fifth of the whole swap's time
_SWS = "flags=accurate_rnd"
ENCODERS = ("auto", "libx264", "libx265", "h264_nvenc", "hevc_nvenc", "libvpx-vp9")


@dataclass(frozen=True)
class EncodeOptions:
    """How segments are encoded (the same for every segment, or the join could not copy them)."""

    encoder: str = "auto"  # auto: libx264, libvpx-vp9 for .webm
    crf: int = 18
    hwaccel: str = "none"  # ffmpeg -hwaccel for decoding (cuda = NVDEC)
    threads: int = 0  # encoder threads (0: ffmpeg decides)

    def codec_for(self, output: Path) -> str:
        if self.encoder != "auto":
            return self.encoder
        return "libvpx-vp9" if output.suffix.lower() == ".webm" else "libx264"


@functools.cache
def _available(kind: str) -> str:
    res = subprocess.run([_tool("ffmpeg"), "-hide_banner", f"-{kind}"], capture_output=True, text=True)
    return res.stdout


def check_options(opts: EncodeOptions, output: Path) -> None:
    """Refuse, before any work, an encoder or hardware decoder this ffmpeg does not have."""
    codec = opts.codec_for(output)
    if output.suffix.lower() == ".webm" and codec != "libvpx-vp9":
        raise FaceSwapError(f"{output.name}: WebM holds VP9, not {codec}; use --encoder libvpx-vp9 or a .mp4/.mkv output")
    if f" {codec} " not in _available("encoders"):
        hint = " (needs an NVIDIA GPU and an ffmpeg built with NVENC)" if "nvenc" in codec else ""
        raise FaceSwapError(f"this ffmpeg has no {codec} encoder{hint}; choose another --encoder")
    if opts.hwaccel not in ("none", "auto") and opts.hwaccel not in _available("hwaccels").split():
        raise FaceSwapError(f"this ffmpeg has no {opts.hwaccel} hardware decoder; use --hwaccel auto or none")


def decode_command(stream: StreamInfo, seg: Segment, opts: EncodeOptions) -> list[str]:
    """ffmpeg reading ``seg`` (warm-up frames included) as raw bgr24 on stdout."""
    cmd = [_tool("ffmpeg"), "-v", "error", "-nostdin"]
    if opts.hwaccel != "none":
        cmd += ["-hwaccel", opts.hwaccel]
    if seg.seek is not None:
        cmd += ["-ss", f"{seg.seek:.6f}"]
    rng = "pc" if stream.full_range else "tv"
    cmd += ["-i", str(stream.path), "-map", "0:v:0", "-frames:v", str(seg.end - seg.warm_start),
            "-vf", f"scale=in_range={rng}:in_color_matrix={stream.matrix}:out_range=pc:{_SWS}",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-vsync", "passthrough", "-"]
    return cmd


def encode_command(stream: StreamInfo, dest: Path, opts: EncodeOptions, output: Path) -> list[str]:
    """ffmpeg encoding raw bgr24 frames from stdin into the segment file ``dest`` (video only)."""
    info = stream.info
    codec = opts.codec_for(output)
    rng = "pc" if stream.full_range else "tv"
    cmd = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-y",
           "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{info.width}x{info.height}", "-r", str(info.fps),
           "-i", "-", "-vf", f"scale=in_range=pc:out_range={rng}:out_color_matrix={stream.matrix}:{_SWS}",
           "-c:v", codec, "-pix_fmt", _pix_fmt(info), "-color_range", rng]
    for flag, value in (("-colorspace", stream.color_space), ("-color_primaries", stream.color_primaries),
                        ("-color_trc", stream.color_transfer)):
        if value:
            cmd += [flag, value]
    if codec in ("libx264", "libx265"):
        cmd += ["-preset", "veryfast", "-crf", str(opts.crf)]
    elif codec.endswith("_nvenc"):
        cmd += ["-preset", "p4", "-rc", "vbr", "-cq", str(opts.crf)]
    elif codec == "libvpx-vp9":
        cmd += ["-crf", str(opts.crf + 13), "-b:v", "0", "-row-mt", "1", "-deadline", "realtime", "-cpu-used", "8"]
    if opts.threads:
        cmd += ["-threads", str(opts.threads)]
    if dest.suffix == ".mp4":
        cmd += ["-video_track_timescale", str(_timescale(stream))]
    return [*cmd, str(dest)]


def _timescale(stream: StreamInfo) -> int:
    n = stream.info.fps.numerator
    return n * max(1, -(-1000 // n)) if n > 0 else 90000  # a multiple of the frame rate, >= 1000


def segment_suffix(output: Path) -> str:
    return ".webm" if output.suffix.lower() == ".webm" else ".mp4"


def join_command(stream: StreamInfo, listing: Path, dest: Path, output: Path) -> list[str]:
    """ffmpeg joining the segments named in ``listing`` (concat demuxer, no re-encoding) with the
    input's audio (muxed once, copied when the container takes it) into ``dest``."""
    cmd = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
           "-i", str(stream.path), "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy",
           "-c:a", _audio_codec(stream.info, output), "-shortest"]
    return [*cmd, str(dest)]


def run_checked(cmd: list[str], what: str) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if encoder_failed(res.returncode, res.stderr):  # ffmpeg 5 exits 0 when the disk fills as it writes
        raise FaceSwapError(f"ffmpeg could not {what}: {res.stderr.strip()[-300:]}")
