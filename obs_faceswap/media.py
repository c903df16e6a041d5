"""Image and video files: read, write atomically, and stream video through ffmpeg.

Video frames travel as raw ``bgr24`` through ffmpeg pipes; the output keeps the input's frame
rate and size and copies its audio track when there is one. Every output of every command
(images, videos, audio) goes through ``atomic_output``: a temporary file next to the destination,
renamed into place only when complete, with the usual permissions (``0o666 & ~umask``); missing
output folders are created (and removed again if the write fails).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from obs_faceswap.errors import FaceSwapError, ImageReadError
from obs_faceswap.vision.types import Frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG", "PNG"), (b"RIFF", "WebP"), (b"BM", "BMP"),
          (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
MAX_IMAGE_BYTES = 512 * 2**20  # far beyond any face photo; a bigger file is refused unread
ALPHA_SUFFIXES = (".png", ".webp", ".tif", ".tiff")  # image types that can carry an alpha channel


def _image_bytes(p: Path) -> np.ndarray:
    if p.is_dir():
        raise ImageReadError(f"{p} is a folder, not an image: give the path of a photo file")
    if not p.is_file():
        if p.exists():  # never opened: reading a FIFO or a device blocks or never ends
            raise ImageReadError(f"{p} is not a regular file (a pipe or a device): give the path of a photo file")
        raise ImageReadError(f"image not found: {p}")
    size = p.stat().st_size
    if size > MAX_IMAGE_BYTES:  # never read gigabytes to find out (OBS retries settings on every change)
        raise ImageReadError(f"{p} is {size / 2**30:.1f} GiB: too big for a photo (at most "
                             f"{MAX_IMAGE_BYTES // 2**20} MiB); choose a photo file")
    return np.fromfile(str(p), dtype=np.uint8)


def _undecodable(p: Path, data: np.ndarray) -> ImageReadError:
    head = data[:4].tobytes()
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind is not None:
        return ImageReadError(f"cannot read {p}: the {kind} file is damaged or truncated (an incomplete "
                              "download or copy?); open it in an image viewer or get the file again")
    return ImageReadError(f"cannot read {p}: not an image file OpenCV can decode (use JPEG, PNG, BMP or WebP)")


def read_image_with_alpha(path: str | os.PathLike[str]) -> tuple[Frame, np.ndarray | None]:
    """Read an image file as an upright uint8 BGR frame (EXIF orientation applied) and its alpha
    channel (uint8, or None when the image has none); raise ``ImageReadError`` saying why it failed."""
    p = Path(path)
    data = _image_bytes(p)
    # IMREAD_COLOR applies the EXIF orientation (phone photos) and brings 16-bit/grey/palette to BGR8
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise _undecodable(p, data)
    alpha = None
    if p.suffix.lower() in ALPHA_SUFFIXES:
        full = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if full is not None and full.ndim == 3 and full.shape[2] == 4 and full.shape[:2] == img.shape[:2]:
            a = full[:, :, 3]
            if a.dtype != np.uint8:
                a = (a.astype(np.float32) * (255.0 / float(np.iinfo(a.dtype).max))).round().astype(np.uint8)
            alpha = np.ascontiguousarray(a)
    return np.ascontiguousarray(img), alpha


def read_image(path: str | os.PathLike[str]) -> Frame:
    """Read an image file as an upright uint8 BGR frame (EXIF orientation applied); raise
    ``ImageReadError`` saying why it failed (missing, a folder, damaged or truncated, not an image)."""
    p = Path(path)
    data = _image_bytes(p)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise _undecodable(p, data)
    return np.ascontiguousarray(img)


class OutputWriteError(FaceSwapError):
    """An output file cannot be created: a read-only or missing folder, a path under a file, a full disk."""


def cannot_write(dest: Path, exc: OSError) -> OutputWriteError:
    """The user-facing error for an ``OSError`` met while creating ``dest``."""
    blocker = next((p for p in (dest.parent, *dest.parent.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        why = f"{blocker} is a file, not a folder"
    elif isinstance(exc, IsADirectoryError) or dest.is_dir():
        why = "a folder of that name is in the way"
    else:
        why = exc.strerror or str(exc)
    return OutputWriteError(f"cannot write {dest}: {why}; choose an output path in a folder you can write to")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (also through links); False when either is missing."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def refuse_overwriting_inputs(output: str | os.PathLike[str], inputs: Mapping[str, str | os.PathLike[str]]) -> None:
    """Raise ``FaceSwapError`` when ``output`` is one of ``inputs`` (role -> path), before any work."""
    for role, path in inputs.items():
        if same_file(output, path):
            raise FaceSwapError(f"the output {output} is the {role}: choose another output file "
                                "(inputs are never overwritten)")


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix); rename it to ``path`` on success only.

    Missing folders on the way are created. The finished file gets the permissions a plain
    ``open()`` would give it (``0o666 & ~umask``), not ``mkstemp``'s 0600. An unwritable
    destination (read-only folder, a path under a file, no such device, full disk) raises
    ``OutputWriteError``; nothing is left behind: neither the temporary file nor folders made for it.
    """
    dest = Path(path)
    tmp_path, made = _temporary_beside(dest)
    done = False
    try:
        yield tmp_path
        try:
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, dest)
        except OSError as exc:
            raise cannot_write(dest, exc) from None
        done = True
    finally:
        try:
            tmp_path.unlink(missing_ok=True)
        except OSError:
            pass
        if not done:
            _remove_dirs(made)


