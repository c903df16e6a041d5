"""Region frames (issue 19): a downscaled whole frame plus a full-resolution crop in one slot; the
worker's result says what it swapped and where to read next. Every field is checked against the
frame and the slot on both sides: a lying header is refused, never followed."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from obs_faceswap.ipc import frames as F
from obs_faceswap.ipc.frames import FrameChannel
from obs_faceswap.ipc.regions import (
    NO_RECT,
    REGION_FMT,
    REGION_OFFSET,
    Rect,
    RegionHeader,
    clamp,
    next_region,
    region_problem,
    small_size,
)
from obs_faceswap.worker.processors import InvertProcessor
from obs_faceswap.worker.region_frames import RegionState

FW, FH = 1280, 720



def _frame() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (FH, FW, 4), dtype=np.uint8)


def _send(client: FrameChannel, frame: np.ndarray, crop: Rect, seq: int = 1) -> tuple[np.ndarray, np.ndarray]:
    sw, sh = small_size(FW, FH)
    small = np.ascontiguousarray(frame[::FH // sh, ::FW // sw][:sh, :sw])
    px = np.ascontiguousarray(frame[crop.y:crop.y + crop.h, crop.x:crop.x + crop.w])
    client.write_region_frame(small.ctypes.data, sw, sh, sw * 4, F.BGRA, frame_w=FW, frame_h=FH, seq=seq,
                              crop=px.ctypes.data if not crop.empty else 0, crop_rect=crop, crop_stride=crop.w * 4)
    return small, px


def _forge(chan: FrameChannel, index: int, **fields: int) -> None:
    """Overwrite region-block fields of a published slot, as a broken or hostile peer could."""
    names = ["flags", "frame_w", "frame_h", "cx", "cy", "cw", "ch", "cs", "res", "co", "nx", "ny", "nw", "nh"]
    off = chan.slot_offset("in", index) + REGION_OFFSET
    values = dict(zip(names, struct.unpack_from(REGION_FMT, chan.segment.buf, off), strict=True))
    values.update(fields)
    struct.pack_into(REGION_FMT, chan.segment.buf, off, *(values[n] for n in names))


def test_small_frame_and_crop_round_trip_and_result_names_its_region(pair) -> None:
    client, worker = pair
    frame = _frame()
    crop = Rect(400, 100, 256, 288)
    small, px = _send(client, frame, crop)
    index, hdr = worker.claim("in")
    assert hdr.region == RegionHeader(FW, FH, crop, crop.w * 4, F.align(small.nbytes))
    assert (hdr.width, hdr.height) == small_size(FW, FH) == (320, 180)
    worker.begin_in_place(index)
    region = RegionState().process(InvertProcessor(), worker.segment.buf, worker.data_offset("in", index), hdr)
    # the test processor has no track: it processes the crop and asks for the whole frame next
    assert region.crop == crop and region.next == Rect(0, 0, FW, FH)
    worker.commit_write("out", index, seq=1, timestamp=0, width=hdr.width, height=hdr.height, fmt=hdr.fmt,
                        strides=hdr.strides, offsets=hdr.offsets, nbytes=hdr.nbytes, region=region)
    j, out = client.claim("out")
    assert out.region == region
    base = client.data_offset("out", j) + out.region.crop_offset
    got = np.ndarray((crop.h, crop.w, 4), np.uint8, client.segment.buf, base, (out.region.crop_stride, 4, 1))
    assert np.array_equal(got[..., :3], 255 - px[..., :3]) and np.array_equal(got[..., 3], px[..., 3])
    # the downscaled frame is left as it came
    small_out = np.ndarray(small.shape, np.uint8, client.segment.buf, client.data_offset("out", j))
    assert np.array_equal(small_out, small)


@pytest.mark.parametrize("fields, why", [
    ({"frame_w": 0}, "region frame of 0x720"),
    ({"frame_w": 1 << 20}, "region frame"),
    ({"frame_w": 200}, "larger than its frame"),
    ({"cx": FW - 100}, "outside the 1280x720 frame"),
    ({"ch": 1 << 30}, "outside"),
    ({"cs": 16}, "shorter than a row"),
    ({"co": 4 << 20}, "past the frame's"),
    ({"cs": 1 << 30}, "past the frame's"),
    ({"nx": FW, "nw": 64, "nh": 64}, "next region"),
    ({"nw": 1 << 31, "nh": 5}, "next region"),
])
def test_a_lying_region_header_is_refused_on_both_sides(pair, fields: dict[str, int], why: str) -> None:
    client, worker = pair
    _send(client, _frame(), Rect(400, 100, 256, 288))
    index = client.latest("in")
    hdr = client.header("in", index)
    _forge(client, index, **fields)
    forged = client.header("in", index)
    assert why in client.header_problem(forged)
    assert worker.claim("in") is None and worker.refused_headers == 1
    # the client refuses the same from the worker: a result is never taken with such a block
    assert hdr.region is not None and not client.header_problem(hdr)


def test_a_region_frame_in_a_planar_format_is_refused(pair) -> None:
    client, worker = pair
    _send(client, _frame(), NO_RECT)
    index = client.latest("in")
    struct.pack_into("<I", client.segment.buf, client.slot_offset("in", index) + 8 + 8 + 8 + 8, F.I420)
    assert worker.claim("in") is None


def test_the_client_refuses_bad_region_frames_before_writing() -> None:
    chan = FrameChannel.create(1 << 20)
    try:
        small = np.zeros((36, 64, 4), np.uint8)
        with pytest.raises(ValueError, match="outside"):
            chan.write_region_frame(small.ctypes.data, 64, 36, 256, F.BGRA, frame_w=128, frame_h=72, seq=1,
                                    crop=small.ctypes.data, crop_rect=Rect(100, 0, 64, 36), crop_stride=256)
        with pytest.raises(ValueError, match="region frames are"):
            chan.write_region_frame(small.ctypes.data, 64, 36, 256, F.I420, frame_w=128, frame_h=72, seq=1)
        assert chan.latest("in") == -1
    finally:
        chan.segment.unlink()
        chan.close()


def test_region_follows_the_track_with_a_margin_and_stays_in_the_frame() -> None:
    face = (600.0, 200.0, 800.0, 440.0)  # 200 x 240 px
    r = next_region([face], FW, FH)
    assert r.w % 32 == 0 and r.h % 32 == 0
    pad = 0.5 * 240  # the margin in face sizes on every side
    assert r.contains(Rect(int(600 - pad), int(200 - pad), int(200 + 2 * pad), int(240 + 2 * pad)))
    assert r.inside(FW, FH)
    # the face moves: the region moves with it and keeps its size (the client's textures stay)
    moved = next_region([(640.0, 210.0, 840.0, 450.0)], FW, FH, previous=r)
    assert (moved.w, moved.h) == (r.w, r.h) and moved.x > r.x
    # near the frame's corner it is moved inside, not cut
    corner = next_region([(1200.0, 650.0, 1280.0, 720.0)], FW, FH, previous=NO_RECT)
    assert corner.inside(FW, FH) and corner.x + corner.w == FW and corner.y + corner.h == FH
    # a face that grows much gets a bigger region; one that shrinks much a smaller one
    assert next_region([(400.0, 100.0, 900.0, 700.0)], FW, FH, previous=r).w > r.w
    assert next_region([(650.0, 250.0, 700.0, 300.0)], FW, FH, previous=r).w < r.w
    # a region never exceeds the frame; no faces (or nonsense) means no region
    assert next_region([(-5000.0, -5000.0, 9000.0, 9000.0)], FW, FH) == Rect(0, 0, FW, FH)
    assert next_region([], FW, FH) == NO_RECT
    assert next_region([(float("nan"), 0.0, 1.0, 1.0)], FW, FH) == NO_RECT
    # two faces: one region over both
    both = next_region([(100.0, 100.0, 200.0, 200.0), (900.0, 300.0, 1000.0, 400.0)], FW, FH)
    assert both.contains(Rect(100, 100, 900, 300))


def test_small_size_and_clamp() -> None:
    assert small_size(1920, 1080) == (320, 180)
    assert small_size(320, 200) == (320, 200)  # small frames are sent whole
    assert small_size(1080, 1920) == (180, 320)
    assert clamp(Rect(-10, -10, 100, 100), 50, 50) == Rect(0, 0, 50, 50)
    assert clamp(Rect(60, 0, 10, 10), 50, 50) == NO_RECT
    assert region_problem(RegionHeader(64, 64), 64, 64, 64 * 64 * 4) == ""


def test_a_crop_may_come_without_the_downscaled_frame_but_not_nothing(pair) -> None:
    client, worker = pair
    frame = _frame()
    crop = Rect(0, 0, 64, 32)
    px = np.ascontiguousarray(frame[:32, :64])
    client.write_region_frame(0, 0, 0, 0, F.BGRA, frame_w=FW, frame_h=FH, seq=1, crop=px.ctypes.data,
                              crop_rect=crop, crop_stride=256)
    index, hdr = worker.claim("in")
    assert (hdr.width, hdr.height) == (0, 0) and hdr.region.crop == crop and hdr.region.crop_offset == 0
    worker.release("in")
    with pytest.raises(ValueError, match="needs a downscaled frame or a crop"):
        client.write_region_frame(0, 0, 0, 0, F.BGRA, frame_w=FW, frame_h=FH, seq=2)
    # forged: neither image (the crop emptied after the fact) is refused by the reader
    _forge(client, client.latest("in"), cw=0, ch=0)
    assert worker.claim("in") is None and worker.refused_headers == 1
