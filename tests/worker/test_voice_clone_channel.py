"""The worker's voice channel with a reference voice: the embedded clone, learning the speaker live,
moves a male espeak-ng voice toward a female reference; the learned statistics are saved per profile."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from obs_faceswap.ipc import WorkerClient
from tests.ipc.util import PYTHON, wait_for
from tests.voice.conftest import f0_track

RATE = 48000


def espeak(path: Path, voice: str, text: str) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is required (apt install espeak-ng)"
    subprocess.run([exe, "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    x, sr = sf.read(str(path), dtype="float64")
    y = (resample_poly(x, RATE, sr) * 0.8 / np.abs(x).max()).astype(np.float32)
    sf.write(str(path), y, RATE, subtype="PCM_16")
    return y


def median_f0(x: np.ndarray) -> float:
    f0 = f0_track(x)
    return float(np.median(f0[f0 > 0]))


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WorkerClient, Path]]:
    """A real worker whose data folder (voice profiles) is private to the test."""
    data = tmp_path_factory.mktemp("data")
    client = WorkerClient(PYTHON, env={**os.environ, "XDG_DATA_HOME": str(data)}).start()
    try:
        assert client.wait_ready(30), client.status
        yield client, data
    finally:
        client.stop()


def test_voice_channel_with_a_reference_clones_and_saves_the_learned_voice(worker: tuple[WorkerClient, Path],
                                                                           tmp_path: Path) -> None:
    client, data = worker
    ref = espeak(tmp_path / "her.wav", "en-us+f3", "When the sunlight strikes raindrops in the air, they act as a "
                 "prism and form a rainbow, a division of white light into many beautiful colours.")
    me = espeak(tmp_path / "me.wav", "en-us+m3", "Hello there, this is a quick test of my new voice. Is it working "
                "well? I hope the words stay clear and easy to follow for everyone.")
    settings = {"reference_voice": str(tmp_path / "her.wav"), "own_voice_profile": "Mic/Voice Clone",
                "gate_db": -100.0}
    audio = client.open_audio(RATE, 1, settings, processor="voice")
    n = 960
    # the first ~3 s are the live warm-up (learning this speaker, ~2 s of voiced speech); measured: the second half
    x = me[: len(me) // n * n]
    out: list[np.ndarray] = []
    blocks = len(x) // n

    def drain() -> bool:
        while audio.available() >= n:
            got = audio.pull(n)
            assert got is not None
            out.append(np.frombuffer(got[0][0], dtype=np.float32))
        return len(out) == blocks

    for k in range(blocks):  # as fast as the worker takes it (the rings hold 2 s)
        block = [x[k * n:(k + 1) * n].tobytes()]
        assert wait_for(lambda block=block, k=k: drain() or audio.push(block, n, k * 20_000_000), 30), \
            audio.status_text
    assert wait_for(drain, 60), audio.status_text
    y = np.concatenate(out)
    assert len(y) == len(x)
    assert wait_for(lambda: audio.latency_ms > 0, 5)
    # the status the OBS panel shows names what the clone does
    assert wait_for(lambda: "clone toward a" in audio.status_text, 5), audio.status_text
    lat = int(round(audio.latency_ms * RATE / 1000))
    second = y[len(x) // 2 + lat:]
    f_in, f_ref, f_out = median_f0(x[len(x) // 2:]), median_f0(ref), median_f0(second)
    msg = f"median F0: input {f_in:.0f} Hz, reference {f_ref:.0f} Hz, worker output {f_out:.0f} Hz"
    assert abs(np.log(f_out / f_ref)) < 0.5 * abs(np.log(f_out / f_in)), msg
    audio.close()
    saved = data / "obs-faceswap" / "voice-profiles"
    assert wait_for(lambda: any(p.name.startswith("own-Mic_Voice_Clone") for p in saved.glob("*.npz")), 10), \
        sorted(p.name for p in saved.glob("*"))


def test_missing_reference_is_reported_and_the_channel_keeps_running(worker: tuple[WorkerClient, Path],
                                                                     tmp_path: Path) -> None:
    client, _ = worker
    audio = client.open_audio(RATE, 1, {"reference_voice": str(tmp_path / "nobody.wav")}, processor="voice")
    assert wait_for(lambda: "voice clip not found" in audio.status_text, 20), audio.status_text
    audio.close()