def _temporary_beside(dest: Path) -> tuple[Path, list[Path]]:
    """A new empty temporary file next to ``dest`` and the folders made for it (deepest first);
    ``OutputWriteError`` (nothing left behind) when the place cannot be written."""
    made = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]  # folders mkdir will create
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".part{dest.suffix}", dir=dest.parent)
        os.close(fd)
    except OSError as exc:
        _remove_dirs(made)
        raise cannot_write(dest, exc) from None
    return Path(tmp), made


def check_output_place(path: str | os.PathLike[str]) -> None:
    """Raise ``OutputWriteError`` now when ``path`` could not be written at the end of the work (a path
    under a file, a read-only folder, no such device), as ``atomic_output`` would; leaves nothing behind.
    For commands that write their output only once the work is done."""
    tmp, made = _temporary_beside(Path(path))
    try:
        tmp.unlink()
    finally:
        _remove_dirs(made)


def _remove_dirs(folders: list[Path]) -> None:
    """Remove the (empty) folders this module created, deepest first; ignore any that cannot go."""
    for d in folders:  # ordered from the deepest up
        try:
            d.rmdir()
        except OSError:
            pass


def write_image(path: str | os.PathLike[str], frame: Frame, quality: int = 95) -> Path:
    """Write ``frame`` to ``path`` atomically (format from the suffix)."""
    dest = Path(path)
    ext = dest.suffix.lower() or ".png"
    if ext not in IMAGE_SUFFIXES:
        raise FaceSwapError(f"cannot write {dest.name}: unknown image type; use one of {', '.join(IMAGE_SUFFIXES)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, frame, params)
    if not ok:
        raise FaceSwapError(f"cannot encode {dest.name}")
    with atomic_output(dest) as tmp:
        try:
            buf.tofile(str(tmp))
        except OSError as exc:  # e.g. the disk is full
            raise cannot_write(dest, exc) from None
    return dest


# ---------------------------------------------------------------- video


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frames: int  # 0 when unknown
    has_audio: bool
    audio_codec: str = ""
    still: bool = False  # a still image (JPEG, PNG ...) that ffmpeg also opens as a one-frame "video"


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise FaceSwapError(f"{name} not found: install FFmpeg (Debian/Ubuntu: apt install ffmpeg; "
                            "Windows: winget install ffmpeg; macOS: brew install ffmpeg)")
    return exe


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate, frame count and audio presence of a video (ffprobe)."""
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(f"video not found: {p}")
    cmd = [_tool("ffprobe"), "-v", "error", "-show_streams", "-show_format", "-of", "json", str(p)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    probed = json.loads(res.stdout or "{}") if res.returncode == 0 else {}
    streams = probed.get("streams", [])
    container = str(probed.get("format", {}).get("format_name", ""))
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None:
        raise ImageReadError(f"cannot read {p}: no video stream found (is it a video file?)")
    rate = video.get("avg_frame_rate") or video.get("r_frame_rate") or "0/1"
    try:
        fps = Fraction(rate)
    except (ValueError, ZeroDivisionError):
        fps = Fraction(0)
    if fps <= 0:
        fps = Fraction(video.get("r_frame_rate", "25/1"))
    frames = int(video.get("nb_frames", 0) or 0)
    if not frames:
        dur = float(video.get("duration", 0) or 0)
        frames = int(round(dur * float(fps))) if dur > 0 else 0
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    still = container == "image2" or container.endswith("_pipe") or p.suffix.lower() in IMAGE_SUFFIXES
    width, height = int(video["width"]), int(video["height"])
    if _rotation(video) % 180 == 90:  # phone videos: ffmpeg decodes them upright, i.e. turned
        width, height = height, width
    return VideoInfo(width, height, fps, frames, audio is not None,
                     str(audio.get("codec_name", "")) if audio else "", still)


def _rotation(stream: Mapping[str, object]) -> int:
    """The display rotation of a video stream in degrees (0, 90, 180, 270): the display matrix of
    ffmpeg ≥ 5 or the older ``rotate`` tag."""
    for side in stream.get("side_data_list", []) or []:  # type: ignore[union-attr]
        if isinstance(side, dict) and "rotation" in side:
            try:
                return int(round(float(side["rotation"]))) % 360
            except (TypeError, ValueError):
                pass
    tags = stream.get("tags") or {}
    try:
        return int(round(float(tags.get("rotate", 0)))) % 360  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return 0


_MP4_AUDIO = ("aac", "mp3", "ac3", "eac3", "opus", "alac")  # FLAC in MP4 is 'experimental' in ffmpeg 5
_MOV_AUDIO = ("aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le")  # no Opus in QuickTime .mov


def _audio_codec(info: VideoInfo, dest: Path) -> str:
    """'copy' when the input's audio fits the output container, else a codec that does."""
    ext = dest.suffix.lower()
    if ext == ".mkv" or (ext in (".mp4", ".m4v") and info.audio_codec in _MP4_AUDIO) or (
            ext == ".mov" and info.audio_codec in _MOV_AUDIO):
        return "copy"
    if ext == ".webm":
        return "copy" if info.audio_codec in ("opus", "vorbis") else "libopus"
    return "aac"


def read_video_frames(path: str | os.PathLike[str], info: VideoInfo | None = None) -> Iterator[Frame]:
    """Decoded frames of a video, one uint8 BGR array each."""
    info = info or probe_video(path)
    cmd = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-f", "rawvideo", "-pix_fmt", "bgr24", "-vsync", "passthrough", "-"]
    size = info.width * info.height * 3
    # its own session: a terminal's Ctrl+C reaches us (and our clean-up) but not the decoder, which
    # would otherwise die mid-frame and look like a broken file; closing the pipe still stops it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    count = 0
    ended = False
    try:
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                ended = True
                break
            count += 1
            yield np.frombuffer(buf, np.uint8).reshape(info.height, info.width, 3).copy()
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    if proc.returncode not in (0, None):
        last = err.strip().splitlines()[-1] if err.strip() else f"exit code {proc.returncode}"
        raise ImageReadError(f"ffmpeg could not decode {Path(path).name}: {last}")
    if ended and ended_early(count, info.frames, err):
        print(f"obs-faceswap: warning: {Path(path).name} ends early: {count} of {info.frames} frames could be "
              "decoded (a truncated or damaged file?)", file=sys.stderr)


def ended_early(decoded: int, expected: int, decoder_log: str) -> bool:
    """Whether a decode that stopped after ``decoded`` of ``expected`` frames lost frames (a truncated
    file): fewer frames than the container announced beyond rounding, or ffmpeg saw a partial file."""
    return (expected > 0 and decoded < expected - max(1, expected // 50)) or "partial file" in decoder_log


_WRITE_ERRORS = ("Error writing", "Error closing", "No space left on device", "Disk quota exceeded")


def encoder_failed(returncode: int, ffmpeg_log: str) -> bool:
    """Whether an encoding ffmpeg failed. Its exit code alone does not say: ffmpeg 5 exits 0 after
    "Error writing trailer ...: No space left on device", leaving a truncated file."""
    return returncode != 0 or any(e in ffmpeg_log for e in _WRITE_ERRORS)


def _pix_fmt(info: VideoInfo) -> str:
    """yuv420p (plays everywhere) for even sizes; 4:2:0 cannot hold an odd width or height, so
    those keep their exact size in yuv444p."""
    return "yuv420p" if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"


def _reason(ffmpeg_log: str) -> str:
    """ffmpeg's own words for a failure, on one line (its last few meaningful lines)."""
    lines = [ln.strip() for ln in ffmpeg_log.strip().splitlines() if ln.strip()]
    text = " / ".join(lines[-3:]) if lines else "it exited early without saying why"
    return text[-400:]


def transform_video(
    src: str | os.PathLike[str], dest: str | os.PathLike[str], fn: Callable[[Frame], Frame],
    *, crf: int = 18, progress: bool = True, before_commit: Callable[[], None] | None = None,
) -> VideoInfo:
    """Run ``fn`` on every frame of ``src`` and write ``dest`` (H.264, same fps/size, audio copied).

    ``dest`` appears only when the whole video was written. ``before_commit`` runs once all frames
    are encoded, before ``dest`` appears: an exception from it (e.g. "no face in any frame") leaves
    nothing behind.
    """
    from tqdm import tqdm

    info = probe_video(src)
    out = Path(dest)
    with atomic_output(out) as tmp:
        cmd = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{info.width}x{info.height}",
               "-r", str(info.fps), "-i", "-", "-i", str(src),
               "-map", "0:v:0", "-map", "1:a?", "-c:a", _audio_codec(info, out),
               "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", _pix_fmt(info),
               "-shortest", str(tmp)]
        if out.suffix.lower() == ".webm":
            cmd[cmd.index("libx264")] = "libvpx-vp9"
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        bar = tqdm(total=info.frames or None, unit="frame", disable=not progress, desc=out.name)
        frames = read_video_frames(src, info)
        try:
            for frame in frames:
                result = fn(frame)
                proc.stdin.write(np.ascontiguousarray(result, dtype=np.uint8).tobytes())
                bar.update(1)
            proc.stdin.close()
        except BrokenPipeError:  # the encoder stopped: say why, in ffmpeg's words
            proc.kill()
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            proc.wait()
            raise FaceSwapError(f"ffmpeg could not write {out.name}: {_reason(err)}") from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            frames.close()  # stops the decoder if we stopped early
            bar.close()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if encoder_failed(proc.wait(), err):
            raise FaceSwapError(f"ffmpeg could not write {out.name}: {_reason(err)}")
        if before_commit is not None:
            before_commit()
    return info


def encode_video(
    frames: Iterable[Frame], dest: str | os.PathLike[str], fps: float | Fraction, size: tuple[int, int],
    *, audio: str | os.PathLike[str] | None = None, crf: int = 18, before_commit: Callable[[], None] | None = None,
) -> Path:
    """Encode BGR ``frames`` of ``size`` (width, height) at ``fps`` into ``dest`` (H.264 / VP9 for .webm),
    with ``audio`` (any file ffmpeg reads) muxed from time 0. ``dest`` appears only when complete."""
    out = Path(dest)
    w, h = size
    with atomic_output(out) as tmp:
        cmd = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
        if audio is not None:
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0",
                    "-c:a", "libopus" if out.suffix.lower() == ".webm" else "aac", "-ar", "48000"]
        cmd += ["-c:v", "libvpx-vp9" if out.suffix.lower() == ".webm" else "libx264", "-crf", str(crf),
                "-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2", "-pix_fmt", "yuv420p", str(tmp)]  # 4:2:0: even sizes
        if out.suffix.lower() != ".webm":
            cmd[cmd.index("-crf"):cmd.index("-crf")] = ["-preset", "veryfast"]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            for frame in frames:
                proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
            proc.stdin.close()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if encoder_failed(proc.wait(), err):
            raise FaceSwapError(f"ffmpeg could not write {out.name}: {_reason(err)}")
        if before_commit is not None:
            before_commit()
    return out
