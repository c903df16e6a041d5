"""Voice statistics on WORLD features: what the embedded clone maps from (your voice) and to (the reference).

A ``VoiceProfile`` summarises the voiced frames of a voice, analysed exactly as the live converter
analyses them (``dsp``: dio + stonemask F0, cheaptrick envelope, D4C aperiodicity at 16 kHz, 5 ms
frames):

- ``lf0_mean`` / ``lf0_std``: mean and spread of log F0 (natural log of Hz);
- ``ltas``: long-term average spectrum, the mean log power envelope (513 bins, 0-8 kHz);
- ``mcep_mean`` / ``mcep_var``: mean and variance over time of the envelope's mel-cepstrum (the
  global variance the post-filter restores);
- ``ap_mean``: mean aperiodicity (0 periodic ... 1 noise) per bin: breathiness.

``reference_profile(path)`` analyses a clip once and caches the result by the file's SHA-256 under
the user data folder, so a reference shared by several filters or used again after a restart costs
nothing. ``ProfileAccumulator`` keeps running sums of the same statistics (live: your voice learned
while you speak), with a bounded memory so it follows a voice that changes, and saves/loads itself.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyworld as pw

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.voice.dsp import F0_CEIL, F0_FLOOR, FFT_SIZE, FRAME_MS, RATE

BINS = FFT_SIZE // 2 + 1
MCEP_ORDER = 24  # mel-cepstral coefficients kept (c0 = level ... c23)
MEL_POINTS = 80
MIN_VOICED_FRAMES = 200  # 1 s of voiced speech: less is not a voice profile
PROFILE_VERSION = 1
MAX_CLIP_SECONDS = 120.0


class VoiceProfileError(FaceSwapError):
    """A reference or own-voice clip cannot be used."""


def _interp_matrix(pos: np.ndarray, n: int) -> np.ndarray:
    """(len(pos), n) matrix of linear interpolation at fractional indices ``pos`` into an n-point axis."""
    m = np.zeros((len(pos), n))
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    m[np.arange(len(pos)), lo] += 1.0 - frac
    m[np.arange(len(pos)), hi] += frac
    return m


@lru_cache(maxsize=1)
def mel_basis() -> tuple[np.ndarray, np.ndarray]:
    """(forward [MCEP_ORDER, BINS], inverse [BINS, MCEP_ORDER]): log envelope <-> mel-cepstrum.

    Forward: sample the log envelope on ``MEL_POINTS`` mel-spaced frequencies, orthonormal DCT-II,
    keep the first ``MCEP_ORDER`` coefficients. Inverse: the transposed DCT back to the mel grid, then
    linear interpolation onto the 513 bins. ``inverse @ forward`` is a smoothing projector: it keeps
    the envelope's shape on a perceptual scale and drops harmonic ripple."""
    freqs = np.linspace(0.0, RATE / 2, BINS)
    mel = 1127.0 * np.log1p(freqs / 700.0)
    grid = np.linspace(0.0, mel[-1], MEL_POINTS)
    # interpolation matrices between the bins and the mel grid
    to_mel = _interp_matrix(np.interp(grid, mel, np.arange(BINS, dtype=np.float64)), BINS)
    from_mel = _interp_matrix(np.interp(mel, grid, np.arange(MEL_POINTS, dtype=np.float64)), MEL_POINTS)
    k = np.arange(MCEP_ORDER)[:, None]
    n = np.arange(MEL_POINTS)[None, :]
    dct = np.sqrt(2.0 / MEL_POINTS) * np.cos(np.pi * k * (n + 0.5) / MEL_POINTS)
    dct[0] /= np.sqrt(2.0)
    return dct @ to_mel, from_mel @ dct.T


