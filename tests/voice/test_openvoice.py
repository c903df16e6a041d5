"""OpenVoice v2 backend: the real converter architecture with random weights, saved in the official
checkpoint's key layout (weight-norm convolutions as ``weight_g``/``weight_v``, ``{"model": ...}``), loaded
through the real loader; streamed through the SOLA engine.

The full-size network costs seconds per second of audio on this CPU, so the streaming tests use the same
code at reduced widths (``ConverterConfig``); the loader test uses the official sizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from obs_faceswap.errors import ModelError  # noqa: E402
from obs_faceswap.voice.engine import VoiceEngine  # noqa: E402
from obs_faceswap.voice.files import stream_through  # noqa: E402
from obs_faceswap.voice.openvoice import OpenVoiceVoice, embedding_of  # noqa: E402
from obs_faceswap.voice.openvoice_model import (  # noqa: E402
    DECODER_REACH,
    OFFICIAL,
    CheckpointError,
    ConverterConfig,
    ToneColorConverter,
    load_checkpoint,
)

from .conftest import RATE  # noqa: E402

torch.set_num_threads(1)

SMALL = ConverterConfig(inter_channels=32, hidden_channels=32, upsample_initial_channel=64, gin_channels=256,
                        posterior_layers=4, flow_layers=2, resblock_kernel_sizes=(3,),
                        resblock_dilation_sizes=((1, 3, 5),))


def weight_normed(model: ToneColorConverter) -> ToneColorConverter:
    """Wrap the layers the official model trains with ``torch.nn.utils.weight_norm`` (so the state dict has
    the checkpoint's ``weight_g``/``weight_v`` keys)."""
    wn = torch.nn.utils.weight_norm
    for up in model.dec.ups:
        wn(up)
    for block in model.dec.resblocks:
        for conv in [*block.convs1, *block.convs2]:
            wn(conv)
    for net in [model.enc_q.enc] + [f.enc for f in model.flow.flows[::2]]:
        for conv in [*net.in_layers, *net.res_skip_layers, net.cond_layer]:
            wn(conv)
    for conv in model.ref_enc.convs:
        wn(conv)
    return model


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ToneColorConverter]:
    torch.manual_seed(0)
    model = weight_normed(ToneColorConverter(OFFICIAL)).eval()
    path = tmp_path_factory.mktemp("openvoice") / "checkpoint.pth"
    torch.save({"model": model.state_dict(), "iteration": 0}, path)
    return path, model


