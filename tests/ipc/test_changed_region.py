"""Plain frames' results name the only rectangle the worker changed (issue 19, the "Face Swap
(camera)" filter): the client copies back that rectangle alone (I420/NV12: the chroma of the 2x2
blocks it covers), one C call per plane; the rest of the caller's frame is never written. Every
field is checked against the frame: a lying rectangle is refused, never followed."""

from __future__ import annotations

import ctypes
import struct

import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient
from obs_faceswap.ipc import frames as F
from obs_faceswap.ipc.frames import FrameChannel, FrameView, plane_boxes
from obs_faceswap.ipc.plane_copy import copy_plane
from obs_faceswap.ipc.regions import CHANGED, NO_RECT, REGION_FMT, REGION_OFFSET, Rect, standin_face
from obs_faceswap.worker.processors import STANDIN_SIZE
from tests.ipc.util import PYTHON

W, H = 640, 360


def _i420(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(16, 236, (H, W), dtype=np.uint8), rng.integers(16, 240, (H // 2, W // 2), dtype=np.uint8),
            rng.integers(16, 240, (H // 2, W // 2), dtype=np.uint8)]



def _result(client: FrameChannel, worker: FrameChannel, changed: Rect | None, fmt: int = F.I420) -> None:
    planes = _i420(1)
    client.write_frame("in", [p.tobytes() for p in planes], W, H, [W, W // 2, W // 2], fmt, seq=1)
    index, hdr = worker.claim("in")
    worker.begin_in_place(index)
    worker.commit_write("out", index, seq=1, timestamp=0, width=W, height=H, fmt=hdr.fmt, strides=hdr.strides,
                        offsets=hdr.offsets, nbytes=hdr.nbytes, changed=changed)


def test_plane_boxes_cover_the_chroma_blocks_a_rectangle_touches() -> None:
    assert plane_boxes(F.I420, Rect(10, 20, 30, 40)) == ((10, 30, 20, 40), (5, 15, 10, 20), (5, 15, 10, 20))
    assert plane_boxes(F.NV12, Rect(10, 20, 31, 41)) == ((10, 31, 20, 41), (10, 32, 10, 21))
    assert plane_boxes(F.YUY2, Rect(11, 3, 4, 5)) == ((20, 12, 3, 5),)
    assert plane_boxes(F.BGRA, Rect(1, 2, 3, 4)) == ((4, 12, 2, 4),)


def test_copy_plane_copies_the_rectangle_and_nothing_else() -> None:
    src = np.arange(64 * 100, dtype=np.uint32).astype(np.uint8).reshape(64, 100)
    dst = np.zeros((64, 120), np.uint8)
    copy_plane(dst.ctypes.data + 5 * 120 + 7, 120, src.ctypes.data + 5 * 100 + 7, 100, 30, 20)
    expect = np.zeros_like(dst)
    expect[5:25, 7:37] = src[5:25, 7:37]
    assert np.array_equal(dst, expect)


@pytest.mark.parametrize(("rect", "why"), [
    (Rect(1, 0, 64, 64), "odd"),
    (Rect(0, 3, 64, 64), "odd"),
    (Rect(W - 62, 0, 64, 64), "outside"),
    (Rect(0, 0, 1 << 31, 2), "outside"),
    (Rect(0, 0, 64, 0), "outside"),
])
def test_a_lying_changed_rectangle_is_refused(pair, rect: Rect, why: str) -> None:
    client, worker = pair
    _result(client, worker, Rect(0, 0, 64, 64))
    index = client.latest("out")
    off = client.slot_offset("out", index) + REGION_OFFSET
    struct.pack_into(REGION_FMT, client.segment.buf, off, CHANGED, W, H, rect.x, rect.y, rect.w, rect.h,
                     0, 0, 0, 0, 0, 0, 0)
    assert why in client.header_problem(client.header("out", index))
    assert client.claim("out") is None and client.refused_headers == 1


def test_copy_back_writes_only_the_changed_rectangle(pair) -> None:
    client, worker = pair
    rect = Rect(100, 50, 64, 80)
    _result(client, worker, rect)
    index, hdr = client.claim("out")
    assert hdr.changed == rect
    view = FrameView(hdr.seq, 0, W, H, hdr.fmt, hdr.strides, hdr.offsets, hdr.nbytes, 0,
                     client.segment.address + client.data_offset("out", index), [], True, client, index,
                     hdr.version, None, None, hdr.changed)
    # the caller's frame: other pixels, padded rows
    dst = [np.full((H, W + 32), 7, np.uint8), np.full((H // 2, W // 2 + 16), 9, np.uint8),
           np.full((H // 2, W // 2 + 16), 11, np.uint8)]
    copied = view.copy_to([d.ctypes.data for d in dst], [d.shape[1] for d in dst])
    src = _i420(1)
    assert copied == 64 * 80 + 2 * 32 * 40
    for d, s, (bx, nb, y0, rows), fill in zip(dst, src, plane_boxes(F.I420, rect), (7, 9, 11), strict=True):
        expect = np.full_like(d, fill)
        expect[y0:y0 + rows, bx:bx + nb] = s[y0:y0 + rows, bx:bx + nb]
        assert np.array_equal(d, expect)
    # nothing changed: nothing copied
    view.changed = NO_RECT
    assert view.copy_to([d.ctypes.data for d in dst], [d.shape[1] for d in dst]) == 0
    # a destination with rows shorter than the rectangle needs is refused, not overrun
    with pytest.raises(ValueError, match="shorter"):
        view.changed = rect
        view.copy_to([d.ctypes.data for d in dst], [100, 50, 50])


def test_the_worker_says_what_it_changed_and_converts_only_that(tmp_path) -> None:
    """A real worker, the stand-in processor (it inverts the top-left 64x64 patch) on I420 frames: the
    result names that patch (even-aligned) and a copy back changes nothing else of the caller's frame."""
    client = WorkerClient(PYTHON, max_result_age=5.0).start()
    try:
        assert client.wait_ready(30), client.status
        video = client.open_video({}, processor="standin")
        planes = _i420(3)
        assert video.submit([p.ctypes.data for p in planes], W, H, [W, W // 2, W // 2], "I420", 0,
                            color_matrix=F.color_matrix("709"))
        view = video.wait_result(30, video.submitted_seq)
        assert view is not None, video.status_text
        assert view.changed is not None and view.changed.x == view.changed.y == 0
        assert STANDIN_SIZE <= view.changed.w <= STANDIN_SIZE + 2 and STANDIN_SIZE <= view.changed.h <= STANDIN_SIZE + 2
        frame = [p.copy() for p in planes]
        copied = view.copy_to([p.ctypes.data for p in frame], [W, W // 2, W // 2])
        assert copied < W * H * 3 // 2 // 20
        ys = view.changed.h
        assert not np.array_equal(frame[0][:ys, :view.changed.w], planes[0][:ys, :view.changed.w])  # inverted
        assert np.array_equal(frame[0][ys:], planes[0][ys:]) and np.array_equal(frame[0][:, view.changed.w:],
                                                                                 planes[0][:, view.changed.w:])
        for p in (1, 2):
            assert np.array_equal(frame[p][ys // 2:], planes[p][ys // 2:])
        # the noop processor (bench obs --transport-only) sends the frame back unchanged and names a
        # face-sized square in the middle: the copy-back of one tracked face, with the frame's own bytes
        noop = client.open_video({}, processor="noop")
        assert noop.submit([p.ctypes.data for p in planes], W, H, [W, W // 2, W // 2], "I420", 0)
        view = noop.wait_result(30, noop.submitted_seq)
        assert view is not None and view.changed == standin_face(W, H) and not view.changed.empty
        frame = [p.copy() for p in planes]
        assert view.copy_to([p.ctypes.data for p in frame], [W, W // 2, W // 2]) == 90 * 90 * 3 // 2
        assert all(np.array_equal(a, b) for a, b in zip(frame, planes, strict=True))
    finally:
        client.stop()


def test_copy_plane_handles_a_null_size() -> None:
    buf = ctypes.create_string_buffer(16)
    copy_plane(ctypes.addressof(buf), 4, ctypes.addressof(buf), 4, 0, 4)
    assert buf.raw == b"\0" * 16