@dataclass(frozen=True)
class VoiceProfile:
    lf0_mean: float
    lf0_std: float
    ltas: np.ndarray
    mcep_mean: np.ndarray
    mcep_var: np.ndarray
    ap_mean: np.ndarray
    voiced_frames: int

    @property
    def f0_hz(self) -> float:
        """Geometric-mean F0 in Hz."""
        return float(np.exp(self.lf0_mean))

    def save(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp.npz")
        np.savez(tmp, version=PROFILE_VERSION, lf0=np.array([self.lf0_mean, self.lf0_std]), ltas=self.ltas,
                 mcep_mean=self.mcep_mean, mcep_var=self.mcep_var, ap_mean=self.ap_mean,
                 voiced=np.array(self.voiced_frames))
        os.replace(tmp, p)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VoiceProfile | None:
        """The saved profile, or None when the file is missing, unreadable or of another version."""
        try:
            with np.load(str(path)) as z:
                if int(z["version"]) != PROFILE_VERSION:
                    return None
                return cls(float(z["lf0"][0]), float(z["lf0"][1]), z["ltas"].copy(), z["mcep_mean"].copy(),
                           z["mcep_var"].copy(), z["ap_mean"].copy(), int(z["voiced"]))
        except (OSError, KeyError, ValueError):
            return None


class ProfileAccumulator:
    """Running sums of the profile statistics over voiced frames.

    ``memory`` bounds the number of frames the sums represent (older frames fade out), so the profile
    follows the voice; ``prior`` frames of another profile can be mixed in (``add_prior``): the warm-up
    blend until enough of the live voice has been heard."""

    def __init__(self, memory: int = 60000) -> None:
        self.memory = memory
        self.n = 0.0
        self.s_lf0 = 0.0
        self.s_lf0_sq = 0.0
        self.s_ltas = np.zeros(BINS)
        self.s_mcep = np.zeros(MCEP_ORDER)
        self.s_mcep_sq = np.zeros(MCEP_ORDER)
        self.s_ap = np.zeros(BINS)

    def add_frames(self, f0: np.ndarray, sp: np.ndarray, ap: np.ndarray) -> int:
        """Add the voiced frames of one WORLD analysis; returns how many were voiced."""
        voiced = f0 > 0
        k = int(voiced.sum())
        if k == 0:
            return 0
        logsp = np.log(np.maximum(sp[voiced], 1e-16))
        forward, _ = mel_basis()
        mcep = logsp @ forward.T
        lf0 = np.log(f0[voiced])
        self.s_lf0 += float(lf0.sum())
        self.s_lf0_sq += float((lf0 * lf0).sum())
        self.s_ltas += logsp.sum(axis=0)
        self.s_mcep += mcep.sum(axis=0)
        self.s_mcep_sq += (mcep * mcep).sum(axis=0)
        self.s_ap += ap[voiced].sum(axis=0)
        self.n += k
        if self.n > self.memory:
            self._scale(self.memory / self.n)
        return k

    def add_prior(self, profile: VoiceProfile, frames: float) -> None:
        """Mix ``frames`` frames' worth of ``profile`` into the sums."""
        if frames <= 0:
            return
        self.n += frames
        self.s_lf0 += frames * profile.lf0_mean
        self.s_lf0_sq += frames * (profile.lf0_std ** 2 + profile.lf0_mean ** 2)
        self.s_ltas += frames * profile.ltas
        self.s_mcep += frames * profile.mcep_mean
        self.s_mcep_sq += frames * (profile.mcep_var + profile.mcep_mean ** 2)
        self.s_ap += frames * profile.ap_mean

    def _scale(self, k: float) -> None:
        self.n *= k
        self.s_lf0 *= k
        self.s_lf0_sq *= k
        self.s_ltas *= k
        self.s_mcep *= k
        self.s_mcep_sq *= k
        self.s_ap *= k

    def profile(self) -> VoiceProfile | None:
        if self.n <= 0:
            return None
        n = self.n
        mean = self.s_lf0 / n
        mcep_mean = self.s_mcep / n
        return VoiceProfile(mean, float(np.sqrt(max(self.s_lf0_sq / n - mean * mean, 1e-6))), self.s_ltas / n,
                            mcep_mean, np.maximum(self.s_mcep_sq / n - mcep_mean ** 2, 1e-6), self.s_ap / n,
                            int(round(n)))


def analyze(audio: np.ndarray, rate: int = RATE) -> VoiceProfile:
    """Profile of a mono recording (any rate; analysed at 16 kHz like the live converter).

    Raises ``VoiceProfileError`` when it holds less than a second of voiced speech."""
    from obs_faceswap.voice.stream import resample

    x = np.ascontiguousarray(resample(np.asarray(audio, dtype=np.float32), rate, RATE), dtype=np.float64)
    f0, t = pw.dio(x, RATE, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, RATE)
    voiced = f0 > 0
    if int(voiced.sum()) < MIN_VOICED_FRAMES:
        raise VoiceProfileError(f"only {voiced.sum() * FRAME_MS / 1000:.1f} s of voiced speech found; a voice clip "
                                "needs at least 1 s (5-60 s of clear speech works best)")
    # analyse only the voiced frames' envelopes and aperiodicities (the rest is not used)
    f0v, tv = np.ascontiguousarray(f0[voiced]), np.ascontiguousarray(t[voiced])
    sp = pw.cheaptrick(x, f0v, tv, RATE, f0_floor=F0_FLOOR, fft_size=FFT_SIZE)
    ap = pw.d4c(x, f0v, tv, RATE, fft_size=FFT_SIZE)
    acc = ProfileAccumulator(memory=10 ** 9)
    acc.add_frames(f0v, sp, ap)
    prof = acc.profile()
    assert prof is not None
    return prof


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def profiles_dir() -> Path:
    """Where analysed clips and learned own-voice statistics are kept (user data folder)."""
    from obs_faceswap.config import user_data_dir

    return user_data_dir() / "voice-profiles"


def clip_profile(path: str | os.PathLike[str]) -> VoiceProfile:
    """The profile of an audio clip, analysed once and cached by the file's SHA-256.

    Raises ``VoiceProfileError`` (one line: what is wrong, what to do) for a missing, unreadable,
    too long or too short clip."""
    from obs_faceswap.voice.files import AudioFileError, read_audio

    p = Path(path).expanduser()
    if not p.is_file():
        raise VoiceProfileError(f"voice clip not found: {p}")
    cached = profiles_dir() / f"clip-{file_sha256(p)}.npz"
    prof = VoiceProfile.load(cached)
    if prof is not None:
        return prof
    try:
        audio, rate = read_audio(p)
    except AudioFileError as exc:
        raise VoiceProfileError(str(exc)) from None
    seconds = audio.shape[1] / rate
    if seconds > MAX_CLIP_SECONDS:
        raise VoiceProfileError(f"{p.name} is {seconds:.0f} s long; use a clip of 5-60 s (at most "
                                f"{MAX_CLIP_SECONDS:.0f} s)")
    try:
        prof = analyze(audio.mean(axis=0), rate)
    except VoiceProfileError as exc:
        raise VoiceProfileError(f"{p.name}: {exc}") from None
    try:
        prof.save(cached)
    except OSError:
        pass  # a read-only data folder only costs the analysis next time
    return prof
