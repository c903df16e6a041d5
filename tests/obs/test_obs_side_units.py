"""The OBS side's pure parts, outside OBS: struct layouts, version gate, dry delay line."""

from __future__ import annotations

import numpy as np
import pytest

from obs_faceswap.obs import libobs
from obs_faceswap.obs.delay_line import DelayLine


def test_struct_layouts_match_the_libobs_headers() -> None:
    sizes = libobs.struct_sizes()
    assert sizes["obs_source_info"] == 400
    assert sizes["obs_audio_data"] == 80
    assert sizes["obs_source_frame"] == 232
    # offsets a wrong field order would move (obs-source.h @ 29.0.2)
    assert libobs.obs_source_info.video_render.offset == 8 + 4 + 4 + 13 * 8
    assert libobs.obs_source_info.filter_audio.offset == libobs.obs_source_info.video_render.offset + 16
    assert libobs.obs_source_info.video_get_color_space.offset == 392
    assert libobs.obs_audio_data.timestamp.offset == 72


@pytest.mark.parametrize("version,ok", [((29, 0, 2), True), ((30, 2, 3), True), ((32, 0, 1), True),
                                        ((28, 1, 2), False), ((33, 0, 0), False)])
def test_unverified_obs_versions_are_refused_with_a_reason(version: tuple[int, int, int], ok: bool) -> None:
    reason = libobs.check_layout(version, env={})
    assert (reason == "") is ok
    if not ok:
        assert "OBS " + ".".join(map(str, version)) in reason and libobs.ALLOW_UNVERIFIED_ENV in reason
        assert libobs.check_layout(version, env={libobs.ALLOW_UNVERIFIED_ENV: "1"}) == ""


def _planes(arrays: list[np.ndarray]) -> list[int]:
    return [a.ctypes.data for a in arrays]


def test_delay_line_outputs_the_input_exactly_delay_frames_later() -> None:
    rng = np.random.default_rng(0)
    delay, channels = 700, 2
    line = DelayLine(channels, delay, capacity=1000)  # small: forces wrap-around and growth
    signal = rng.standard_normal((channels, 9000)).astype(np.float32)
    out = np.zeros_like(signal)
    pos = 0
    for n in [480, 1024, 64, 2000, 333, 480, 4619]:  # OBS block sizes vary
        block = [np.ascontiguousarray(signal[c, pos:pos + n]) for c in range(channels)]
        line.write(_planes(block), n)
        dst = [np.empty(n, np.float32) for _ in range(channels)]
        line.read_delayed(_planes(dst), n)
        out[:, pos:pos + n] = np.stack(dst)
        pos += n
    assert pos == signal.shape[1]
    np.testing.assert_array_equal(out[:, :delay], 0.0)  # silence during warm-up, no garbage
    np.testing.assert_array_equal(out[:, delay:], signal[:, :-delay])


def test_delay_line_reset_starts_a_new_stream() -> None:
    line = DelayLine(1, 4, capacity=16)
    a = np.arange(1, 9, dtype=np.float32)
    line.write(_planes([a]), 8)
    line.reset()
    b = np.full(8, 5.0, np.float32)
    line.write(_planes([b]), 8)
    out = np.empty(8, np.float32)
    line.read_delayed([out.ctypes.data], 8)
    assert out.tolist() == [0, 0, 0, 0, 5, 5, 5, 5]


def test_library_candidates_per_platform() -> None:
    assert "obs.dll" in libobs.library_candidates("win32")
    assert "libobs.framework/libobs" in libobs.library_candidates("darwin")
    linux = libobs.library_candidates("linux")
    assert linux[0] is None and "libobs.so.0" in linux


def test_docs_list_every_public_setting_key() -> None:
    from pathlib import Path

    from obs_faceswap.settings import FACE_SETTINGS, VOICE_SETTINGS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "obs.md").read_text()
    missing = [s.name for schema in (FACE_SETTINGS, VOICE_SETTINGS) for s in schema.settings
               if f"| `{s.name}` |" not in doc]
    assert not missing, f"docs/obs.md lacks {missing}: python -m obs_faceswap.obs.settings_table docs/obs.md"


def test_every_slider_takes_its_range_from_the_schema() -> None:
    from obs_faceswap.obs.properties import _slider
    from obs_faceswap.settings import FACE_SETTINGS, FLOAT, INT, VOICE_SETTINGS

    sliders = {s.name: _slider(s) for schema in (FACE_SETTINGS, VOICE_SETTINGS) for s in schema.settings
               if s.kind in (INT, FLOAT)}
    assert sliders["blend"] == (0.0, 100.0, 1.0) and sliders["pitch"] == (-24.0, 24.0, 0.5)


def test_delay_line_longer_delay_keeps_history() -> None:
    line = DelayLine(1, 2, capacity=8)
    a = np.arange(1, 7, dtype=np.float32)
    line.write(_planes([a]), 6)
    line.set_delay(20)  # beyond the capacity: grows, keeps what was written
    b = np.arange(7, 31, dtype=np.float32)
    line.write(_planes([b]), 24)
    out = np.empty(4, np.float32)
    line.read_delayed([out.ctypes.data], 4)  # frames 26..29 minus 20 -> values 7..10
    assert out.tolist() == [7, 8, 9, 10]