def test_official_key_layout_loads_through_the_real_loader(official: tuple[Path, ToneColorConverter]) -> None:
    path, reference = official
    state = torch.load(path, weights_only=True)["model"]
    # the keys and shapes the published checkpoint has (131 MB of float32)
    expect = {"enc_q.pre.weight": (192, 513, 1), "enc_q.enc.in_layers.15.weight_v": (384, 192, 5),
              "enc_q.enc.cond_layer.weight_g": (6144, 1, 1), "enc_q.proj.weight": (384, 192, 1),
              "flow.flows.6.enc.cond_layer.weight_v": (1536, 256, 1), "flow.flows.0.post.weight": (96, 192, 1),
              "dec.conv_pre.weight": (512, 192, 7), "dec.ups.0.weight_g": (512, 1, 1),
              "dec.ups.3.weight_v": (64, 32, 4), "dec.resblocks.11.convs1.2.weight_v": (32, 32, 11),
              "dec.cond.weight": (512, 256, 1), "dec.conv_post.weight": (1, 32, 7),
              "ref_enc.convs.5.weight_g": (128, 1, 1, 1), "ref_enc.gru.weight_ih_l0": (384, 1152),
              "ref_enc.proj.weight": (256, 128), "ref_enc.layernorm.weight": (513,)}
    for key, shape in expect.items():
        assert tuple(state[key].shape) == shape, key
    assert sum(v.numel() for v in state.values()) * 4 / 1e6 == pytest.approx(131.0, abs=0.5)
    model = load_checkpoint(path)
    wave = torch.from_numpy(np.random.default_rng(1).standard_normal(RATE // 4).astype(np.float32) * 0.1)[None]
    with torch.no_grad():
        np.testing.assert_allclose(model.speaker_embedding(wave), reference.speaker_embedding(wave), atol=1e-5)
        spec = model.spectrogram(wave)[:, :, :3]
        se = model.speaker_embedding(wave)
        ours = model.convert(spec, se, se * 0.5, tau=0.0)
        theirs = reference.convert(spec, se, se * 0.5, tau=0.0)
    assert ours.shape == (1, 1, 3 * 256)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_a_checkpoint_with_other_keys_or_shapes_is_refused(official: tuple[Path, ToneColorConverter],
                                                           tmp_path: Path) -> None:
    path, _ = official
    state = dict(torch.load(path, weights_only=True)["model"])
    del state["dec.cond.weight"]
    state["ref_enc.proj.weight"] = torch.zeros(128, 128)
    bad = tmp_path / "other.pth"
    torch.save({"model": state}, bad)
    with pytest.raises(CheckpointError, match="missing dec.cond.weight.*shape differs for ref_enc.proj.weight"):
        load_checkpoint(bad)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read it"):
        load_checkpoint(text)


def test_backend_without_the_download_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(tmp_path / "models"))
    ref = tmp_path / "her.wav"
    sf.write(str(ref), np.zeros(RATE, dtype=np.float32), RATE)
    with pytest.raises(ModelError, match="obs-faceswap models download openvoice_v2"):
        VoiceEngine.from_settings({"backend": "openvoice", "reference_voice": str(ref)}, RATE)


def test_imported_checkpoint_runs_as_the_openvoice_backend(official: tuple[Path, ToneColorConverter], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """'models import openvoice_v2 FILE' (checked by the converter's loader), then the backend finds it: the
    reference clip becomes the target embedding, the engine reports the backend's latency."""
    from obs_faceswap.cli import main

    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    notes = tmp_path / "notes.pth"
    notes.write_text("not a checkpoint")
    assert main(["models", "import", "openvoice_v2", str(notes)]) != 0
    assert not (tmp_path / "models" / "openvoice_v2_converter.pth").exists()
    assert main(["models", "import", "openvoice_v2", str(official[0])]) == 0
    ref = tmp_path / "her.wav"
    sf.write(str(ref), (0.1 * np.random.default_rng(0).standard_normal(RATE)).astype(np.float32), RATE)
    engine = VoiceEngine.from_settings({"backend": "openvoice", "reference_voice": str(ref)}, RATE)
    assert isinstance(engine.converter, OpenVoiceVoice) and engine.converter.target.shape == (1, 256, 1)
    assert engine.latency_ms == pytest.approx(161.4, abs=0.5)
    assert engine.converter.describe().startswith("OpenVoice v2 on cpu (learning your voice)")


@pytest.fixture(scope="module")
def small_model() -> ToneColorConverter:
    torch.manual_seed(0)
    return ToneColorConverter(SMALL).eval()


def test_streams_through_sola_with_a_fixed_delay(small_model: ToneColorConverter, speech: np.ndarray) -> None:
    x = speech[: int(1.2 * RATE)]
    target = embedding_of(small_model, speech[RATE:], RATE)
    source = embedding_of(small_model, speech[:RATE], RATE)
    conv = OpenVoiceVoice(small_model, target, source)
    engine = VoiceEngine.from_settings({"block_ms": 20, "gate_db": -100}, RATE, converter=conv)
    # the backend's floor: 100 ms blocks, 400 ms of history, 46 ms of look-ahead
    assert engine.block_samples == RATE // 10 and engine.layout.left == int(0.4 * RATE)
    assert engine.latency_ms == pytest.approx(100 + 10 + 5 + 46.4, abs=0.5)
    y = stream_through(engine, x[None])[0]
    assert len(y) == len(x) and np.isfinite(y).all()
    assert float(np.sqrt(np.mean(y[RATE // 5:] ** 2))) > 1e-4, "the network's output comes through"
    again = stream_through(VoiceEngine.from_settings({"block_ms": 20, "gate_db": -100}, RATE,
                                       converter=OpenVoiceVoice(small_model, target, source)), x[None])[0]
    np.testing.assert_array_equal(y, again)  # same input, same output (fixed sampling noise)
    # block joins: the SOLA crossfade leaves no step larger than the signal's own
    b, c, lat = engine.block_samples, engine.layout.crossfade, engine.latency_samples
    idx = np.arange(len(y) - 1)
    pos = (idx + lat - b) % b
    near = (pos < c + 8) | (pos > b - 8)
    step = np.abs(np.diff(y.astype(np.float64)))
    assert step[near].max() <= 1.5 * step[~near].max()


def test_decoder_reach_covers_the_official_decoder() -> None:
    """The official decoder's kernels, strides and dilations (narrow channels: the reach does not depend on
    them): a change in one latent frame moves the output no further than ``DECODER_REACH`` frames away, so
    decoding a window from ``DECODER_REACH`` frames before the kept audio gives exactly the full result."""
    torch.manual_seed(0)
    dec = ToneColorConverter(ConverterConfig(upsample_initial_channel=16)).dec.eval()
    z, g = torch.randn(1, 192, 60), torch.zeros(1, 256, 1)
    z2 = z.clone()
    z2[:, :, 30] += 1.0
    with torch.no_grad():
        diff = (dec(z, g) - dec(z2, g)).abs()[0, 0].reshape(60, 256).amax(dim=1)
    moved = torch.nonzero(diff > 0).flatten()
    assert int(moved.min()) >= 30 - DECODER_REACH and int(moved.max()) <= 30 + DECODER_REACH, moved.tolist()
    assert int(moved.max()) - 30 >= DECODER_REACH - 3  # and the reach is not overstated by much


def test_cropped_decoding_equals_the_full_decode(small_model: ToneColorConverter, speech: np.ndarray) -> None:
    target = embedding_of(small_model, speech[RATE:], RATE)
    conv = OpenVoiceVoice(small_model, target, target)
    x = speech[RATE // 2: RATE // 2 + 12544]  # a 0.57 s window at 22.05 kHz
    keep = 7000
    cropped = conv.convert(x, keep)
    conv.reach = 10 ** 6  # decode everything
    full = conv.convert(x, keep)
    np.testing.assert_allclose(cropped[keep:], full[keep:], atol=1e-5)


def test_live_learns_your_embedding(small_model: ToneColorConverter, speech: np.ndarray) -> None:
    target = embedding_of(small_model, speech[RATE:], RATE)
    conv = OpenVoiceVoice(small_model, target)  # no source: starts from the reference's embedding
    assert conv.live and np.array_equal(conv.source, target)
    engine = VoiceEngine.from_settings({"block_ms": 100, "gate_db": -100}, RATE, converter=conv)
    stream_through(engine, speech[None, : int(1.5 * RATE)])
    # the input's embedding as the stream sees it: windows of ~0.6 s
    win = int(0.6 * RATE)
    mine = np.mean([embedding_of(small_model, speech[i: i + win], RATE) for i in range(0, int(1.5 * RATE) - win, RATE // 10)],
                   axis=0)
    before = float(np.linalg.norm(target - mine))
    after = float(np.linalg.norm(conv.source - mine))
    assert conv.heard > 0.5 and after < 0.7 * before, (before, after)
