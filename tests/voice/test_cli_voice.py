"""``obs-faceswap voice`` end to end on files (live devices: ``test_live_devices.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from obs_faceswap.cli import main
from obs_faceswap.voice.engine import VoiceEngine
from obs_faceswap.voice.files import stream_through

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


@pytest.mark.parametrize(("suffix", "container"), [(".flac", "FLAC"), (".ogg", "OGG")])
def test_voice_stereo_output_formats(speech: np.ndarray, tmp_path: Path, suffix: str, container: str) -> None:
    """docs/voice.md: .wav, .flac or .ogg out; stereo stays stereo, every sample kept, the voice shifted."""
    src = tmp_path / "stereo.flac"
    sf.write(str(src), np.stack([speech, speech * 0.5], axis=1)[: RATE * 2], RATE)
    out = tmp_path / f"out{suffix}"
    assert main(["voice", "-i", str(src), "-o", str(out), "--pitch", "4", "--quiet"]) == 0
    assert sf.info(str(out)).format == container
    y, sr = sf.read(str(out), always_2d=True, dtype="float32")
    assert y.shape == (RATE * 2, 2) and sr == RATE
    engine = VoiceEngine.from_settings({"pitch": 4}, RATE, 2)  # the same conversion, in memory
    want = stream_through(engine, np.stack([speech, speech * 0.5])[:, : RATE * 2]).T
    assert np.abs(y - want).max() < 1e-3 if container == "FLAC" else \
        np.corrcoef(y[:, 0], want[:, 0])[0, 1] > 0.95  # lossy Vorbis: the same sound
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["stereo.flac", out.name])


@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_voice_unwritable_output_is_one_clear_line(speech_path: Path, tmp_path: Path, where: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("a file, not a folder")
    out = Path("/proc/obs-faceswap-voice.wav") if where == "proc" else blocker / "x.wav"
    assert main(["voice", "-i", str(speech_path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}" in err and "Traceback" not in err
    if where == "under_a_file":
        assert "afile is a file, not a folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


def test_voice_output_permissions_folders_and_input_kept(speech_path: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import shutil

    out = tmp_path / "new" / "folder" / "out.wav"  # missing folders are created, as for images and videos
    old = os.umask(0o022)
    try:
        assert main(["voice", "-i", str(speech_path), "-o", str(out), "-q"]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert [p.name for p in out.parent.iterdir()] == ["out.wav"]
    src = tmp_path / "s.wav"
    shutil.copy(speech_path, src)
    before = src.read_bytes()
    assert main(["voice", "-i", str(src), "-o", str(src), "--pitch", "3"]) == 2
    assert "is the input" in capsys.readouterr().err and src.read_bytes() == before
