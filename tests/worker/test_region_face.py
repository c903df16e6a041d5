"""The face pipeline on region frames (issue 19): faces found on the downscaled frame (scaled up), tracked
with the full-resolution crop pasted in, swapped on the crop; the next region follows the face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from obs_faceswap.ipc import frames as F
from obs_faceswap.ipc.frames import FrameChannel
from obs_faceswap.ipc.regions import NO_RECT, Rect, small_size
from obs_faceswap.worker.processors import FaceProcessor
from obs_faceswap.worker.region_frames import RegionState

W, H = 1920, 1080


def _frame(astronaut_bgr: np.ndarray, dx: int) -> np.ndarray:
    a = cv2.resize(astronaut_bgr, (H, H), interpolation=cv2.INTER_CUBIC)
    frame = np.full((H, W, 3), 90, np.uint8)
    x = (W - H) // 2 + dx
    frame[:, x:x + H] = a
    return frame


class _Link:
    """A frame channel between a client and RegionState, as the worker runs it."""

    def __init__(self, proc: FaceProcessor) -> None:
        self.client = FrameChannel.create(16 << 20)
        self.worker = FrameChannel.attach(self.client.name)
        self.state = RegionState()
        self.proc = proc
        self.seq = 0

    def send(self, frame: np.ndarray, crop: Rect, small: bool) -> tuple[np.ndarray | None, Rect, Rect]:
        """One region frame; (the swapped crop or None, the rectangle swapped, the next one)."""
        bgra = cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)
        sw, sh = small_size(W, H) if small else (0, 0)
        sm = np.ascontiguousarray(cv2.resize(bgra, (sw, sh), interpolation=cv2.INTER_AREA)) if small else None
        px = np.ascontiguousarray(bgra[crop.y:crop.y + crop.h, crop.x:crop.x + crop.w])
        self.seq += 1
        self.client.write_region_frame(sm.ctypes.data if sm is not None else 0, sw, sh, sw * 4, F.BGRA, frame_w=W,
                                       frame_h=H, seq=self.seq, crop=px.ctypes.data if not crop.empty else 0,
                                       crop_rect=crop, crop_stride=crop.w * 4)
        index, hdr = self.worker.claim("in")
        self.worker.begin_in_place(index)
        base = self.worker.data_offset("in", index)
        region = self.state.process(self.proc, self.worker.segment.buf, base, hdr)
        self.worker.commit_write("out", index, seq=hdr.seq, timestamp=0, width=hdr.width, height=hdr.height,
                                 fmt=hdr.fmt, strides=hdr.strides, offsets=hdr.offsets, nbytes=hdr.nbytes,
                                 region=region)
        j, out = self.client.claim("out")
        assert not self.client.header_problem(out) and out.region is not None
        r = out.region.crop
        got = None
        if not r.empty:
            got = np.ndarray((r.h, r.w, 4), np.uint8, self.client.segment.buf,
                             self.client.data_offset("out", j) + out.region.crop_offset,
                             (out.region.crop_stride, 4, 1))[..., :3].copy()
        self.client.release("out")
        return got, r, out.region.next

    def close(self) -> None:
        self.worker.close()
        self.client.segment.unlink()
        self.client.close()


def test_face_is_found_then_tracked_and_swapped_on_the_crop(astronaut_bgr: np.ndarray,
                                                            group_photo_path: Path) -> None:
    link = _Link(FaceProcessor({"source_image": str(group_photo_path), "swapper": "embedded"}))
    try:
        frame = _frame(astronaut_bgr, 0)
        # first frame: the downscaled frame alone; the worker only says where the face is
        got, swapped, region = link.send(frame, NO_RECT, small=True)
        assert got is None and swapped.empty and not region.empty
        assert 600 < region.x and region.x + region.w < 1300 and region.w % 32 == 0 and region.h % 32 == 0
        # then the crop, with and without the downscaled frame: swapped each time, in place
        for small in (True, False, False):
            crop = frame[region.y:region.y + region.h, region.x:region.x + region.w]
            got, swapped, nxt = link.send(frame, region, small=small)
            x0, y0, x1, y1 = link.proc.pipeline.swapped[0].bbox  # in the crop's pixels
            face = Rect(int(x0) + region.x, int(y0) + region.y, int(x1 - x0), int(y1 - y0))
            assert 700 < face.x and face.x + face.w < 1100 and 50 < face.y and face.y + face.h < 500
            assert region.contains(face)
            # what comes back (and is uploaded) is the changed part of the crop, not all of it
            assert region.contains(swapped) and swapped.contains(face) and got is not None
            assert swapped.w * swapped.h < 0.8 * region.w * region.h
            assert (nxt.w, nxt.h) == (region.w, region.h) and abs(nxt.x - region.x) + abs(nxt.y - region.y) <= 4
            sx, sy = swapped.x - region.x, swapped.y - region.y
            changed = np.any(got != crop[sy:sy + swapped.h, sx:sx + swapped.w], axis=2)
            inner = changed[face.y - swapped.y:face.y - swapped.y + face.h, face.x - swapped.x:face.x - swapped.x + face.w]
            assert inner.mean() > 0.3
            ys, xs = np.nonzero(changed)  # the swap (face, jaw line, hair line) stays inside the crop with room
            assert xs.min() + sx > 8 and ys.min() + sy > 8 and xs.max() + sx < region.w - 8 and ys.max() + sy < region.h - 8
        # the face moves 60 px right: tracked on the crops alone (no downscaled frame), the region follows
        moved = _frame(astronaut_bgr, 60)
        for _ in range(4):  # a few frames: the track's smoothing catches up
            _, _, region_next = link.send(moved, region, small=False)
            region = region_next
        assert 40 <= region.x - nxt.x <= 80 and (region.w, region.h) == (nxt.w, nxt.h)
    finally:
        link.close()
