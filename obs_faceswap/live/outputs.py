"""Where live frames go: the preview window (with an fps/latency overlay), a video file, a virtual camera."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from obs_faceswap.errors import DeviceError, FaceSwapError
from obs_faceswap.media import encoder_failed
from obs_faceswap.vision.types import Frame

WINDOW = "obs-faceswap live"
MAX_RECORD_FPS = 60.0  # frame rate cap of a real-time recording
KEY_POLL_MS = 5  # how often the window takes key presses while a frame is being swapped

T = TypeVar("T")


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
    """The cv2 window; ``show`` returns the key pressed (-1 for none), ``keys_while`` the keys pressed
    while a frame is being swapped."""

    def __init__(self) -> None:
        if not display_available():
            raise DeviceError("no display for the preview window (DISPLAY is not set): add --no-preview, "
                              "and --output FILE to record the result")
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise DeviceError(f"cannot open the preview window ({exc}); use --no-preview") from None
        self.closed = False
        self._helper: ThreadPoolExecutor | None = None
        self._sized = False

    def show(self, frame: Frame) -> int:
        if not self._sized:  # a resizable window starts at the frame's own size, whatever the window system chose
            self._sized = True
            cv2.resizeWindow(WINDOW, frame.shape[1], frame.shape[0])
        cv2.imshow(WINDOW, frame)
        key = cv2.waitKey(1)
        try:
            if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                self.closed = True
        except cv2.error:
            self.closed = True
        return key

    def keys_while(self, work: Callable[[], T]) -> tuple[T, list[int]]:
        """``work()`` run in a helper thread while the window takes key presses every few ms, and the
        keys pressed meanwhile, in order. OpenCV's window keeps only the last of the keys pressed between
        two ``waitKey`` calls, so with one call per frame, keys pressed during a slow frame were lost
        (three quick '-' presses lowered the blend by 10 or 20 %, not 30 %)."""
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="live-frame")
        job = self._helper.submit(work)
        keys: list[int] = []
        try:
            while not job.done():
                t = time.monotonic()
                key = cv2.waitKey(KEY_POLL_MS)
                if key >= 0:
                    keys.append(key)
                elif time.monotonic() - t < KEY_POLL_MS / 2000.0:  # the window is gone: no waiting in waitKey
                    wait_futures([job], KEY_POLL_MS / 1000.0)
        except BaseException:
            wait_futures([job])  # Ctrl+C: let the frame finish before the caller closes the pipeline
            raise
        return job.result(), keys

    def close(self) -> None:
        if self._helper is not None:
            self._helper.shutdown(wait=True)
        try:
            cv2.destroyWindow(WINDOW)
            cv2.waitKey(1)
        except cv2.error:
            pass


class VideoRecorder:
    """H.264 (VP9 for .webm) through an ffmpeg pipe into ``path`` (the caller makes it atomic).

    ``timed`` (live sources): every frame goes at its capture time on a constant-rate timeline of
    ``fps`` (at most ``MAX_RECORD_FPS``); the previous frame is repeated to fill the gaps (dropped
    frames, a slow swap) and the last one is held until ``close(end=...)``, so the file lasts as long
    as the session and plays at real speed. Two frames in the same slot: the newer one wins.
    Not ``timed`` (a file processed as fast as possible): every frame once, at ``fps``.
    """

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float, *,
                 timed: bool = True, name: str | None = None) -> None:
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise FaceSwapError("--output needs FFmpeg: Debian/Ubuntu: apt install ffmpeg; macOS: brew install "
                                "ffmpeg; Windows: winget install ffmpeg")
        self.path = Path(path)
        self.name = name or self.path.name
        self.size = (width, height)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        if timed:  # a capture asked for at 240 fps is not worth 240 frames a second of repeats
            self.fps = min(self.fps, MAX_RECORD_FPS)
        self.timed = timed
        codec = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"] \
            if self.path.suffix.lower() == ".webm" else ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18"]
        # odd sizes cannot be yuv420p: pad by one pixel
        pad = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"] if width % 2 or height % 2 else []
        cmd = [exe, "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{width}x{height}", "-r", f"{self.fps:.6g}", "-i", "-", *pad, *codec, "-pix_fmt", "yuv420p",
               str(self.path)]
        # its own session: Ctrl+C in a terminal goes to the whole process group, and ffmpeg stopping
        # on it would cut the recording short; the file is finished by closing the pipe instead
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                                      start_new_session=os.name == "posix")
        self.frames = 0  # frames written to the file (repeats included)
        self._t0: float | None = None  # capture time of the first frame: the file's time zero
        self._pending: Frame | None = None  # the newest frame, written once the next one's slot is known
        self._slot = 0

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def _slot_of(self, at: float) -> int:
        assert self._t0 is not None
        return int(round((at - self._t0) * self.fps))

    def write(self, frame: Frame, captured_at: float | None = None) -> None:
        if not self.timed or captured_at is None:
            self._put(frame, 1)
            return
        if self._t0 is None:
            self._t0 = captured_at
        slot = max(self._slot, self._slot_of(captured_at))
        if self._pending is not None and slot > self._slot:
            self._put(self._pending, slot - self._slot)  # held on screen until this frame came
        self._pending, self._slot = frame, slot

    def _put(self, frame: Frame, count: int) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        data = np.ascontiguousarray(frame, dtype=np.uint8).tobytes()
        assert self._proc.stdin is not None
        try:
            for _ in range(count):
                self._proc.stdin.write(data)
                self.frames += 1
        except BrokenPipeError:
            err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
            raise FaceSwapError(f"ffmpeg stopped writing {self.name}: {err.strip()[-300:]}") from None

    def close(self, *, keep: bool = True, end: float | None = None) -> int:
        """Finish the file (the last frame held until ``end``, a ``time.perf_counter()`` value) and
        return the number of frames written; ``keep=False`` just stops ffmpeg."""
        assert self._proc.stdin is not None
        if keep and self._pending is not None:
            last = self._slot_of(end) if end is not None else self._slot
            self._put(self._pending, max(1, last - self._slot))
        self._pending = None
        if not keep:
            self._proc.kill()
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        rc = self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        if keep and encoder_failed(rc, err):  # (ffmpeg 5 exits 0 on a full disk)
            raise FaceSwapError(f"ffmpeg could not write {self.name}: {err.strip()[-300:]}")
        return self.frames


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
