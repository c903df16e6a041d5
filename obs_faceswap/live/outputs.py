"""Where live frames go: the preview window (with an fps/latency overlay), a video file, a virtual camera."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from obs_faceswap.errors import DeviceError, FaceSwapError
from obs_faceswap.vision.types import Frame

WINDOW = "obs-faceswap live"


def draw_overlay(frame: Frame, lines: list[str]) -> Frame:
    """A copy of ``frame`` with ``lines`` written top-left on a dark band (readable on any picture)."""
    out = frame.copy()
    scale = max(0.4, min(1.0, frame.shape[1] / 1280.0))
    thick = 1 if scale < 0.7 else 2
    line_h = int(26 * scale) + 4
    width = 0
    for text in lines:
        (w, _h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        width = max(width, w)
    h = line_h * len(lines) + 6
    band = out[:h, : width + 12]
    band[:] = (band.astype(np.uint16) * 2 // 5).astype(np.uint8)
    for i, text in enumerate(lines):
        y = (i + 1) * line_h
        cv2.putText(out, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out


def display_available() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class Preview:
    """The cv2 window; ``show`` returns the key pressed (-1 for none)."""

    def __init__(self) -> None:
        if not display_available():
            raise DeviceError("no display for the preview window (DISPLAY is not set): add --no-preview, "
                              "and --output FILE to record the result")
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise DeviceError(f"cannot open the preview window ({exc}); use --no-preview") from None
        self.closed = False

    def show(self, frame: Frame) -> int:
        cv2.imshow(WINDOW, frame)
        key = cv2.waitKey(1)
        try:
            if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                self.closed = True
        except cv2.error:
            self.closed = True
        return key

    def close(self) -> None:
        try:
            cv2.destroyWindow(WINDOW)
            cv2.waitKey(1)
        except cv2.error:
            pass


class VideoRecorder:
    """H.264 (or VP9 for .webm) through an ffmpeg pipe; the file appears only when closed cleanly."""

    def __init__(self, path: str, width: int, height: int, fps: float) -> None:
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise FaceSwapError("--output needs FFmpeg: Debian/Ubuntu: apt install ffmpeg; macOS: brew install "
                                "ffmpeg; Windows: winget install ffmpeg")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.part{self.path.suffix or '.mp4'}")
        self.size = (width, height)
        codec = ["-c:v", "libvpx-vp9"] if self.path.suffix.lower() == ".webm" else \
            ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18"]
        # odd sizes cannot be yuv420p: pad by one pixel
        pad = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"] if width % 2 or height % 2 else []
        cmd = [exe, "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{width}x{height}", "-r", f"{fps:.3f}", "-i", "-", *pad, *codec, "-pix_fmt", "yuv420p",
               str(self._tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.frames = 0

    def write(self, frame: Frame) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        except BrokenPipeError:
            err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
            raise FaceSwapError(f"ffmpeg stopped writing {self.path.name}: {err.strip()[-300:]}") from None
        self.frames += 1

    def close(self, *, keep: bool = True) -> Path | None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        rc = self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        if keep and rc == 0 and self.frames > 0:
            os.replace(self._tmp, self.path)
            return self.path
        self._tmp.unlink(missing_ok=True)
        if keep and rc != 0:
            raise FaceSwapError(f"ffmpeg could not write {self.path.name}: {err.strip()[-300:]}")
        return None


class VirtualCamera:
    """pyvirtualcam (OBS Virtual Camera on Windows/macOS, v4l2loopback on Linux)."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise DeviceError("--virtual-camera needs pyvirtualcam: pip install 'obs-faceswap[camera]' "
                              "(Linux also needs v4l2loopback: sudo apt install v4l2loopback-dkms && "
                              "sudo modprobe v4l2loopback exclusive_caps=1)") from None
        try:
            self._cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR)
        except Exception as exc:  # noqa: BLE001 - pyvirtualcam raises RuntimeError with the backend's reason
            raise DeviceError(f"cannot start the virtual camera: {exc}") from None
        self.device = str(self._cam.device)
        self.size = (width, height)

    def send(self, frame: Frame) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        self._cam.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        self._cam.close()
