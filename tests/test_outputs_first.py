"""Outputs are checked before any work, in every command that writes a file (issue #19: `voice -o
out.mp3` spent the whole conversion before refusing the format). The inputs here exist but hold
junk: an error about the output, not about the inputs, proves the output was looked at first."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs_faceswap.cli import main


def _commands(d: Path, out: str) -> dict[str, list[str]]:
    junk = d / "junk"
    junk.mkdir(exist_ok=True)
    for name in ("no.png", "no.mp4", "no.wav"):
        (junk / name).write_bytes(b"this is not a photo, a video or a sound\n" * 50)
    missing_photo, missing_video, missing_audio = (str(junk / n) for n in ("no.png", "no.mp4", "no.wav"))
    return {
        "swap-image": ["swap-image", "-s", missing_photo, "-t", missing_photo, "-o", out],
        "swap-video": ["swap-video", "-s", missing_photo, "-i", missing_video, "-o", out],
        "voice": ["voice", "-i", missing_audio, "-o", out],
        "lipsync": ["lipsync", "--audio", missing_audio, "--face", missing_photo, "--output", out],
        "live": ["live", "--source", missing_photo, "--input", missing_video, "--no-preview", "--output", out],
    }


@pytest.mark.parametrize("command", ["swap-image", "swap-video", "voice", "lipsync", "live"])
def test_an_unknown_output_type_is_refused_before_the_inputs_are_read(command: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_commands(tmp_path, str(tmp_path / "out.xyz"))[command]) == 2
    err = capsys.readouterr().err
    assert "out.xyz" in err and ("type" in err or "use .wav" in err), err
    assert "no.png" not in err and "no.mp4" not in err and "no.wav" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk"]


@pytest.mark.parametrize("command", ["swap-image", "swap-video", "voice", "lipsync", "live"])
def test_an_output_under_a_file_is_refused_before_the_inputs_are_read(command: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    suffix = {"swap-image": ".png", "voice": ".wav"}.get(command, ".mp4")
    assert main(_commands(tmp_path, str(blocker / f"out{suffix}"))[command]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "no.png" not in err and "no.wav" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "junk"]
