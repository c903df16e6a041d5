"""Frame channel: layout, latest-wins slots, no torn reads across processes, segment hygiene."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time

import pytest

from obs_faceswap.ipc import frames as F
from obs_faceswap.ipc.frames import FrameChannel
from tests.ipc.util import PYTHON, session_processes, shm_exists, wait_for


@pytest.fixture
def chan():
    c = FrameChannel.create(64 * 64 * 4)
    yield c
    c.segment.unlink()
    c.close()


def test_plane_layouts_cover_every_format() -> None:
    assert F.frame_nbytes(F.BGRA, 1280, 720) == 1280 * 720 * 4
    assert F.frame_nbytes(F.BGR, 5, 3) == 45
    assert F.frame_nbytes(F.YUY2, 640, 480) == 640 * 480 * 2
    assert F.plane_layout(F.I420, 640, 480) == ((640, 320, 320), (480, 240, 240), (0, 307200, 384000))
    assert F.plane_layout(F.NV12, 640, 480, [704, 704]) == ((704, 704), (480, 240), (0, 337920))
    assert F.plane_layout(F.BGRA, 100, 10, 512)[0] == (512,)
    with pytest.raises(ValueError, match="smaller than"):
        F.plane_layout(F.BGRA, 100, 10, 300)
    with pytest.raises(ValueError, match="unknown pixel format"):
        F.format_code("RGB565")


def test_newest_input_wins_and_older_are_dropped(chan: FrameChannel) -> None:
    for seq in range(1, 6):
        chan.write_frame("in", bytes([seq]) * 64, 4, 4, None, F.BGRA, seq=seq, timestamp=seq * 10)
    got = chan.claim("in")
    assert got is not None
    index, hdr = got
    assert (hdr.seq, hdr.timestamp, hdr.width, hdr.height, hdr.fmt) == (5, 50, 4, 4, F.BGRA)
    assert bytes(chan.segment.buf[chan.data_offset("in", index):][:64]) == bytes([5]) * 64
    assert chan.claim("in", after_seq=5) is None  # nothing newer


def _process_in_place(chan: FrameChannel, value: int, after_seq: int = -1) -> int:
    """What the worker does: claim the newest input, overwrite it in place, publish it as the result."""
    got = chan.claim("in", after_seq)
    assert got is not None
    index, hdr = got
    chan.begin_in_place(index)
    off = chan.data_offset("in", index)
    chan.segment.buf[off:off + hdr.nbytes] = bytes([value]) * hdr.nbytes
    chan.commit_write("out", index, seq=hdr.seq, timestamp=hdr.timestamp, width=hdr.width, height=hdr.height,
                      fmt=hdr.fmt, strides=hdr.strides, offsets=hdr.offsets, nbytes=hdr.nbytes)
    return hdr.seq


def test_result_is_the_input_slot_processed_in_place(chan: FrameChannel) -> None:
    chan.write_frame("in", b"\x01" * 64, 4, 4, None, F.BGRA, seq=1, timestamp=7)
    assert _process_in_place(chan, 0xAA) == 1
    assert chan.held("in") == -1  # publishing the result released the input
    index, hdr = chan.claim("out")
    assert (hdr.seq, hdr.timestamp) == (1, 7)
    assert bytes(chan.segment.buf[chan.data_offset("out", index):][:64]) == b"\xaa" * 64
    assert chan.claim("in", after_seq=1) is None  # the worker does not see its own result as new input


def test_writer_never_touches_a_held_slot(chan: FrameChannel) -> None:
    chan.write_frame("in", b"\x01" * 64, 4, 4, None, F.BGRA, seq=1)
    _process_in_place(chan, 0x11)
    out_index, out_hdr = chan.claim("out")  # the client shows this result...
    chan.write_frame("in", b"\x02" * 64, 4, 4, None, F.BGRA, seq=2)
    in_index, _ = chan.claim("in", after_seq=1)  # ...while the worker works on this input
    for seq in range(3, 60):  # the client keeps submitting
        chan.write_frame("in", bytes([seq]) * 64, 4, 4, None, F.BGRA, seq=seq)
    assert bytes(chan.segment.buf[chan.data_offset("out", out_index):][:64]) == b"\x11" * 64
    assert bytes(chan.segment.buf[chan.data_offset("in", in_index):][:64]) == b"\x02" * 64
    assert chan.still_valid("out", out_index, out_hdr.version)
    assert chan.latest("in") not in (out_index, in_index)
    got = chan.claim("in", after_seq=2)
    assert got is not None and got[1].seq == 59


def test_planes_with_padding_and_pointer_sources(chan: FrameChannel) -> None:
    import ctypes

    y = ctypes.create_string_buffer(b"\x10" * (8 * 4))  # stride 8 for width 6
    u = ctypes.create_string_buffer(b"\x20" * (4 * 2))
    v = ctypes.create_string_buffer(b"\x30" * (4 * 2))
    chan.write_frame("in", [ctypes.addressof(y), ctypes.addressof(u), ctypes.addressof(v)], 6, 4, [8, 4, 4],
                     F.I420, seq=1)
    index, hdr = chan.claim("in")
    assert hdr.strides == (8, 4, 4) and hdr.offsets == (0, 32, 40) and hdr.nbytes == 48
    data = bytes(chan.segment.buf[chan.data_offset("in", index):][:48])
    assert data == b"\x10" * 32 + b"\x20" * 8 + b"\x30" * 8
    with pytest.raises(ValueError, match="exceeds the channel capacity"):
        chan.write_frame("in", b"\0" * (128 * 128 * 4), 128, 128, None, F.BGRA, seq=2)
    with pytest.raises(ValueError, match="bytes, .* needed"):
        chan.write_frame("in", b"\0" * 10, 4, 4, None, F.BGRA, seq=2)
    assert chan.claim("in", after_seq=1) is None  # refused frames were never published


def test_segments_are_private_and_unguessable() -> None:
    a, b = FrameChannel.create(1024), FrameChannel.create(1024)
    try:
        for c in (a, b):
            assert re.fullmatch(r"ofs_[0-9a-f]{24}", c.name)
            mode = stat.S_IMODE(os.stat(f"/dev/shm/{c.name}").st_mode)
            assert mode == 0o600, oct(mode)
        assert a.name != b.name
    finally:
        for c in (a, b):
            c.segment.unlink()
            c.close()
    assert not shm_exists(a.name) and not shm_exists(b.name)


_ATTACH_AND_EXIT = """
import json, os, sys
from obs_faceswap.ipc.frames import FrameChannel
from multiprocessing import resource_tracker
c = FrameChannel.attach(sys.argv[1])
i, h = c.claim("in")
c.begin_in_place(i)
c.segment.buf[c.data_offset("in", i):c.data_offset("in", i) + 64] = b"\\x07" * 64
c.commit_write("out", i, seq=h.seq, timestamp=0, width=4, height=4, fmt=1, strides=h.strides, offsets=h.offsets,
               nbytes=64)
