"""Frames in every pixel format and audio through a real worker, with the test processors."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient
from tests.ipc.util import PYTHON

W, H = 128, 96


@pytest.fixture(scope="module")
def client():
    c = WorkerClient(PYTHON).start()
    assert c.wait_ready(30), c.status
    yield c
    c.stop()


@pytest.fixture(scope="module")
def picture(astronaut_bgr: np.ndarray) -> np.ndarray:
    return cv2.resize(astronaut_bgr, (W, H), interpolation=cv2.INTER_AREA)


def _pad(rows: np.ndarray, stride: int) -> np.ndarray:
    out = np.full((rows.shape[0], stride), 77, np.uint8)
    out[:, :rows.shape[1]] = rows
    return out


def encode(bgr: np.ndarray, fmt: str) -> tuple[bytes, list[int]]:
    """The frame as OBS would hand it over: planes with padded rows (stride > row)."""
    h, w = bgr.shape[:2]
    if fmt in ("BGRA", "BGRX", "RGBA"):
        px = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA if fmt != "RGBA" else cv2.COLOR_BGR2RGBA)
        px[..., 3] = np.arange(w, dtype=np.uint8)[None, :]  # an alpha pattern that must survive
        return _pad(px.reshape(h, w * 4), w * 4 + 64).tobytes(), [w * 4 + 64]
    if fmt == "BGR":
        return _pad(bgr.reshape(h, w * 3), w * 3 + 32).tobytes(), [w * 3 + 32]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    y, rest = yuv[:h], yuv[h:].reshape(-1)
    q = (w // 2) * (h // 2)
    u, v = rest[:q].reshape(h // 2, w // 2), rest[q:].reshape(h // 2, w // 2)
    if fmt == "I420":
        return (_pad(y, w + 32).tobytes() + _pad(u, w // 2 + 16).tobytes() + _pad(v, w // 2 + 16).tobytes(),
                [w + 32, w // 2 + 16, w // 2 + 16])
    if fmt == "NV12":
        uv = np.stack([u, v], axis=-1).reshape(h // 2, w)
        return _pad(y, w + 32).tobytes() + _pad(uv, w + 32).tobytes(), [w + 32, w + 32]
    yuy2 = np.empty((h, w // 2, 4), np.uint8)
    yuy2[..., 0], yuy2[..., 2] = y[:, 0::2], y[:, 1::2]
    yuy2[..., 1], yuy2[..., 3] = np.repeat(u, 2, axis=0), np.repeat(v, 2, axis=0)
    return _pad(yuy2.reshape(h, w * 2), w * 2 + 64).tobytes(), [w * 2 + 64]


def decode(data: bytes, fmt: str, strides: list[int], w: int, h: int) -> np.ndarray:
    buf = np.frombuffer(data, np.uint8)
    if fmt in ("BGRA", "BGRX", "RGBA"):
        px = buf[:h * strides[0]].reshape(h, strides[0])[:, :w * 4].reshape(h, w, 4)
        return cv2.cvtColor(px, cv2.COLOR_BGRA2BGR if fmt != "RGBA" else cv2.COLOR_RGBA2BGR)
    if fmt == "BGR":
        return buf.reshape(h, strides[0])[:, :w * 3].reshape(h, w, 3).copy()
    y = buf[:h * strides[0]].reshape(h, strides[0])[:, :w]
    if fmt == "YUY2":
        return cv2.cvtColor(np.ascontiguousarray(buf.reshape(h, strides[0])[:, :w * 2].reshape(h, w, 2)),
                            cv2.COLOR_YUV2BGR_YUY2)
    yuv = np.empty((h * 3 // 2, w), np.uint8)
    yuv[:h] = y
    rest = buf[h * strides[0]:]
    if fmt == "NV12":
        yuv[h:] = rest.reshape(h // 2, strides[1])[:, :w]
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_NV12)
    q = (w // 2) * (h // 2)
    u = rest[:(h // 2) * strides[1]].reshape(h // 2, strides[1])[:, :w // 2]
    v = rest[(h // 2) * strides[1]:].reshape(h // 2, strides[2])[:, :w // 2]
    flat = yuv[h:].reshape(-1)
    flat[:q], flat[q:] = u.reshape(-1), v.reshape(-1)
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)


FORMATS = ["BGRA", "RGBA", "BGRX", "BGR", "I420", "NV12", "YUY2"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_through_the_invert_processor(client, picture, fmt) -> None:
    video = client.open_video({}, processor="invert")
    try:
        data, strides = encode(picture, fmt)
        assert video.submit(data, W, H, strides, fmt, 42)
        view = video.wait_result(10, video.submitted_seq)
        assert view is not None, video.status_text
        assert (view.format_name, view.width, view.height, list(view.strides)) == (fmt, W, H, strides)
        out = view.tobytes()
        assert len(out) == len(data)
        got = decode(out, fmt, strides, W, H).astype(int)
        want = 255 - decode(data, fmt, strides, W, H).astype(int)
        err = np.abs(got - want).mean()
        assert err < (0.01 if fmt in ("BGRA", "RGBA", "BGRX", "BGR") else 4.0), err
        if fmt in ("BGRA", "RGBA", "BGRX"):  # alpha kept byte for byte
            a_in = np.frombuffer(data, np.uint8).reshape(H, strides[0])[:, 3:W * 4:4]
            a_out = np.frombuffer(out, np.uint8).reshape(H, strides[0])[:, 3:W * 4:4]
            assert np.array_equal(a_in, a_out)
    finally:
        video.close()


@pytest.mark.parametrize("fmt", ["I420", "NV12", "YUY2", "BGRA"])
def test_noop_copies_every_byte(client, picture, fmt) -> None:
    video = client.open_video({}, processor="noop")
    try:
        data, strides = encode(picture, fmt)
        assert video.submit(data, W, H, strides, fmt)
        view = video.wait_result(10, video.submitted_seq)
        assert view is not None and view.tobytes() == data
        planes = [bytes(p) for p in view.planes]
        assert b"".join(planes) == data and len(planes) == len(strides)
    finally:
        video.close()


def test_standin_model_runs_per_frame(client, picture) -> None:
    video = client.open_video({"provider": "cpu"}, processor="standin")
    try:
        big = cv2.resize(picture, (320, 240))
        data, strides = encode(big, "BGRA")
        assert video.submit(data, 320, 240, strides, "BGRA")
        view = video.wait_result(30, video.submitted_seq)
        assert view is not None, video.status_text
        got = decode(view.tobytes(), "BGRA", strides, 320, 240).astype(int)
        assert np.abs(got[:64, :64] - (255 - big[:64, :64].astype(int))).max() <= 1  # the model's work
        assert np.array_equal(got[64:], big[64:]) and np.array_equal(got[:64, 64:], big[:64, 64:])
        assert wait_for_stats(video)
        assert "CPUExecutionProvider" in video.stats["providers"]
        assert "standin:" in video.status_text and "CPU" in video.status_text
    finally:
        video.close()


def wait_for_stats(video) -> bool:
    from tests.ipc.util import wait_for

    return wait_for(lambda: video.stats.get("frames", 0) >= 1, 5)


def test_audio_noop_channel_returns_the_same_samples_with_timestamps(client) -> None:
    audio = client.open_audio(48000, 2, {}, processor="noop")
    try:
        sent_l: list[float] = []
        got_l: list[float] = []
        ts_seen: list[int] = []
        for k in range(10):
            left = array.array("f", [float(k * 480 + i) for i in range(480)])
            right = array.array("f", [0.25] * 480)
            assert audio.push([left, right], 480, timestamp=1_000_000_000 + k * 10_000_000)
            sent_l += list(left)
        from tests.ipc.util import wait_for

        assert wait_for(lambda: audio.available() >= 4800, 10)
        for _ in range(10):
            got = audio.pull(480)
            assert got is not None
            planes, ts = got
            got_l += list(array.array("f", planes[0]))
            assert set(array.array("f", planes[1])) == {0.25}
            ts_seen.append(ts)
        assert got_l == sent_l
        assert ts_seen == [1_000_000_000 + k * 10_000_000 for k in range(10)]
        assert audio.pull(480) is None  # underrun: nothing invented
        assert audio.latency_ms == 0.0
    finally:
        audio.close()


def test_audio_voice_channel_is_a_fixed_delay_stream(client) -> None:
    import math

    from tests.ipc.util import wait_for

    audio = client.open_audio(48000, 1, {"backend": "dsp", "pitch": 4.0}, processor="voice")
    try:
        n, blocks = 480, 60
        tone = array.array("f", [0.3 * math.sin(2 * math.pi * 220 * i / 48000) for i in range(n * blocks)])
        for k in range(blocks):
            assert audio.push([tone[k * n:(k + 1) * n]], n, k * 10_000_000)
        assert wait_for(lambda: audio.available() >= n * blocks, 30), audio.status_text
        planes, ts = audio.pull(n * blocks)
        out = array.array("f", planes[0])
        assert len(out) == n * blocks and ts == 0  # exactly as many frames as went in
        assert audio.available() == 0
        assert wait_for(lambda: audio.latency_ms > 0, 5)
        assert max(abs(x) for x in out[int(audio.latency_ms * 48):]) > 0.05  # the converted voice
        assert "ms latency" in audio.status_text
    finally:
        audio.close()


# -- colour: full-range BT.709 (MJPEG webcams) keeps its colours through the worker ------------------

PATCHES = [(0, 0, 0), (255, 255, 255), (0, 0, 255), (0, 255, 0), (255, 0, 0), (10, 10, 10), (245, 245, 245),
           (120, 150, 200)]  # BGR: black, white, red, green, blue, near black, near white, skin


def _bt709_full_encode(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Textbook BT.709 full-range Y, Cb, Cr (0-255) of each pixel."""
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return y, (b - y) / 1.8556 + 128.0, (r - y) / 1.5748 + 128.0


