"""``obs-faceswap voice --live`` through real PortAudio (ALSA host API) on sound devices defined in a
private ALSA configuration: no sound card, no system change.

ALSA reads ``$HOME/.asoundrc``; the test's own HOME defines a microphone and speakers with ALSA's
``file`` plugin over a ``null`` PCM: the microphone reads espeak-ng speech from a raw file (``infile``),
the speakers write what is played to a raw file. PortAudio lists them like sound cards and runs a real
duplex stream on them. The ``null`` PCM has no clock (it is always ready), so a stream runs as fast as
the callback can go: the test compares the played audio with the engine's output, not timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.voice.engine import VoiceEngine

from .conftest import RATE, median_f0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ALSA exists only on Linux")

MIC, SPEAKERS, UNPLUGGED = "test_microphone", "test_speakers", "unplugged_speakers"


def _pcm(name: str, *, infile: Path | None = None, outfile: Path | str = "/dev/null") -> str:
    """A raw-file PCM: PortAudio picks float32 (the null PCM accepts any format), so the files are
    float32 mono at whatever rate the stream opens with."""
    src = f' infile "{infile}"' if infile is not None else ""
    return (f'pcm.{name} {{\n  type file\n  slave.pcm {{ type null }}\n  file "{outfile}"{src}\n  format "raw"\n'
            f'  hint.description "obs-faceswap test device"\n}}\n')


@pytest.fixture()
def alsa(tmp_path: Path, speech: np.ndarray) -> dict[str, object]:
    """Environment for a subprocess whose ALSA sees a microphone playing 1.5 s of speech, speakers that
    record, and speakers whose backing file cannot be written (a device that vanished after listing)."""
    home = tmp_path / "home"
    home.mkdir()
    mic_data = speech[: int(1.5 * RATE)].astype("<f4")
    mic_file, played = tmp_path / "microphone.f32", tmp_path / "played.f32"
    mic_data.tofile(mic_file)
    (home / ".asoundrc").write_text(_pcm(MIC, infile=mic_file) + _pcm(SPEAKERS, outfile=played)
                                    + _pcm(UNPLUGGED, outfile=tmp_path / "gone" / "played.f32"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALSA_")}  # no other ALSA config
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONUNBUFFERED="1")
    return {"env": env, "mic": mic_data, "played": played}


def cli(alsa: dict[str, object], *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "obs_faceswap", "voice", *args], env=alsa["env"],  # type: ignore[arg-type]
                          capture_output=True, text=True, timeout=timeout)


def test_list_devices_shows_the_alsa_devices(alsa: dict[str, object]) -> None:
    r = cli(alsa, "--list-devices")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[-2]: line.split() for line in r.stdout.splitlines()[1:]}
    assert {MIC, SPEAKERS, UNPLUGGED} <= set(rows), r.stdout
    index, inputs, outputs = (int(v) for v in rows[MIC][:3])
    assert inputs > 0 and outputs > 0 and rows[MIC][-1] == "(ALSA)"


def test_live_microphone_to_speakers_raises_the_pitch(alsa: dict[str, object]) -> None:
    r = cli(alsa, "--live", "--seconds", "2", "--input-device", MIC, "--output-device", SPEAKERS, "--pitch", "4")
    assert r.returncode == 0, r.stderr
    assert "stopped after" in r.stdout and "latency 65 ms" in r.stderr
    assert " 0 over/underruns" in r.stdout
    mic = alsa["mic"]
    played = np.fromfile(alsa["played"], dtype="<f4")  # type: ignore[call-overload]
    # what the speakers got is exactly the engine's output for the microphone's audio (no block lost,
    # repeated or reordered), after PortAudio's own output priming (a few blocks of silence)
    engine = VoiceEngine.from_settings({"pitch": 4}, RATE)
    ref = engine.process(np.concatenate([mic, np.zeros(RATE // 2, np.float32)])[None])[0]
    lat = engine.latency_samples
    assert len(played) > len(mic) // 2, f"only {len(played) / RATE:.2f} s played"
    probe = ref[lat: lat + RATE // 2]
    lags = [k for k in range(0, min(RATE // 2, len(played) - len(probe)))
            if np.array_equal(played[k + lat: k + lat + 64], probe[:64])]
    assert lags, "the played audio does not contain the converted microphone signal"
    prime = lags[0]
    # (output up to len(mic) depends only on the microphone's audio, not on what the device reads after it)
    n = min(len(played) - prime, len(mic))
    assert n > RATE, f"only {n / RATE:.2f} s of the microphone came through"
    np.testing.assert_allclose(played[prime: prime + n], ref[:n], atol=1e-6)
    assert np.all(played[:prime] == 0.0)
    # and a listener hears it 4 semitones up
    out = played[prime + lat: prime + n]
    assert median_f0(out) / median_f0(mic[: len(out)]) == pytest.approx(2 ** (4 / 12), rel=0.05)


def test_unknown_device_name_is_a_clear_error(alsa: dict[str, object]) -> None:
    r = cli(alsa, "--live", "--seconds", "1", "--input-device", "no_such_microphone", "--output-device", SPEAKERS)
    assert r.returncode == 2
    assert "no input device matches 'no_such_microphone'" in r.stderr and MIC in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(alsa, "--live", "--seconds", "1", "--input-device", MIC, "--output-device", "99")
    assert r.returncode == 2 and "no output device matches '99'" in r.stderr


def test_a_device_that_fails_while_running_is_a_clear_error(alsa: dict[str, object]) -> None:
    """The speakers are listed but their backing file cannot be written: PortAudio stops the stream after
    the first block, like a USB headset pulled out. The command must say so, not report success."""
    r = cli(alsa, "--live", "--seconds", "3", "--input-device", MIC, "--output-device", UNPLUGGED)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "the sound device stopped" in r.stderr and UNPLUGGED in r.stderr
    assert "stopped after" not in r.stdout and "Traceback" not in r.stderr
