"""``obs-faceswap voice`` end to end on files (live devices: ``test_live_devices.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from obs_faceswap.cli import main

from .conftest import RATE, median_f0


def test_voice_file_end_to_end(speech_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.wav"
    rc = main(["voice", "--input", str(speech_path), "--output", str(out), "--pitch", "4", "--block-ms", "20"])
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    x, sr_in = sf.read(str(speech_path), dtype="float32")
    y, sr_out = sf.read(str(out), dtype="float32")
    assert sr_out == sr_in == RATE and len(y) == len(x)
    assert median_f0(y) / median_f0(x) == pytest.approx(2 ** (4 / 12), rel=0.05)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"], "no temporary files left behind"


def test_voice_bad_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    out = tmp_path / "out.wav"
    assert main(["voice", "-i", str(bad), "-o", str(out)]) == 2
    assert "cannot read notes.wav" in capsys.readouterr().err
    assert not out.exists()
    assert main(["voice", "-i", str(tmp_path / "missing.wav"), "-o", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["voice", "-i", str(bad)]) == 2  # no output given
    assert "--output" in capsys.readouterr().err


def test_voice_stereo_flac(speech: np.ndarray, tmp_path: Path) -> None:
    src = tmp_path / "stereo.flac"
    sf.write(str(src), np.stack([speech, speech * 0.5], axis=1)[: RATE * 2], RATE)
    out = tmp_path / "out.flac"
    assert main(["voice", "-i", str(src), "-o", str(out), "--formant", "3", "--quiet"]) == 0
    y, sr = sf.read(str(out), always_2d=True)
    assert y.shape == (RATE * 2, 2) and sr == RATE
