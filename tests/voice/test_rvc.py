"""RVC ONNX adapter with stand-in models of the real signatures (real ONNX Runtime sessions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.errors import ModelError, ModelSignatureError
from obs_faceswap.voice.engine import VoiceEngine
from obs_faceswap.voice.files import stream_through
from obs_faceswap.voice.pitch import RmvpeF0, decode_salience, log_mel
from obs_faceswap.voice.rvc import RvcVoice, coarse_pitch
from tests.standins.voice import content_encoder, rmvpe, rvc_synth

from .conftest import RATE, median_f0


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("voice_models")
    return {
        "encoder": content_encoder(d / "contentvec.onnx"),
        "synth": rvc_synth(d / "voice.onnx", hop=400),
        "synth48": rvc_synth(d / "voice48.onnx", hop=480),
        "synth_v1": rvc_synth(d / "voice_v1.onnx", dim=256),
        "no_rnd": rvc_synth(d / "no_rnd.onnx", drop_input="rnd"),
        "encoder_rank2": content_encoder(d / "enc_rank2.onnx", rank2_input=True),
        "encoder_chfirst": content_encoder(d / "enc_chfirst.onnx", channels_first=True),
    }


def settings(models: dict[str, Path], synth: str = "synth", encoder: str = "encoder", **more: object) -> dict:
    return {"backend": "rvc", "voice_model": str(models[synth]), "content_encoder": str(models[encoder]), **more}


def test_rvc_stream_follows_pitch_and_keeps_length(models: dict[str, Path], speech: np.ndarray) -> None:
    x = speech[: RATE * 3]
    engine = VoiceEngine.from_settings(settings(models, pitch=4), RATE)
    assert isinstance(engine.converter, RvcVoice)
    assert engine.converter.output_rate == 40000
    assert engine.latency_ms <= 80
    y = stream_through(engine, x[None], chunk=777)[0]
    assert y.shape == x.shape and np.isfinite(y).all()
    # the stand-in's voice is a sine at pitchf: the adapter's F0 (+4 st) must reach the synthesizer
    assert median_f0(y, tone=True) / median_f0(x) == pytest.approx(2 ** (4 / 12), rel=0.05)


def test_rvc_output_rate_is_read_from_the_model(models: dict[str, Path], speech: np.ndarray) -> None:
    engine = VoiceEngine.from_settings(settings(models, "synth48"), RATE)
    assert engine.converter.output_rate == 48000
    out = engine.process(speech[None, :5000])
    assert out.shape == (1, 5000)


def test_rvc_signature_mismatch_is_clear(models: dict[str, Path]) -> None:
    with pytest.raises(ModelSignatureError, match="rnd"):
        VoiceEngine.from_settings(settings(models, "no_rnd"), RATE)
    with pytest.raises(ModelSignatureError, match="content_encoder"):
        VoiceEngine.from_settings(settings(models, encoder="encoder_rank2"), RATE)
    with pytest.raises(ModelSignatureError, match="768-d"):
        VoiceEngine.from_settings(settings(models, "synth_v1"), RATE)
    # a content encoder passed as the voice model
    with pytest.raises(ModelSignatureError, match="rvc_synth"):
        VoiceEngine.from_settings(settings(models, "encoder"), RATE)


def test_channels_first_content_encoder_is_refused_at_load(models: dict[str, Path]) -> None:
    """RVC's ContentVec gives [1, frames, 768]; a [1, 768, frames] file (both axes dynamic, so the
    signature alone cannot tell) would feed the synthesizer garbage: refused, naming the layout."""
    with pytest.raises(ModelSignatureError, match=r"channels first.*\[1, frames, 768\]"):
        VoiceEngine.from_settings(settings(models, encoder="encoder_chfirst"), RATE)


def test_rvc_missing_model_says_what_to_do(tmp_path: Path, models: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match="voice_model"):
        VoiceEngine.from_settings({"backend": "rvc"}, RATE)
    with pytest.raises(ModelError, match="not found"):
        VoiceEngine.from_settings({"backend": "rvc", "voice_model": str(tmp_path / "nope.onnx"),
                     "content_encoder": str(models["encoder"])}, RATE)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="corrupt"):
        VoiceEngine.from_settings({"backend": "rvc", "voice_model": str(broken), "content_encoder": str(models["encoder"])}, RATE)


def test_failed_update_keeps_the_running_engine(models: dict[str, Path], tmp_path: Path) -> None:
    engine = VoiceEngine.from_settings({"pitch": 2}, RATE)
    with pytest.raises(ModelError):
        engine.update(engine.options.with_changes({"backend": "rvc", "voice_model": str(tmp_path / "missing.onnx")}))
    assert engine.settings["backend"] == "dsp"
    assert engine.process(np.zeros((1, 100), np.float32)).shape == (1, 100)
    engine.update(engine.options.with_changes(settings(models)))
    assert isinstance(engine.converter, RvcVoice)


def test_unknown_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="'seedvc' is not one of dsp, rvc"):
        VoiceEngine.from_settings({"backend": "seedvc"}, RATE)


def test_coarse_pitch_matches_rvc_bins() -> None:
    bins = coarse_pitch(np.array([0.0, 50.0, 1100.0, 220.0, 5000.0]))
    assert list(bins[:3]) == [1, 1, 255] and 1 < bins[3] < 255 and bins[4] == 255


def test_rmvpe_pitch_detector_feeds_the_synthesizer(models: dict[str, Path], tmp_path: Path,
                                                    speech: np.ndarray) -> None:
    """RMVPE path: log-mel -> ONNX -> salience decoding -> pitchf; the stand-in's salience peaks at bin 130."""
    detector = rmvpe(tmp_path / "rmvpe.onnx", peak_bin=130)
    engine = VoiceEngine.from_settings(settings(models, pitch=4, pitch_detector=str(detector)), RATE)
    assert isinstance(engine.converter.f0_estimator, RmvpeF0)
    y = stream_through(engine, speech[None, : RATE * 2])[0]
    expected = 10 * 2 ** ((20 * 130 + 1997.3794084376191) / 1200) * 2 ** (4 / 12)
    assert median_f0(y, tone=True) == pytest.approx(expected, rel=0.02)


def test_rmvpe_shapes_and_decoding(tmp_path: Path, speech: np.ndarray) -> None:
    from obs_faceswap.models.session import create_session

    x16 = speech[:RATE:3].copy()  # decimated to 16 kHz: enough for a shape test
    mel = log_mel(x16)
    assert mel.shape == (128, 1 + len(x16) // 160) and np.isfinite(mel).all()
    est = RmvpeF0(create_session(rmvpe(tmp_path / "r.onnx"), "cpu"))
    f0 = est.f0(x16, 90)
    assert f0.shape == (90,) and np.all((f0 == 0) | ((f0 > 30) & (f0 < 2100)))
    sal = np.zeros((3, 360))
    sal[0, 100] = 1.0
    sal[1, 50:53] = (0.5, 1.0, 0.5)
    f = decode_salience(sal)
    assert f[0] == pytest.approx(10 * 2 ** ((20 * 100 + 1997.3794084376191) / 1200))
    assert f[1] == pytest.approx(10 * 2 ** ((20 * 51 + 1997.3794084376191) / 1200)) and f[2] == 0.0
    with pytest.raises(ModelSignatureError, match="rmvpe"):
        VoiceEngine.from_settings({"backend": "rvc", "voice_model": str(rvc_synth(tmp_path / "v.onnx")),
                     "content_encoder": str(content_encoder(tmp_path / "e.onnx")),
                     "pitch_detector": str(content_encoder(tmp_path / "not_rmvpe.onnx"))}, RATE)
