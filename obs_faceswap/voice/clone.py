"""The embedded voice clone (no download): statistical conversion on WORLD features toward a reference.

``fit_mapping(source, target)`` turns two ``VoiceProfile``s (your voice, the reference) into a
``CloneMap``; ``CloneVoice`` applies it frame by frame inside the DSP converter's WORLD analysis and
synthesis (``dsp.WorldVoice.transform``), so it streams through the same SOLA engine at the same cost:

1. F0: log-F0 mean/variance mapping ``lf0' = mu_t + (lf0 - mu_s) * sd_t / sd_s``; the pitch slider
   adds semitones on top.
2. Envelope, frequency warp: one factor, chosen on a quarter-semitone grid (+-8 st) so that your
   long-term average spectrum (voiced frames), warped, has the reference's shape (mel-cepstral
   coefficients 2..23: formant layout, not level or tilt). Vocal-tract length is the main thing that
   makes voices differ; the formant slider warps the cloned envelope further (after steps 3 and 4).
3. Envelope, equaliser: the remaining mean difference (warped LTAS vs the reference's), smoothed to
   24 mel-cepstral coefficients without c0 (level: ``LoudnessMatch`` keeps the loudness), clamped to
   +-15 dB: the mean mel-cepstrum / spectral-tilt correction.
4. Global-variance post-filter: each voiced frame's mel-cepstral deviation from the converted mean is
   scaled by sqrt(var_ref / var_yours) (0.5..2): statistical mappings flatten the envelope's movement
   over time; this gives the reference's dynamics back.
5. Aperiodicity: with D4C (blocks >= 40 ms) your own per-frame aperiodicity is warped like the
   envelope and shifted by the mean difference to the reference's, so breathy or creaky phonation
   survives and the reference's breathiness is added; below 40 ms (voicing-model aperiodicity) voiced
   frames get the reference's mean aperiodicity.

Your statistics: for a file, the file itself (fixed: the streamed output equals the whole-file output
within the engine's contract). Live: running statistics of your voiced frames (``ProfileAccumulator``),
starting from your saved statistics or your ``own_voice`` clip; with neither, from the reference itself,
whose weight fades out over the first ~2 s of voiced speech (the clone fades in). They are saved under
the filter's profile name every ~10 s of voiced speech and when the stream stops, and reloaded, so a
restart does not start over. The mapping is refitted every 0.5 s of voiced speech (under 1 ms).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from obs_faceswap.voice.dsp import D4C_MIN_BLOCK_MS, FRAME_MS, MARGIN_FRAMES, WorldVoice, warp_envelope
from obs_faceswap.voice.profile import (
    MCEP_ORDER,
    ProfileAccumulator,
    VoiceProfile,
    clip_profile,
    mel_basis,
    profiles_dir,
)

if TYPE_CHECKING:
    from obs_faceswap.voice.options import VoiceOptions

WARP_GRID = 2.0 ** (np.arange(-32, 33) / 48.0)  # +-8 semitones in quarter semitones
MAX_EQ = 15.0 / 10.0 * np.log(10.0)  # +-15 dB in natural log of power
GV_RANGE = (0.5, 2.0)
F0_STD_RANGE = (0.4, 2.5)
WARMUP_FRAMES = 400  # prior weight when only the reference is known (~2 s of voiced speech)
OWN_CLIP_FRAMES = 2000  # prior weight of an own-voice clip (~10 s of voiced speech)
REFIT_FRAMES = 100  # refit the mapping after this many new voiced frames (0.5 s)
SAVE_FRAMES = 2000  # persist the live statistics after this many new voiced frames (10 s)


def warp_vector(v: np.ndarray, factor: float) -> np.ndarray:
    return warp_envelope(v[None, :], factor)[0]


@dataclass(frozen=True)
class CloneMap:
    """The fitted conversion (see the module docstring)."""

    f0_scale: float  # lf0' = f0_scale * lf0 + f0_shift
    f0_shift: float
    warp: float
    eq: np.ndarray  # [513] log-power correction added to every frame
    gv_ratio: np.ndarray  # [MCEP_ORDER]
    mcep_mean: np.ndarray  # [MCEP_ORDER] mean mel-cepstrum of the converted frames
    ap_shift: np.ndarray  # [513] added to voiced frames' aperiodicity (D4C)
    ap_target: np.ndarray  # [513] the reference's mean aperiodicity (voicing-model aperiodicity)


@lru_cache(maxsize=1)
def _warped_basis() -> np.ndarray:
    """[len(WARP_GRID), MCEP_ORDER, 513]: mel-cepstral coefficients of a warped vector, one matrix per
    grid factor (warping is linear), so fitting the warp is one tensor product."""
    forward, _ = mel_basis()
    eye = np.eye(forward.shape[1])
    return np.stack([forward @ warp_envelope(eye, a).T for a in WARP_GRID])


def fit_warp(source: VoiceProfile, target: VoiceProfile) -> float:
    """The frequency-warp factor that best maps the source's LTAS shape onto the target's."""
    forward, _ = mel_basis()
    want = forward @ target.ltas
    cost = ((_warped_basis() @ source.ltas)[:, 2:] - want[2:]) ** 2
    return float(WARP_GRID[int(np.argmin(cost.sum(axis=1)))])


def fit_mapping(source: VoiceProfile, target: VoiceProfile) -> CloneMap:
    """Fit the conversion from ``source`` (your voice) to ``target`` (the reference)."""
    forward, inverse = mel_basis()
    scale = float(np.clip(target.lf0_std / max(source.lf0_std, 1e-3), *F0_STD_RANGE))
    shift = target.lf0_mean - scale * source.lf0_mean
    alpha = fit_warp(source, target)
    warped = warp_vector(source.ltas, alpha)
    diff = forward @ (target.ltas - warped)
    diff[0] = 0.0  # level: the loudness match keeps the input's loudness
    eq = np.clip(inverse @ diff, -MAX_EQ, MAX_EQ)
    ratio = np.sqrt(target.mcep_var / np.maximum(source.mcep_var, 1e-9))
    ratio = np.clip(ratio, *GV_RANGE)
    ratio[0] = 1.0
    ap_shift = target.ap_mean - np.clip(warp_vector(source.ap_mean, alpha), 0.0, 1.0)
    return CloneMap(scale, shift, alpha, eq, ratio, forward @ (warped + eq), ap_shift,
                    np.clip(target.ap_mean, 0.001, 0.999))


def apply_mapping(m: CloneMap, f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, *, pitch: float = 0.0,
                  formant: float = 0.0, aperiodicity: str = "d4c") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clone on WORLD features (frames of F0, envelope, aperiodicity), with the pitch and formant
    sliders as offsets in semitones."""
    voiced = f0 > 0
    f0_out = np.zeros_like(f0)
    lf0 = m.f0_scale * np.log(np.maximum(f0[voiced], 1e-3)) + m.f0_shift + pitch / 12.0 * np.log(2.0)
    f0_out[voiced] = np.exp(lf0)
    logsp = np.log(np.maximum(warp_envelope(sp, m.warp), 1e-16)) + m.eq[None, :]
    if voiced.any():
        forward, inverse = mel_basis()
        dev = logsp[voiced] @ forward.T - m.mcep_mean[None, :]
        logsp[voiced] += (dev * (m.gv_ratio - 1.0)[None, :]) @ inverse.T
    if aperiodicity == "d4c":
        ap_w = warp_envelope(ap, m.warp)
        ap_w[voiced] = ap_w[voiced] + m.ap_shift[None, :]
    else:  # the voicing model: flat over frequency where unvoiced, the reference's where voiced
        ap_w = np.array(ap)
        ap_w[voiced] = m.ap_target[None, :]
    # the formant slider moves the cloned envelope (after the equaliser, which is tied to the reference's
    # frequencies and would otherwise pull the formants back)
    offset = 2.0 ** (formant / 12.0)
    return (np.ascontiguousarray(f0_out), np.ascontiguousarray(warp_envelope(np.exp(logsp), offset)),
            np.ascontiguousarray(np.clip(warp_envelope(ap_w, offset), 0.001, 0.999)))