def _bt709_full_decode(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    y, u, v = (a.astype(np.float64) for a in (y, u, v))
    r = y + 1.5748 * (v - 128)
    g = y - 0.187324 * (u - 128) - 0.468124 * (v - 128)
    b = y + 1.8556 * (u - 128)
    return np.clip(np.stack([b, g, r], -1), 0, 255)


def _patch_frame() -> np.ndarray:
    """64x32 BGR: eight 16x16 patches."""
    img = np.zeros((32, 64, 3), np.uint8)
    for k, c in enumerate(PATCHES):
        img[(k // 4) * 16:(k // 4 + 1) * 16, (k % 4) * 16:(k % 4 + 1) * 16] = c
    return img


def _encode_709_full(bgr: np.ndarray, fmt: str) -> tuple[bytes, list[int]]:
    h, w = bgr.shape[:2]
    y, u, v = _bt709_full_encode(bgr)
    y8 = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    u2 = np.clip(np.rint(u.reshape(h // 2, 2, w // 2, 2).mean((1, 3))), 0, 255).astype(np.uint8)
    v2 = np.clip(np.rint(v.reshape(h // 2, 2, w // 2, 2).mean((1, 3))), 0, 255).astype(np.uint8)
    if fmt == "I420":
        return y8.tobytes() + u2.tobytes() + v2.tobytes(), [w, w // 2, w // 2]
    if fmt == "NV12":
        return y8.tobytes() + np.stack([u2, v2], -1).tobytes(), [w, w]
    yuy2 = np.empty((h, w // 2, 4), np.uint8)
    yuy2[..., 0], yuy2[..., 2] = y8[:, 0::2], y8[:, 1::2]
    yuy2[..., 1] = np.clip(np.rint(u.reshape(h, w // 2, 2).mean(-1)), 0, 255)
    yuy2[..., 3] = np.clip(np.rint(v.reshape(h, w // 2, 2).mean(-1)), 0, 255)
    return yuy2.tobytes(), [w * 2]


def _decode_709_full(data: bytes, fmt: str, w: int, h: int) -> np.ndarray:
    buf = np.frombuffer(data, np.uint8)
    if fmt == "YUY2":
        d = buf.reshape(h, w // 2, 4)
        y = np.empty((h, w), np.uint8)
        y[:, 0::2], y[:, 1::2] = d[..., 0], d[..., 2]
        u, v = np.repeat(d[..., 1], 2, axis=1), np.repeat(d[..., 3], 2, axis=1)
        return _bt709_full_decode(y, u, v)
    y = buf[:w * h].reshape(h, w)
    if fmt == "NV12":
        uv = buf[w * h:].reshape(h // 2, w // 2, 2)
        u, v = uv[..., 0], uv[..., 1]
    else:
        q = (w // 2) * (h // 2)
        u, v = buf[w * h:w * h + q].reshape(h // 2, w // 2), buf[w * h + q:].reshape(h // 2, w // 2)
    return _bt709_full_decode(y, *(np.repeat(np.repeat(a, 2, axis=0), 2, axis=1) for a in (u, v)))


def _patch_error(got: np.ndarray, want: np.ndarray) -> float:
    """Worst mean difference over the patches' interiors (chroma smoothing blurs their edges)."""
    worst = 0.0
    for k in range(len(PATCHES)):
        y0, x0 = (k // 4) * 16 + 3, (k % 4) * 16 + 3
        d = np.abs(got[y0:y0 + 10, x0:x0 + 10] - want[y0:y0 + 10, x0:x0 + 10]).mean()
        worst = max(worst, float(d))
    return worst


@pytest.mark.parametrize("fmt", ["I420", "NV12", "YUY2"])
def test_full_range_bt709_frames_keep_their_colours(client, fmt) -> None:
    from obs_faceswap.ipc.frames import color_matrix

    frame = _patch_frame()
    data, strides = _encode_709_full(frame, fmt)
    h, w = frame.shape[:2]
    matrix = color_matrix("709", full_range=True)
    errors = {}
    for processor in ("noop", "invert"):
        for label, m in (("709 full", matrix), ("no matrix", None)):
            video = client.open_video({}, processor=processor)
            try:
                assert video.submit(data, w, h, strides, fmt, 0, color_matrix=m)
                view = video.wait_result(10, video.submitted_seq)
                assert view is not None, video.status_text
                got = _decode_709_full(view.tobytes(), fmt, w, h)
            finally:
                video.close()
            want = frame.astype(np.float64) if processor == "noop" else 255.0 - frame
            errors[processor, label] = _patch_error(got, want)
    assert errors["noop", "709 full"] < 2.0, errors  # the bytes came back (encoding rounding only)
    assert errors["invert", "709 full"] < 3.0, errors  # blacks stay black, reds stay red: no shift
    assert errors["invert", "no matrix"] > 8.0, errors  # what the old BT.601 limited-range guess did


def test_conversion_sees_the_colours_obs_shows() -> None:
    """What the face pipeline gets from a full-range BT.709 / limited BT.601 frame is the RGB OBS draws."""
    from obs_faceswap.ipc import frames as F
    from obs_faceswap.worker import convert

    frame = _patch_frame()
    data, strides = _encode_709_full(frame, "I420")
    h, w = frame.shape[:2]
    st, _, offs = F.plane_layout(F.I420, w, h, strides)
    hdr = F.SlotHeader(0, 1, 0, w, h, F.I420, 3, st, offs, len(data), 0, F.color_matrix("709", True)[:12])
    bgr = convert.to_bgr(np.frombuffer(data, np.uint8), hdr)
    assert _patch_error(bgr.astype(np.float64), frame.astype(np.float64)) < 2.0
    # limited-range BT.601 through the matrix path agrees with OpenCV's own BT.601 conversion
    i420 = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
    hdr601 = F.SlotHeader(0, 1, 0, w, h, F.I420, 3, (w, w // 2, w // 2), (0, w * h, w * h + w * h // 4),
                          i420.size, 0, F.color_matrix("601", False)[:12])
    ours = convert.to_bgr(i420.reshape(-1), hdr601).astype(int)
    assert _patch_error(ours.astype(np.float64), cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420).astype(np.float64)) < 3


def test_first_frame_is_answered_however_long_the_worker_takes() -> None:
    """A channel's first frame waits while the worker attaches it and builds the processor (models
    load for seconds): ``wait_result`` must hand over that result even though it is older than
    the OBS freshness limit. (It used to apply that limit, so the first result was thrown away as
    stale and nothing came until another frame was submitted.)"""
    with WorkerClient(PYTHON, max_result_age=0.0) as c:  # every result is "too old" for OBS
        assert c.wait_ready(30), c.status
        video = c.open_video({}, processor="invert")
        frame = np.full((16, 16, 3), 40, np.uint8)
        assert video.submit(frame, 16, 16, 48, "BGR")  # exactly one frame, never resubmitted
        view = video.wait_result(10, video.submitted_seq)
        assert view is not None, video.status_text
        assert view.seq == 1 and set(view.tobytes()) == {215}
        assert video.result() is None  # OBS's own path still refuses a result that old


@pytest.mark.parametrize("fmt", ["I420", "NV12", "YUY2"])
def test_unchanged_pixels_survive_the_yuv_round_trip(picture, fmt) -> None:
    """Outside the swapped face nothing may move: BGR -> (unchanged) -> YUV gives back the input."""
    from obs_faceswap.ipc import frames as F
    from obs_faceswap.worker import convert

    data, strides = _encode_709_full(picture, fmt)
    code = F.FORMATS[fmt]
    st, _, offs = F.plane_layout(code, W, H, strides)
    hdr = F.SlotHeader(0, 1, 0, W, H, code, len(st), st, offs, len(data), 0, F.color_matrix("709", True)[:12])
    src = np.frombuffer(data, np.uint8)
    dst = np.zeros_like(src)
    convert.from_bgr(convert.to_bgr(src, hdr), hdr, src, dst)
    diff = np.abs(dst.astype(int) - src.astype(int))
    # rounding only; a few bytes more where a Y/chroma pair lies outside the RGB cube and clips
    assert (diff > 2).mean() < 0.002 and diff.mean() < 0.1, ((diff > 2).mean(), diff.mean())


@pytest.mark.parametrize("fmt", ["I420", "NV12", "YUY2"])
def test_chroma_the_processor_draws_is_averaged_on_the_way_back(client, fmt) -> None:
    """Fine colour detail from the processor (a face edge, a 1-pixel chroma checkerboard here)
    comes back as the mean colour of each 2x2 (YUY2: 2x1) block, not as whichever pixel happens
    to sit at the block's corner (which would tint edges)."""
    from obs_faceswap.ipc.frames import color_matrix

    w, h = 32, 16
    # a luma checkerboard of black and white under strong chroma: decoded to RGB the two pixels
    # clip differently, so the inverted picture has a different colour in every other pixel
    y = np.where((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2 == 0, 255, 0).astype(np.uint8)
    if fmt == "YUY2":
        yuy2 = np.empty((h, w // 2, 4), np.uint8)
        yuy2[..., 0], yuy2[..., 2], yuy2[..., 1], yuy2[..., 3] = y[:, 0::2], y[:, 1::2], 255, 255
        data, strides = yuy2.tobytes(), [w * 2]
    elif fmt == "NV12":
        data, strides = y.tobytes() + bytes([255]) * (w * h // 2), [w, w]
    else:
        data, strides = y.tobytes() + bytes([255]) * (w * h // 2), [w, w // 2, w // 2]
    seen_bgr = np.rint(_bt709_full_decode(y, np.full((h, w), 255), np.full((h, w), 255)))
    _, u_px, v_px = _bt709_full_encode(255 - seen_bgr)  # what the invert processor drew, per pixel
    by = 1 if fmt == "YUY2" else 2
    want_u = u_px.reshape(h // by, by, w // 2, 2).mean((1, 3))
    want_v = v_px.reshape(h // by, by, w // 2, 2).mean((1, 3))
    assert np.abs(u_px[0, 0] - u_px[0, 1]) > 30  # the two pixels of a block really differ

    video = client.open_video({}, processor="invert")
    try:
        assert video.submit(data, w, h, strides, fmt, 0, color_matrix=color_matrix("709", full_range=True))
        view = video.wait_result(10, video.submitted_seq)
        assert view is not None, video.status_text
        out = np.frombuffer(view.tobytes(), np.uint8)
    finally:
        video.close()
    if fmt == "YUY2":
        d = out.reshape(h, w // 2, 4)
        got_u, got_v = d[..., 1], d[..., 3]
    elif fmt == "NV12":
        uv = out[w * h:].reshape(h // 2, w // 2, 2)
        got_u, got_v = uv[..., 0], uv[..., 1]
    else:
        q = (w // 2) * (h // 2)
        got_u, got_v = out[w * h:w * h + q].reshape(h // 2, w // 2), out[w * h + q:].reshape(h // 2, w // 2)
    assert np.abs(got_u - want_u).max() <= 2, (got_u[:2, :4], want_u[:2, :4])
    assert np.abs(got_v - want_v).max() <= 2, (got_v[:2, :4], want_v[:2, :4])
