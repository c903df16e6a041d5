"""RVC voice models exported to ONNX (user-supplied weights), as a streaming ``Converter``.

Per window (16 kHz mono):
1. content encoder (ContentVec/HuBERT, family ``content_encoder``): f32[1,1,samples] ->
   f32[1,frames,D] every 20 ms; repeated twice along time -> one feature per 10 ms frame;
2. F0 every 10 ms from ``pitch.RmvpeF0`` (RMVPE ONNX, when installed or named) or ``pitch.WorldF0``
   (WORLD dio, no download), times 2^(pitch/12); the coarse pitch is RVC's mel quantisation to
   1..255 (50-1100 Hz);
3. synthesizer (family ``rvc_synth``, RVC's ONNX export): ``phone, phone_lengths, pitch, pitchf, ds,
   rnd -> audio`` f32[1,1,frames * hop]; the output rate is ``hop * 100`` (32/40/48 kHz models),
   measured once at load with a short silent probe, which also proves the shapes flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from obs_faceswap.errors import ModelError, ModelSignatureError
from obs_faceswap.models.registry import is_installed, load_model
from obs_faceswap.models.session import Session
from obs_faceswap.voice.pitch import PitchEstimator, RmvpeF0, WorldF0

if TYPE_CHECKING:
    from obs_faceswap.voice.options import VoiceOptions

RATE = 16000
FRAME = 160  # samples per 10 ms synthesizer frame at 16 kHz
F0_MIN, F0_MAX = 50.0, 1100.0
MEL_MIN = 1127.0 * np.log(1.0 + F0_MIN / 700.0)
MEL_MAX = 1127.0 * np.log(1.0 + F0_MAX / 700.0)
NOISE_SCALE = 0.66666
PROBE_FRAMES = 32
END_PAD = 480  # samples of reflected audio after the window for the encoder


def coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """RVC's pitch bins: mel-scaled F0 mapped to 1..255 (1 = unvoiced)."""
    mel = 1127.0 * np.log(1.0 + np.maximum(f0, 0.0) / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - MEL_MIN) * 254.0 / (MEL_MAX - MEL_MIN) + 1.0
    return np.clip(np.rint(mel), 1, 255).astype(np.int64)


def _load(id_or_path: str, family: str, provider: str, what: str) -> Session:
    text = str(id_or_path).strip()
    if not text:
        raise ModelError(f"backend 'rvc' needs {what}")
    return load_model(text, family, provider)


def pitch_estimator(choice: str, provider: str = "auto") -> PitchEstimator:
    """'auto' (RMVPE when installed, else WORLD), 'world', 'rmvpe' (model id) or a path to an RMVPE .onnx."""
    text = choice.strip() or "auto"
    if text == "world":
        return WorldF0()
    if text == "auto":
        try:
            if not is_installed("rmvpe"):
                return WorldF0()
        except ModelError:
            return WorldF0()
        text = "rmvpe"
    return RmvpeF0(_load(text, "rmvpe", provider, "an RMVPE model ('pitch_detector')"))


