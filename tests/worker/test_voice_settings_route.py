"""The voice settings' route: validated once at the boundary (a worker audio channel, the ``voice``
command), then carried as ``VoiceOptions`` through the engine to the converter, never validated again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from obs_faceswap.cli import main
from obs_faceswap.ipc.audio import AudioRings
from obs_faceswap.settings import VOICE_SETTINGS, Schema
from obs_faceswap.voice.dsp import WorldVoice
from obs_faceswap.worker.channel_workers import AudioWorker
from obs_faceswap.worker.processors import VoiceProcessor

RATE = 48000


@pytest.fixture()
def validations(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every ``VOICE_SETTINGS.validate`` call's values, from now on."""
    seen: list[dict[str, Any]] = []
    real_validate = Schema.validate

    def counted(self: Schema, values: Any, *, partial: bool = False, strict: bool = False) -> dict[str, Any]:
        if self is VOICE_SETTINGS:
            seen.append(dict(values))
        return real_validate(self, values, partial=partial, strict=strict)

    monkeypatch.setattr(Schema, "validate", counted)
    return seen


def _voiced(seconds: float, rate: int) -> np.ndarray:
    """A loud 140 Hz buzz with harmonics (what WORLD reads as a voice)."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * 140.0 * t
    return (0.2 * sum(np.sin(k * phase) / k for k in range(1, 20))).astype(np.float32)


@pytest.fixture()
def channel() -> Iterator[AudioWorker]:
    """A worker's audio channel with the voice processor, driven in this process (no thread)."""
    rings = AudioRings.create(RATE, 1, RATE)
    worker = AudioWorker(1, rings.name, {"pitch": 2, "mix": 100, "gate_db": -100}, "voice",
                         lambda _cid: None, lambda _cid, _msg: None)
    worker._apply_pending()
    assert worker.last_error == "" and isinstance(worker.processor, VoiceProcessor)
    yield worker
    worker._close_processor()
    worker.ring.close()
    rings.close()
    rings.segment.unlink()


def test_a_voice_change_on_a_worker_channel_is_validated_once(channel: AudioWorker,
                                                              validations: list[dict[str, Any]]) -> None:
    processor = channel.processor
    assert isinstance(processor, VoiceProcessor)
    engine = processor.engine
    converter = engine.converter
    assert isinstance(converter, WorldVoice)
    x = _voiced(0.5, RATE)[None]
    engine.process(x)

    channel.update({"pitch": -3, "mix": 40})  # what the OBS panel sends when two sliders move
    channel._apply_pending()
    assert channel.last_error == ""
    assert validations == [{"pitch": -3, "mix": 40}]  # once, at the worker's boundary; never again inside
    assert engine.converter is converter and converter.pitch == -3.0  # a live change: the same converter
    assert engine.options.mix == pytest.approx(0.4)  # the fraction, divided by 100 in one place
    assert engine.settings["mix"] == 40  # and back in percent for the panel

    y = engine.process(x)
    assert y.shape == x.shape and np.abs(y).max() > 0.01
    assert len(validations) == 1  # the audio path validates nothing


def test_a_bad_value_from_the_panel_is_reported_by_the_worker(channel: AudioWorker,
                                                              validations: list[dict[str, Any]]) -> None:
    """The OBS side passes values on as OBS holds them; the worker judges them (once) and says why."""
    processor = channel.processor
    assert isinstance(processor, VoiceProcessor)
    before = processor.engine.options
    channel.update({"backend": "seedvc"})  # e.g. a scene collection from another version, over obs-websocket
    channel._apply_pending()
    assert "kept previous settings (backend)" in channel.last_error
    assert "not one of dsp, rvc, openvoice" in channel.last_error
    assert validations == [{"backend": "seedvc"}] and processor.engine.options is before
    channel.update({"backend": "dsp"})  # a good value clears it
    channel._apply_pending()
    assert channel.last_error == ""


def test_the_voice_command_validates_its_flags_once(tmp_path: Path, validations: list[dict[str, Any]],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = tmp_path / "me.wav", tmp_path / "high.wav"
    sf.write(src, _voiced(1.0, 16000), 16000)
    assert main(["voice", "--input", str(src), "--output", str(dst), "--pitch", "4", "--mix", "80", "-q"]) == 0
    assert "backend dsp" in capsys.readouterr().out
    assert len(validations) == 1 and validations[0]["pitch"] == 4.0 and validations[0]["mix"] == 80
    out, rate = sf.read(dst, dtype="float32")
    assert rate == 16000 and len(out) == 16000 and np.abs(out).max() > 0.01
    # out of range: refused at the boundary, naming the range; nothing written
    assert main(["voice", "--input", str(src), "--output", str(tmp_path / "x.wav"), "--pitch", "40", "-q"]) != 0
    assert "outside its range -24..24 st" in capsys.readouterr().err and not (tmp_path / "x.wav").exists()