def own_state_path(name: str) -> Path:
    """Where the live statistics of the own-voice profile ``name`` are kept."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip()) or "default"
    return profiles_dir() / f"own-{safe[:100]}.npz"


class CloneVoice(WorldVoice):
    """``Converter``: the embedded clone toward ``target`` (see the module docstring).

    ``source``: your voice's fixed profile (file conversion). Without it the statistics are learned
    live (``live_name``: the name under which they are saved; None = not saved), starting from
    ``own`` (an own-voice clip's profile) or, when there is none, from the reference itself."""

    def __init__(self, target: VoiceProfile, *, source: VoiceProfile | None = None, own: VoiceProfile | None = None,
                 live_name: str | None = None, pitch: float = 0.0, formant: float = 0.0,
                 aperiodicity: str = "d4c", block_ms: float = 20.0) -> None:
        super().__init__(pitch, formant, aperiodicity=aperiodicity)
        # live: each window's newest block of frames is learnt once (windows overlap by all but a block)
        self.learn_frames = max(1, int(round(block_ms / FRAME_MS)))
        self.target = target
        self.live = source is None
        self.live_name = live_name
        self.acc = ProfileAccumulator()
        self.heard = 0  # voiced frames of the live voice added
        self._since_fit = 0
        self._since_save = 0
        if source is not None:
            self.map = fit_mapping(source, target)
            return
        saved = VoiceProfile.load(own_state_path(live_name)) if live_name else None
        if saved is not None:
            self.acc.add_prior(saved, saved.voiced_frames)
        if own is not None:
            self.acc.add_prior(own, OWN_CLIP_FRAMES)
        # nothing known about you yet: start from the reference itself (no change) and fade it out as
        # your voice is heard, so it does not linger in your statistics
        self.prior_frames = float(WARMUP_FRAMES) if saved is None and own is None else 0.0
        self.map = fit_mapping(self.source_profile(), target)

    def source_profile(self) -> VoiceProfile:
        """Your statistics as the mapping uses them now (live: with what is left of the warm-up prior)."""
        weight = max(0.0, self.prior_frames - self.heard)
        if weight <= 0.0:
            prof = self.acc.profile()
        else:
            mixed = copy.deepcopy(self.acc)
            mixed.add_prior(self.target, weight)
            prof = mixed.profile()
        assert prof is not None
        return prof

    @classmethod
    def from_options(cls, options: VoiceOptions, *, source: VoiceProfile | None = None) -> CloneVoice:
        """Raises ``VoiceProfileError`` for a reference or own-voice clip that cannot be used."""
        target = clip_profile(options.reference_voice)
        own = clip_profile(options.own_voice) if options.own_voice and source is None else None
        name = options.own_voice_profile or "default"
        ap = "d4c" if options.block_ms >= D4C_MIN_BLOCK_MS else "simple"
        return cls(target, source=source, own=own, live_name=name, pitch=options.pitch, formant=options.formant,
                   aperiodicity=ap, block_ms=float(options.block_ms))

    def is_identity(self) -> bool:
        return False

    @property
    def warming_up(self) -> bool:
        """Live, with no saved statistics or own-voice clip: fewer voiced frames heard than the warm-up needs."""
        return self.live and self.heard < self.prior_frames

    def learn(self, f0: np.ndarray, sp: np.ndarray, ap: np.ndarray) -> None:
        """Live: add the voiced frames to your running statistics, refit and save now and then."""
        k = self.acc.add_frames(f0, sp, ap)
        if k == 0:
            return
        self.heard += k
        self._since_fit += k
        self._since_save += k
        if self._since_fit >= REFIT_FRAMES:
            self._since_fit = 0
            self.map = fit_mapping(self.source_profile(), self.target)
        if self._since_save >= SAVE_FRAMES and self.live_name:
            self._since_save = 0
            self.save_state()

    def save_state(self) -> None:
        """Save the live statistics under the profile name (a failure only costs a new warm-up)."""
        prof = self.acc.profile()
        if prof is None or not self.live_name:
            return
        try:
            prof.save(own_state_path(self.live_name))
        except OSError:
            pass

    def transform(self, f0: np.ndarray, sp: np.ndarray, ap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.live:
            # the kept stretch starts after the analysis margin; learn its first block of frames
            lo = min(MARGIN_FRAMES, len(f0))
            part = slice(lo, lo + self.learn_frames)
            # the voicing-model aperiodicity is not yours: then learn F0 and envelope only
            own_ap = ap[part] if self.aperiodicity == "d4c" else np.broadcast_to(self.target.ap_mean, sp[part].shape)
            self.learn(f0[part], sp[part], own_ap)
        return apply_mapping(self.map, f0, sp, ap, pitch=self.pitch, formant=self.formant,
                             aperiodicity=self.aperiodicity)

    def describe(self) -> str:
        return (f"clone toward a {self.target.f0_hz:.0f} Hz voice, formant warp {12 * np.log2(self.map.warp):+.2f} st"
                + (" (learning your voice)" if self.warming_up else ""))


def clone_for_file(options: VoiceOptions, audio: np.ndarray, rate: int) -> CloneVoice:
    """The embedded clone for converting the (channels, n) recording ``audio``, with your statistics taken
    from the recording itself (or the ``own_voice`` clip when the recording has too little speech)."""
    from obs_faceswap.voice.profile import VoiceProfileError, analyze

    try:
        source = analyze(np.asarray(audio, dtype=np.float32).mean(axis=0), rate)
    except VoiceProfileError as exc:
        if not options.own_voice:
            raise VoiceProfileError(f"the input: {exc}; or give --own-voice CLIP") from None
        source = clip_profile(options.own_voice)
    return CloneVoice.from_options(options, source=source)


__all__ = ["CloneMap", "CloneVoice", "MCEP_ORDER", "apply_mapping", "clone_for_file", "fit_mapping", "own_state_path"]