c.close()
print(json.dumps({"tracker": resource_tracker._resource_tracker._pid,
                  "exists_after_close": os.path.exists("/dev/shm/" + sys.argv[1])}))
"""


def test_other_process_exiting_does_not_unlink_our_segment(chan: FrameChannel) -> None:
    chan.write_frame("in", b"\x01" * 64, 4, 4, None, F.BGRA, seq=1)
    proc = subprocess.Popen([PYTHON, "-c", _ATTACH_AND_EXIT, chan.name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report == {"tracker": None, "exists_after_close": True}  # no resource tracker on that side
    # join whatever the process left behind (a resource tracker unlinks "leaked" segments when it
    # exits, after its client did), instead of guessing how long a late unlink could take
    assert wait_for(lambda: not session_processes(proc.pid), 30), session_processes(proc.pid)
    assert shm_exists(chan.name)
    index, hdr = chan.claim("out")
    assert bytes(chan.segment.buf[chan.data_offset("out", index):][:64]) == b"\x07" * 64


_WORKER = """
import sys, time
from obs_faceswap.ipc.frames import FrameChannel
c = FrameChannel.attach(sys.argv[1])
t_end = time.monotonic() + float(sys.argv[2])
last = done = 0
while time.monotonic() < t_end:
    got = c.claim("in", last)
    if got is None:
        continue
    i, h = got
    last = h.seq
    c.begin_in_place(i)
    off = c.data_offset("in", i)
    c.segment.buf[off:off + h.nbytes] = bytes([(h.seq & 0xFF) ^ 0x55]) * h.nbytes
    c.commit_write("out", i, seq=h.seq, timestamp=0, width=h.width, height=h.height, fmt=h.fmt, strides=h.strides,
                   offsets=h.offsets, nbytes=h.nbytes)
    done += 1
c.close()
print(done)
"""


def test_no_torn_frames_in_either_direction_across_processes() -> None:
    """A worker process turns inputs into results in place while this process keeps submitting
    and reading: no result is ever half-written, and no held result changes under the reader."""
    n = 256 * 1024
    chan = FrameChannel.create(n)
    try:
        proc = subprocess.Popen([PYTHON, "-c", _WORKER, chan.name, "2.0"], stdout=subprocess.PIPE, text=True)
        checked = torn = 0
        last = seq = 0
        while proc.poll() is None:
            seq += 1
            chan.write_frame("in", bytes([seq & 0xFF]) * n, n // 4, 1, None, F.BGRA, seq=seq)
            got = chan.claim("out", last)
            if got is None:
                continue
            index, hdr = got
            last = hdr.seq
            off = chan.data_offset("out", index)
            data = bytes(chan.segment.buf[off:off + n])
            chan.write_frame("in", bytes([seq & 0xFF]) * n, n // 4, 1, None, F.BGRA, seq=seq + 1)  # meanwhile
            seq += 1
            time.sleep(0.0005)
            again = bytes(chan.segment.buf[off:off + n])
            want = bytes([(hdr.seq & 0xFF) ^ 0x55])
            if data.count(want) != n or again != data:
                torn += 1
            checked += 1
        processed = int(proc.stdout.read())
        assert proc.wait() == 0
        assert processed >= checked > 50, (processed, checked)
        assert torn == 0
    finally:
        chan.segment.unlink()
        chan.close()


_STDLIB_ONLY = """
import sys
import obs_faceswap.ipc
from obs_faceswap.ipc import WorkerClient, audio, control, frames, shm, supervisor, wake
third = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'cv2', 'onnxruntime', 'onnx', 'scipy'})
print('third-party:', third)
"""


def test_ipc_imports_without_site_packages() -> None:
    """OBS' embedded Python has no numpy: the client side must load from the standard library alone."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([PYTHON, "-S", "-c", _STDLIB_ONLY], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": root})
    assert out.returncode == 0, out.stderr
    assert "third-party: []" in out.stdout
