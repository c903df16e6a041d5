"""Where live frames come from: a webcam (OpenCV), a screen region (mss), or a video file.

Every source yields ``CapturedFrame`` (BGR uint8 pixels + the monotonic time they were grabbed).
Live sources (camera, screen, a paced file) are read on their own thread that keeps only the
newest frame, so a slow swap drops frames instead of falling behind ("latest wins", as in OBS).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from obs_faceswap.errors import DeviceError, FaceSwapError, ImageReadError
from obs_faceswap.vision.types import Frame


@dataclass(frozen=True)
class CapturedFrame:
    image: Frame
    captured_at: float  # time.perf_counter() when the frame was grabbed
    index: int  # running number of frames the source produced (gaps = dropped frames)


class FrameSource(Protocol):
    name: str
    realtime: bool  # frames come at the pace they happen (camera, screen, paced file), not as fast as read
    fps: float  # nominal rate (0 when unknown)
    width: int
    height: int

    def frames(self) -> Iterator[CapturedFrame]: ...

    def close(self) -> None: ...


class _Grabber(Protocol):
    def grab(self) -> Frame | None: ...


class LatestFrame:
    """Runs ``grab`` on a thread at up to ``fps`` and keeps only the newest frame."""

    def __init__(self, grab: _Grabber, fps: float, name: str) -> None:
        self._grab = grab
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._cond = threading.Condition()
        self._latest: CapturedFrame | None = None
        self._count = 0
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{name}", daemon=True)
        self._started = False  # capture starts with the first frames() call: not while models load

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def _run(self) -> None:
        next_t = time.perf_counter()
        try:
            while not self._stop.is_set():
                img = self._grab.grab()
                now = time.perf_counter()
                if img is None:
                    break
                with self._cond:
                    self._latest = CapturedFrame(img, now, self._count)
                    self._count += 1
                    self._cond.notify_all()
                if self._period:
                    next_t = max(next_t + self._period, now - self._period)
                    delay = next_t - time.perf_counter()
                    if delay > 0:
                        self._stop.wait(delay)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def frames(self) -> Iterator[CapturedFrame]:
        self.start()
        last = -1
        while True:
            with self._cond:
                while (self._latest is None or self._latest.index == last) and not self._ended:
                    self._cond.wait(0.5)
                if self._error is not None:
                    raise self._error
                if self._latest is None or self._latest.index == last:
                    return  # ended, nothing new
                frame = self._latest
            last = frame.index
            yield frame

    def close(self) -> None:
        self._stop.set()
        if self._started:
            self._thread.join(timeout=5)


class CameraSource:
    """A webcam through OpenCV."""

    def __init__(self, index: int, size: tuple[int, int] | None = None, fps: float = 0.0) -> None:
        api = cv2.CAP_DSHOW if hasattr(cv2, "CAP_DSHOW") and _is_windows() else cv2.CAP_ANY
        with _quiet_opencv():  # OpenCV logs every backend it tried; our error says it once
            cap = cv2.VideoCapture(index, api)
        if not cap.isOpened():
            cap.release()
            raise DeviceError(f"camera {index} could not be opened (no such device, or another program uses it). "
                              "Try another --camera number, close apps using the camera, or see "
                              "'obs-faceswap doctor' for the cameras it finds.")
        if size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise DeviceError(f"camera {index} opened but delivers no frames; is it in use by another program?")
        self._cap = cap
        self.name = f"camera {index}"
        self.realtime = True
        self.height, self.width = first.shape[:2]
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        self._reader = LatestFrame(self, 0.0, self.name)  # the camera paces itself

    def grab(self) -> Frame | None:
        ok, img = self._cap.read()
        return img if ok else None

    def frames(self) -> Iterator[CapturedFrame]:
        return self._reader.frames()

    def close(self) -> None:
        self._reader.close()
        self._cap.release()


def parse_region(spec: str) -> tuple[int, int, int, int] | int:
    """'x,y,w,h' -> a rectangle; 'monitor1' (or '1') -> a monitor number (0 = all monitors)."""
    s = spec.strip().lower()
    m = re.fullmatch(r"(?:monitor)?(\d+)", s)
    if m:
        return int(m.group(1))
    parts = [p.strip() for p in re.split(r"[,x+ ]+", s) if p.strip()]
    if len(parts) == 4 and all(p.lstrip("-").isdigit() for p in parts):
        x, y, w, h = (int(p) for p in parts)
        if w > 0 and h > 0:
            return x, y, w, h
    raise FaceSwapError(f"--screen {spec!r}: expected x,y,w,h (e.g. 0,0,1280,720) or monitorN (e.g. monitor1)")


class ScreenSource:
    """A screen region or a whole monitor through mss."""

    def __init__(self, spec: str, fps: float = 30.0) -> None:
        try:
            import mss
        except ImportError as exc:
            raise DeviceError(f"screen capture needs the 'mss' package ({exc}): pip install mss") from None
        region = parse_region(spec)
        self._spec = spec
        self._new_mss = getattr(mss, "MSS", None) or mss.mss  # mss 10 renamed the factory
        try:
            probe = self._new_mss()
        except Exception as exc:  # noqa: BLE001 - mss raises ScreenShotError / OSError without a display
            raise DeviceError(f"cannot capture the screen ({exc}); is there a display (DISPLAY / a desktop)?") from None
        monitors = probe.monitors
        if isinstance(region, int):
            if region >= len(monitors):
                probe.close()
                raise DeviceError(f"--screen monitor{region}: there are {len(monitors) - 1} monitor(s) "
                                  "(monitor0 = all of them)")
            mon = monitors[region]
            self._box = {"left": mon["left"], "top": mon["top"], "width": mon["width"], "height": mon["height"]}
        else:
            x, y, w, h = region
            full = monitors[0]
            if x < full["left"] or y < full["top"] or x + w > full["left"] + full["width"] \
                    or y + h > full["top"] + full["height"]:
                probe.close()
                raise DeviceError(f"--screen {spec}: outside the screen ({full['width']}x{full['height']} at "
                                  f"{full['left']},{full['top']})")
            self._box = {"left": x, "top": y, "width": w, "height": h}
        probe.close()
        self._sct = None  # mss handles are per thread: created on the capture thread
        self.name = f"screen {self._box['width']}x{self._box['height']}+{self._box['left']}+{self._box['top']}"
        self.width, self.height = self._box["width"], self._box["height"]
        self.fps = fps
        self.realtime = True
        self._reader = LatestFrame(self, fps, "screen")

    def grab(self) -> Frame | None:
        if self._sct is None:
            self._sct = self._new_mss()
        shot = self._sct.grab(self._box)
        bgra = np.frombuffer(shot.raw, np.uint8).reshape(shot.height, shot.width, 4)
        return np.ascontiguousarray(bgra[:, :, :3])

    def frames(self) -> Iterator[CapturedFrame]:
        return self._reader.frames()

    def close(self) -> None:
        self._reader.close()


class _FileGrabber:
    def __init__(self, path: Path, loop: bool) -> None:
        from obs_faceswap import media

        self._media = media
        self._path = path
        self._loop = loop
        self.info = media.probe_video(path)
        self._still: Frame | None = None
        if self.info.still:  # a photo: read as the photo commands do (EXIF orientation honoured)
            self._still = media.read_image(path)
            self.info = replace(self.info, width=self._still.shape[1], height=self._still.shape[0])
        self._it: Iterator[Frame] | None = None

    def grab(self) -> Frame | None:
        for _attempt in range(2):
            if self._it is None:
                self._it = (iter([self._still.copy()]) if self._still is not None
                            else self._media.read_video_frames(self._path, self.info))
            frame = next(self._it, None)
            if frame is not None:
                return frame
            self._it = None
            if not self._loop:
                return None
        return None

    def close(self) -> None:
        it, self._it = self._it, None
        close = getattr(it, "close", None)  # the decoder's generator (a photo's iterator has none)
        if close is not None:
            close()


class FileSource:
    """A video file (or an image, shown as a still), paced at its own frame rate unless ``pace`` is off."""

    def __init__(self, path: str, *, pace: bool = True, loop: bool = False) -> None:
        p = Path(path)
        if not p.is_file():
            raise ImageReadError(f"--input {path}: file not found")
        self.name = p.name
        self.realtime = pace
        self._grabber = _FileGrabber(p, loop)
        info = self._grabber.info
        self.width, self.height, self.fps = info.width, info.height, float(info.fps) or 30.0
        self._reader = LatestFrame(self._grabber, self.fps, p.name) if pace else None

    def frames(self) -> Iterator[CapturedFrame]:
        if self._reader is not None:
            yield from self._reader.frames()
            return
        n = 0
        while True:
            img = self._grabber.grab()
            if img is None:
                return
            yield CapturedFrame(img, time.perf_counter(), n)
            n += 1

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._grabber.close()


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None:
        yield
        return
    old = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(old)


def _is_windows() -> bool:
    import sys

    return sys.platform.startswith("win")