class RvcVoice:
    """``Converter`` running an RVC synthesizer on content features and WORLD F0."""

    input_rate = RATE
    right_context_ms = 30.0
    min_left_context_ms = 100.0

    def __init__(self, synth: Session, encoder: Session, *, pitch: float = 0.0, speaker: int = 0,
                 seed: int = 0, f0: PitchEstimator | None = None) -> None:
        self.synth = synth
        self.encoder = encoder
        self.f0_estimator: PitchEstimator = f0 if f0 is not None else WorldF0()
        self.pitch = float(pitch)
        self.speaker = int(speaker)
        self.seed = seed
        self._in_dtypes = {t.name: t.dtype for t in synth.inputs}
        phone = next(t for t in synth.inputs if t.name == "phone")
        self.feature_dim = int(phone.shape[2]) if isinstance(phone.shape[2], int) else 0
        enc_out = encoder.outputs[0]
        enc_dim = enc_out.shape[2] if len(enc_out.shape) == 3 else None
        if self.feature_dim and isinstance(enc_dim, int) and enc_dim != self.feature_dim:
            raise ModelSignatureError(
                f"the voice model {synth.path.name} wants {self.feature_dim}-d features but the content encoder "
                f"{encoder.path.name} gives {enc_dim}-d: use the encoder the model was trained with "
                "(768-d ContentVec for RVC v2, 256-d for v1)")
        self._check_encoder_layout()
        self.hop = self._probe_hop()
        self.output_rate = self.hop * 100

    @classmethod
    def from_options(cls, options: VoiceOptions) -> RvcVoice:
        provider = options.provider
        model = options.voice_model.strip()
        if not model:
            raise ModelError("backend 'rvc' needs a voice model: set 'voice_model' to your RVC .onnx file "
                             "(export a .pth with RVC's 'Export Onnx' tab)")
        synth = _load(model, "rvc_synth", provider, "a voice model ('voice_model')")
        encoder = _load(options.content_encoder, "content_encoder", provider,
                        "a content encoder ('content_encoder')")
        return cls(synth, encoder, pitch=options.pitch, f0=pitch_estimator(options.pitch_detector, provider))

    # ------------------------------------------------------------------ Converter
    def update(self, options: VoiceOptions) -> None:
        self.pitch = options.pitch

    def is_identity(self) -> bool:
        return False

    def _cast(self, name: str, value: np.ndarray) -> np.ndarray:
        dtype = self._in_dtypes.get(name, "float32")
        if dtype == "float16":
            return value.astype(np.float16)
        return value if dtype == "int64" else value.astype(np.float32)

    def _synthesize(self, feats: np.ndarray, f0: np.ndarray) -> np.ndarray:
        frames = feats.shape[1]
        rng = np.random.default_rng(self.seed)
        feeds = {
            "phone": self._cast("phone", feats),
            "phone_lengths": np.array([frames], dtype=np.int64),
            "pitch": coarse_pitch(f0.copy())[None, :],
            "pitchf": self._cast("pitchf", f0[None, :].astype(np.float32)),
            "ds": np.array([self.speaker], dtype=np.int64),
            "rnd": self._cast("rnd", (rng.standard_normal((1, 192, frames)) * NOISE_SCALE).astype(np.float32)),
        }
        feeds = {k: v for k, v in feeds.items() if k in self._in_dtypes}
        audio = self.synth.run(feeds)[0]
        return np.asarray(audio, dtype=np.float32).reshape(-1)

    def _check_encoder_layout(self) -> None:
        """Refuse a channels-first content encoder ([1, D, frames]): RVC's layout is [1, frames, D].

        A file may leave both axes dynamic, so the signature check cannot tell; one run on half a
        second of silence (25 frames of 20 ms) does.
        """
        dims = {self.feature_dim} if self.feature_dim else {256, 768}
        wav = np.zeros(RATE // 2, np.float32)
        src = self.encoder.inputs[0]
        x = wav[None, None, :] if len(src.shape) == 3 else wav[None, :]
        try:
            feats = np.asarray(self.encoder.run({src.name: x})[0])
        except Exception as exc:  # ORT raises its own types for shape errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelSignatureError(f"{self.encoder.path.name} does not run as a content encoder ({first})") from None
        if feats.ndim == 3 and feats.shape[1] in dims and feats.shape[2] not in dims:
            raise ModelSignatureError(
                f"content encoder {self.encoder.path.name} gives features channels first {list(feats.shape)}; RVC's "
                "encoders give [1, frames, features] (ContentVec vec-768-layer-12: [1, frames, 768])")
        if feats.ndim != 3 or feats.shape[2] not in dims:
            raise ModelSignatureError(
                f"content encoder {self.encoder.path.name} gave shape {list(feats.shape)} for half a second of audio; "
                f"expected [1, frames, {'|'.join(str(d) for d in sorted(dims))}]")

    def _probe_hop(self) -> int:
        dim = self.feature_dim or 768
        try:
            y = self._synthesize(np.zeros((1, PROBE_FRAMES, dim), dtype=np.float32), np.zeros(PROBE_FRAMES))
        except Exception as exc:  # ORT raises its own types for shape errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelSignatureError(f"{self.synth.path.name} does not run as an RVC synthesizer ({first})") from None
        hop, rest = divmod(len(y), PROBE_FRAMES)
        if rest or hop not in (80, 160, 320, 400, 441, 480):
            raise ModelSignatureError(f"{self.synth.path.name} made {len(y)} samples for {PROBE_FRAMES} frames; an "
                                      "RVC synthesizer makes 320/400/480 per 10 ms frame (32/40/48 kHz)")
        return hop

    def features(self, x: np.ndarray) -> np.ndarray:
        """Content features per 10 ms frame, f32[1, frames, D]."""
        src = self.encoder.inputs[0]
        wav = x.astype(np.float32)[None, None, :] if len(src.shape) == 3 else x.astype(np.float32)[None, :]
        feats = np.asarray(self.encoder.run({src.name: wav})[0], dtype=np.float32)
        if feats.ndim != 3:
            raise ModelSignatureError(f"content encoder {self.encoder.path.name} returned shape {feats.shape}, "
                                      "expected [1, frames, features]")
        return np.repeat(feats, 2, axis=1)

    def convert(self, window: np.ndarray, keep_from: int) -> np.ndarray:
        n = len(window)
        n_out = int(round(n * self.output_rate / RATE))
        if float(np.sqrt(np.mean(np.square(window, dtype=np.float64)))) < 1e-5:
            return np.zeros(n_out, dtype=np.float32)
        frames = -(-n // FRAME)
        # the encoder's 25 ms receptive field would drop the last frames: pad the end (reflect), trim after
        x = np.pad(np.asarray(window, dtype=np.float32), (0, END_PAD), mode="reflect") if n > END_PAD else \
            np.pad(np.asarray(window, dtype=np.float32), (0, END_PAD))
        feats = self.features(x)
        frames = min(frames, feats.shape[1])
        if frames <= 0:
            return np.zeros(n_out, dtype=np.float32)
        f0 = self.f0_estimator.f0(x, frames) * 2.0 ** (self.pitch / 12.0)
        y = self._synthesize(np.ascontiguousarray(feats[:, :frames]), f0)
        out = np.zeros(n_out, dtype=np.float32)
        m = min(len(y), n_out)
        out[:m] = y[:m]
        return out
