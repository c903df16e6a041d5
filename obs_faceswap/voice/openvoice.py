"""Zero-shot neural clone: the OpenVoice v2 tone-colour converter as a streaming ``Converter`` (torch).

``models download openvoice_v2`` installs the official ``converter/checkpoint.pth`` (MIT); the network
and its loader are in ``openvoice_model``. The converter's own reference encoder turns the reference
clip into the target speaker embedding (once per clip, cached by the clip's SHA-256 and the
checkpoint); your embedding comes from the recording for a file, from the ``own_voice`` clip when
given, else live from your speech (the running mean of the embeddings of loud windows, starting from
the reference's until ~2 s of speech were heard).

Streaming: the SOLA stream calls ``convert`` on each window (left context, block, crossfade, search,
right context) at 22.05 kHz. The posterior encoder and the flows see +-32 frames and the decoder a few
more, so every window needs history (``min_left_context_ms``) and a little future
(``right_context_ms``, 4 frames); blocks are at least ``min_block_ms`` long (the network costs as much
per window as per second of audio at 20 ms blocks). The posterior's sampling noise (tau 0.3, the
official default) is drawn from a fixed seed per window, so the same input gives the same output.
CUDA is used when this torch has it (``provider`` 'auto' or 'cuda'), else the CPU.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from obs_faceswap.errors import FaceSwapError, ModelError

if TYPE_CHECKING:
    from obs_faceswap.voice.options import VoiceOptions

RATE = 22050
HOP = 256
TAU = 0.3
SEED = 1234
LIVE_EMBEDDING_SECONDS = 2.0  # speech before your own embedding outweighs the reference's
LOUD_RMS = 0.01


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise FaceSwapError("backend 'openvoice' needs torch: install the 'train' extra "
                            "(pip install -e '.[train]' or installer/install.sh --extras train)") from None
    return torch


def pick_device(provider: str) -> str:
    torch = _torch()
    if provider in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def checkpoint_path(options: VoiceOptions) -> Path:
    """The converter checkpoint: the ``voice_model`` setting when it names a .pth file, else the installed
    ``openvoice_v2`` (checked against its recorded SHA-256)."""
    from obs_faceswap.models.registry import ensure_intact, get_entry, resolve_model

    chosen = options.voice_model.strip()
    if chosen and chosen.lower().endswith((".pth", ".pt")):
        p = Path(chosen).expanduser()
        if not p.is_file():
            raise ModelError(f"OpenVoice checkpoint not found: {p}")
        return p
    path = resolve_model("openvoice_v2")
    ensure_intact(get_entry("openvoice_v2"))
    return path


def load_converter(path: Path, device: str) -> Any:
    """The converter network of ``path``; loaded once while the file is unchanged (a new reference clip or
    a second filter does not load the 131 MB again)."""
    st = Path(path).stat()
    return _load_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, device)


@lru_cache(maxsize=1)
def _load_cached(path: str, _size: int, _mtime: int, device: str) -> Any:
    from obs_faceswap.voice.openvoice_model import CheckpointError, load_checkpoint

    try:
        return load_checkpoint(path, device)
    except CheckpointError as exc:
        raise ModelError(f"{Path(path).name} is not an OpenVoice v2 converter checkpoint: {exc}") from None


def _mono_at_rate(audio: np.ndarray, rate: int) -> np.ndarray:
    from obs_faceswap.voice.stream import resample

    x = np.asarray(audio, dtype=np.float32)
    return resample(x.mean(axis=0) if x.ndim == 2 else x, rate, RATE)


def embedding_of(model: Any, audio: np.ndarray, rate: int) -> np.ndarray:
    """The speaker embedding [1, 256, 1] of a mono (or (channels, n)) recording."""
    torch = _torch()
    x = _mono_at_rate(audio, rate)
    if len(x) < RATE // 2:
        raise FaceSwapError("a voice clip for OpenVoice needs at least 0.5 s of audio (5-60 s works best)")
    device = next(model.parameters()).device
    with torch.no_grad():
        se = model.speaker_embedding(torch.from_numpy(x)[None].to(device))
    return se.cpu().numpy()


def clip_embedding(model: Any, clip: str, checkpoint: Path) -> np.ndarray:
    """The embedding of a clip, computed once per (clip content, checkpoint) and cached."""
    from obs_faceswap.voice.files import AudioFileError, read_audio
    from obs_faceswap.voice.profile import VoiceProfileError, file_sha256, profiles_dir

    p = Path(clip).expanduser()
    if not p.is_file():
        raise VoiceProfileError(f"voice clip not found: {p}")
    st = checkpoint.stat()
    key = hashlib.sha256(f"{file_sha256(p)}:{checkpoint.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    cached = profiles_dir() / f"openvoice-{key[:32]}.npy"
    try:
        return np.load(cached)
    except (OSError, ValueError):
        pass
    try:
        audio, rate = read_audio(p)
    except AudioFileError as exc:
        raise VoiceProfileError(str(exc)) from None
    se = embedding_of(model, audio, rate)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, se)
    except OSError:
        pass
    return se


class OpenVoiceVoice:
    """``Converter``: OpenVoice v2 tone-colour conversion toward ``target`` (see the module docstring)."""

    input_rate = RATE
    output_rate = RATE
    right_context_ms = 4 * HOP * 1000.0 / RATE  # 46 ms
    min_left_context_ms = 400.0
    min_block_ms = 100.0
    passes_high_band = True  # 22.05 kHz carries up to 11 kHz; the air above comes from the input

    def __init__(self, model: Any, target: np.ndarray, source: np.ndarray | None = None, *, tau: float = TAU) -> None:
        self.torch = _torch()
        self.model = model
        self.device = next(model.parameters()).device
        self.target = np.asarray(target, dtype=np.float32)
        self.live = source is None
        self.source = self.target.copy() if source is None else np.asarray(source, dtype=np.float32)
        self.heard = 0.0  # seconds of loud live audio whose embeddings were averaged in
        self.tau = tau
        from obs_faceswap.voice.openvoice_model import DECODER_REACH

        self.reach = DECODER_REACH

    @classmethod
    def from_options(cls, options: VoiceOptions, *, recording: tuple[np.ndarray, int] | None = None
                     ) -> OpenVoiceVoice:
        ref = options.reference_voice
        if not ref:
            raise FaceSwapError("backend 'openvoice' clones a reference voice: set 'reference_voice' to a 5-60 s clip")
        path = checkpoint_path(options)
        model = load_converter(path, pick_device(options.provider))
        target = clip_embedding(model, ref, path)
        own = options.own_voice
        if recording is not None:
            source: np.ndarray | None = embedding_of(model, *recording)
        else:
            source = clip_embedding(model, own, path) if own else None
        return cls(model, target, source)

    def update(self, options: VoiceOptions) -> None:
        return None

    def is_identity(self) -> bool:
        return False

    def describe(self) -> str:
        state = " (learning your voice)" if self.live and self.heard < LIVE_EMBEDDING_SECONDS else ""
        return f"OpenVoice v2 on {self.device}{state}"

    def _learn(self, x: np.ndarray, keep_from: int) -> None:
        """Live: average your speaker embedding over loud windows (the new part of each counts)."""
        new = x[keep_from:]
        if float(np.sqrt(np.mean(new * new))) < LOUD_RMS or len(x) < RATE // 4:
            return
        torch = self.torch
        with torch.no_grad():
            se = self.model.speaker_embedding(torch.from_numpy(np.ascontiguousarray(x))[None].to(self.device))
        seconds = len(new) / RATE
        w = seconds / (self.heard + seconds) if self.heard >= LIVE_EMBEDDING_SECONDS else \
            seconds / LIVE_EMBEDDING_SECONDS
        self.source = ((1.0 - w) * self.source + w * se.cpu().numpy()).astype(np.float32)
        self.heard = min(self.heard + seconds, 60.0)

    def convert(self, window: np.ndarray, keep_from: int) -> np.ndarray:
        torch = self.torch
        n = len(window)
        x = np.asarray(window, dtype=np.float32)
        if self.live:
            self._learn(x, keep_from)
        frames = -(-n // HOP)
        padded = np.zeros(frames * HOP, dtype=np.float32)
        padded[:n] = x
        # the decoder runs only from DECODER_REACH frames before the kept output (what precedes is discarded)
        start = max(0, keep_from // HOP - self.reach)
        gen = torch.Generator().manual_seed(SEED)
        with torch.no_grad():
            wave = torch.from_numpy(padded)[None].to(self.device)
            spec = self.model.spectrogram(wave)
            y = self.model.convert(spec, torch.from_numpy(self.source).to(self.device),
                                   torch.from_numpy(self.target).to(self.device), self.tau, gen, decode_from=start)
        out = np.zeros(frames * HOP, dtype=np.float32)
        decoded = y[0, 0].float().cpu().numpy()
        out[start * HOP: start * HOP + len(decoded)] = decoded
        return np.ascontiguousarray(out[:n])
