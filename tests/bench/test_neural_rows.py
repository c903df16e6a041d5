"""``bench pipeline``'s neural rows run end to end (numbers are the bench's business, not the tests')."""

from __future__ import annotations

from obs_faceswap.bench.neural_rows import neural_rows
from obs_faceswap.bench.pipeline import bench_frame
from obs_faceswap.vision.embedded import EmbeddedDetector


def test_neural_rows_report_pixel_boost_and_dfm() -> None:
    frame = bench_frame()
    face = EmbeddedDetector(provider="cpu", threads=1).detect(frame)[0]
    rows = neural_rows(frame, face, repeat=1)
    for key in ("neural_swap_pb128_ms", "neural_swap_pb256_ms", "neural_swap_pb512_ms", "dfm_swap_ms"):
        assert isinstance(rows[key], float) and rows[key] > 0.0, key
    assert "inswapper_128" in rows["neural_swapper"]
