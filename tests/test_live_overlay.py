"""The live preview's text: honest about settings the pipeline did not take, errors shown whole."""

from __future__ import annotations

import cv2

from obs_faceswap.live.session import overlay_columns, overlay_lines
from obs_faceswap.live.stats import LiveStats


class _Proc:
    name = "in-process pipeline"

    def __init__(self, last_error: str) -> None:
        self.last_error = last_error


def test_kept_previous_settings_are_not_shown_as_running() -> None:
    wanted = {"enabled": True, "blend": 100, "enhancer": "gfpgan_1.4", "occlusion_mask": True}
    lines = overlay_lines(LiveStats(), wanted, _Proc("kept previous settings (enhancer): gfpgan_1.4 is not "
                                                     "installed"), "", with_help=False)
    assert lines[1].startswith("asked for (not applied): ") and "enhancer gfpgan_1.4" in lines[1]
    ok = overlay_lines(LiveStats(), wanted, _Proc(""), "enhancer gfpgan_1.4", with_help=False)
    assert not ok[1].startswith("asked for")


def test_a_long_error_is_wrapped_inside_the_frame_not_cut() -> None:
    error = ("model file not found: /home/someone/obs-faceswap/models/downloads/gfpgan_1.4.onnx. Download it "
             "with 'obs-faceswap models download gfpgan_1.4', or pass the path of an existing .onnx file.")
    for width in (640, 1280, 1920):
        lines = overlay_lines(LiveStats(), {}, _Proc(error), "", with_help=True, columns=overlay_columns(width))
        shown = " ".join(lines[2:-1])
        assert shown == error  # every word of it, in order
        scale = max(0.4, min(1.0, width / 1280.0))
        for text in lines:
            (w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1 if scale < 0.7 else 2)
            assert w + 12 <= width, (width, text)
