"""The embedded voice clone on espeak-ng voices: a male and a female variant, different sentences for the
reference and the input. After cloning, F0 (median, spread), the mean spectral envelope and the formants
must be closer to the reference's than to the input's; duration, timing and block joins are kept.

The measures are independent of the clone's own analysis: F0 by WORLD harvest (the clone uses dio), the
envelope as the mean per-frame log-mel spectrum of an STFT, formants F1/F2 by LPC at 10 kHz.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.linalg import solve_toeplitz
from scipy.signal import resample_poly, stft

from obs_faceswap.cli import main
from obs_faceswap.voice.clone import CloneVoice, fit_mapping, own_state_path
from obs_faceswap.voice.engine import VoiceEngine
from obs_faceswap.voice.files import convert_file, read_audio, stream_through
from obs_faceswap.voice.options import VoiceOptions
from obs_faceswap.voice.profile import VoiceProfileError, analyze, clip_profile, file_sha256, profiles_dir

from .conftest import RATE, envelope, f0_track, spectral_centroid
from .test_live_devices import MIC, SPEAKERS, alsa, cli  # noqa: F401  (alsa: the fixture)

REFERENCE_TEXT = ("When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow. "
                  "The rainbow is a division of white light into many beautiful colours.")
INPUT_TEXT = "Hello there, this is a quick test of my new voice. Is it working well? I hope the words stay clear."
VOICES = {"male": "en-us+m3", "female": "en-us+f3"}


def espeak(path: Path, voice: str, text: str) -> Path:
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is required for the voice tests (apt install espeak-ng)"
    raw = path.with_suffix(".raw.wav")
    subprocess.run([exe, "-v", voice, "-s", "160", "-w", str(raw), text], check=True, capture_output=True)
    x, sr = sf.read(str(raw), dtype="float64")
    sf.write(str(path), resample_poly(x, RATE, sr) * 0.8 / np.abs(x).max(), RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module", autouse=True)
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Profiles (reference cache, learned own voices) go to a private data folder."""
    home = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    out = {}
    for who, voice in VOICES.items():
        out[f"{who}_ref"] = espeak(d / f"{who}_ref.wav", voice, REFERENCE_TEXT)
        out[f"{who}_in"] = espeak(d / f"{who}_in.wav", voice, INPUT_TEXT)
    return out


def load(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float32")
    assert sr == RATE
    return x


# ---------------------------------------------------------------- independent measures
def f0_stats(x: np.ndarray) -> tuple[float, float]:
    """(median F0 in Hz, spread: 10-90 % range of log F0 in semitones) by WORLD harvest."""
    f0 = f0_track(x)
    st = 12.0 * np.log2(f0[f0 > 0])
    return float(2.0 ** (np.median(st) / 12.0)), float(np.percentile(st, 90) - np.percentile(st, 10))


def mel_envelope(x: np.ndarray) -> np.ndarray:
    """Mean per-frame log-mel spectrum (dB, each frame's mean removed) over the voiced frames."""
    s = resample_poly(np.asarray(x, dtype=np.float64), 16000, RATE)
    f, _, z = stft(s, 16000, nperseg=512, noverlap=352)  # 10 ms hop
    p = np.abs(z) ** 2

    def mel(h: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(h) / 700.0)

    e = 700.0 * (10.0 ** (np.linspace(mel(80.0), mel(7600.0), 42) / 2595.0) - 1.0)
    fb = np.array([np.clip(np.minimum((f - e[i]) / (e[i + 1] - e[i]), (e[i + 2] - f) / (e[i + 2] - e[i + 1])),
                           0.0, None) for i in range(40)])
    lm = 10.0 * np.log10(fb @ p + 1e-10)
    f0 = f0_track(x)[::2]  # 5 ms -> 10 ms frames
    n = min(lm.shape[1], len(f0))
    keep = (f0[:n] > 0) & (lm[:, :n].mean(axis=0) > lm.mean(axis=0).max() - 40.0)
    v = lm[:, :n][:, keep]
    return (v - v.mean(axis=0)).mean(axis=1)


def formants(x: np.ndarray) -> np.ndarray:
    """Median F1, F2 (Hz) of the voiced frames: LPC order 12 at 10 kHz, 25 ms frames."""
    s = resample_poly(np.asarray(x, dtype=np.float64), 10000, RATE)
    s = np.append(s[0], s[1:] - 0.7 * s[:-1])
    f0 = f0_track(x)[::2]
    n, hop, w, found = 250, 100, np.hamming(250), []
    for i, start in enumerate(range(0, len(s) - n, hop)):
        if i >= len(f0) or f0[i] <= 0:
            continue
        fr = s[start: start + n] * w
        if float(np.sum(fr * fr)) < 1e-6:
            continue
        r = np.correlate(fr, fr, "full")[n - 1: n + 13]
        a = solve_toeplitz(r[:12], r[1:13])
        roots = np.roots(np.r_[1.0, -a])
        roots = roots[np.imag(roots) > 0]
        freq = np.angle(roots) * 10000 / (2 * np.pi)
        bw = -np.log(np.abs(roots)) * 10000 / np.pi
        fs = np.sort(freq[(bw < 400) & (freq > 200)])
        if len(fs) >= 2:
            found.append(fs[:2])
    return np.median(np.array(found), axis=0)


def rms_db(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def formant_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |log2 ratio| of F1 and F2, in semitones."""
    return float(np.mean(np.abs(12.0 * np.log2(a / b))))


# ---------------------------------------------------------------- conversions, computed once
@pytest.fixture(scope="module")
def cloned(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """male -> female and female -> male through ``convert_file`` (20 ms blocks, as live)."""
    d = tmp_path_factory.mktemp("cloned")
    out = {}
    for src, ref in (("male", "female"), ("female", "male")):
        dst = d / f"{src}_to_{ref}.wav"
        info = convert_file(clips[f"{src}_in"], dst,
                            VoiceOptions.from_settings({"reference_voice": str(clips[f"{ref}_ref"]), "block_ms": 20}))
        assert info["voice"].startswith("clone toward")
        out[f"{src}_to_{ref}"] = dst
    return out


@pytest.mark.parametrize("src,ref", [("male", "female"), ("female", "male")])
def test_clone_moves_f0_envelope_and_formants_to_the_reference(clips: dict[str, Path], cloned: dict[str, Path],
                                                               src: str, ref: str) -> None:
    x, r, y = load(clips[f"{src}_in"]), load(clips[f"{ref}_ref"]), load(cloned[f"{src}_to_{ref}"])
    assert len(y) == len(x), "duration kept"
    (mx, sx), (mr, sr_), (my, sy) = f0_stats(x), f0_stats(r), f0_stats(y)
    f0_to_ref, f0_to_in = abs(12 * np.log2(my / mr)), abs(12 * np.log2(my / mx))
    msg = (f"{src}->{ref}: median F0 in {mx:.0f} Hz, reference {mr:.0f} Hz, out {my:.0f} Hz "
           f"({f0_to_ref:.2f} st from the reference, {f0_to_in:.2f} st from the input); spread in {sx:.1f} st, "
           f"reference {sr_:.1f} st, out {sy:.1f} st")
    assert f0_to_ref < 1.5 and f0_to_ref < 0.25 * f0_to_in, msg
    assert abs(sy - sr_) < abs(sy - sx) or abs(sy - sr_) < 1.0, msg
    ex, er, ey = mel_envelope(x), mel_envelope(r), mel_envelope(y)
    env_msg = (f"{src}->{ref}: mean log-mel envelope {rms_db(ey, er):.2f} dB RMS from the reference, "
               f"{rms_db(ey, ex):.2f} dB from the input (input to reference {rms_db(ex, er):.2f} dB)")
    assert rms_db(ey, er) < 0.5 * rms_db(ey, ex), env_msg
    fx, fr, fy = formants(x), formants(r), formants(y)
    fmt_msg = (f"{src}->{ref}: F1/F2 in {fx.round()}, reference {fr.round()}, out {fy.round()} Hz: "
               f"{formant_distance(fy, fr):.2f} st from the reference, {formant_distance(fy, fx):.2f} st from the input")
    assert formant_distance(fy, fr) < formant_distance(fy, fx), fmt_msg
    print(msg, env_msg, fmt_msg, sep="\n")


def test_clone_keeps_the_timing_of_the_words(clips: dict[str, Path], cloned: dict[str, Path]) -> None:
    """Words intact: the loudness envelope (syllables) of the output lines up with the input's at lag 0."""
    x, y = load(clips["male_in"]), load(cloned["male_to_female"])
    a, b = envelope(x), envelope(y)
    a, b = (a - a.mean()) / a.std(), (b - b.mean()) / b.std()
    lags = list(range(-10, 11))
    corr = [float(np.mean(a[max(0, k): len(a) + min(0, k)] * b[max(0, -k): len(b) - max(0, k)])) for k in lags]
    assert abs(lags[int(np.argmax(corr))]) <= 1 and max(corr) > 0.8, (lags[int(np.argmax(corr))], max(corr))


def test_streamed_equals_whole_file_and_block_joins_are_continuous(clips: dict[str, Path]) -> None:
    x = load(clips["male_in"])
    settings = {"reference_voice": str(clips["female_ref"]), "block_ms": 20, "gate_db": -100}
    conv = CloneVoice.from_options(VoiceOptions.from_settings(settings), source=analyze(x, RATE))
    engine = VoiceEngine.from_settings(settings, RATE, converter=conv)
    y = stream_through(engine, x[None])[0]
    w = engine.convert_whole(x)
    # the engine's contract for a vocoder (see test_dsp): the streamed F0 contour follows the whole-file one
    # frame by frame, with the extra jitter of per-window analysis (dio at window edges; the DSP pitch shift
    # at +11 st shows the same: spread 7.1 st streamed vs 5.8 st whole)
    fy, fw = f0_track(y), f0_track(w)
    both = (fy > 0) & (fw > 0)
    agree = float(np.mean(np.abs(fy[both] / fw[both] - 1.0) < 0.05))
    (my, sy), (mw, sw) = f0_stats(y), f0_stats(w)
    msg = f"median F0 streamed {my:.0f} Hz / whole {mw:.0f} Hz, spread {sy:.1f} / {sw:.1f} st, {agree:.0%} frames agree"
    assert agree > 0.7 and my == pytest.approx(mw, rel=0.05) and abs(sy - sw) < 2.5, msg
    assert rms_db(mel_envelope(y), mel_envelope(w)) < 1.0
    ey, ew = envelope(y), envelope(w)
    loud = ew > ew.max() * 0.05
    assert np.median(np.abs(20 * np.log10((ey[loud] + 1e-6) / (ew[loud] + 1e-6)))) < 1.5
    # block joins: the largest sample-to-sample step near a join is no larger than elsewhere
    b, c, lat = engine.block_samples, engine.layout.crossfade, engine.latency_samples
    idx = np.arange(len(y) - 1)
    pos = (idx + lat - b) % b  # position inside the emitted block (file output drops the delay)
    near = (pos < c + 8) | (pos > b - 8)
    step = np.abs(np.diff(y.astype(np.float64)))
    assert step[near].max() <= 1.2 * step[~near].max(), (step[near].max(), step[~near].max())


def test_pitch_and_formant_are_offsets_on_top_of_the_clone(clips: dict[str, Path]) -> None:
    x = load(clips["male_in"])
    source = analyze(x, RATE)
    base = {"reference_voice": str(clips["female_ref"]), "block_ms": 40}
    plain = CloneVoice.from_options(VoiceOptions.from_settings(base), source=source)
    up = CloneVoice.from_options(VoiceOptions.from_settings({**base, "pitch": 3.0, "formant": 2.0}), source=source)
    yp = VoiceEngine.from_settings(base, RATE, converter=plain).convert_whole(x)
    yu = VoiceEngine.from_settings(base, RATE, converter=up).convert_whole(x)
    assert f0_stats(yu)[0] / f0_stats(yp)[0] == pytest.approx(2 ** (3 / 12), rel=0.04)
    # +2 st of formant: the envelope moves up (spectral centroid ~ +12 %; LPC F2 is unreliable this high)
    assert spectral_centroid(yu) > 1.05 * spectral_centroid(yp), (spectral_centroid(yu), spectral_centroid(yp))


def test_live_clone_learns_your_voice_and_keeps_it_across_restarts(clips: dict[str, Path]) -> None:
    """Live (no file statistics): it starts from the reference (a warm-up), learns the input's voice from its
    voiced frames, saves it under the profile name, and a new filter with that name starts where it stopped."""
    x = load(clips["male_in"])
    target = clip_profile(clips["female_ref"])
    file_fit = CloneVoice(target, source=analyze(x, RATE)).map
    conv = CloneVoice(target, live_name="test mic/Voice Clone", aperiodicity="simple")
    assert conv.warming_up and conv.map.f0_scale == pytest.approx(1.0)
    engine = VoiceEngine.from_settings({"block_ms": 20, "gate_db": -100}, RATE, converter=conv)
    stream_through(engine, x[None])
    assert not conv.warming_up
    learned = conv.map
    # the learned F0 mapping is close to the one fitted on the whole file (within 1.5 semitones at 100 Hz)
    at = np.log(100.0)
    st = 12 / np.log(2) * abs((learned.f0_scale * at + learned.f0_shift) - (file_fit.f0_scale * at + file_fit.f0_shift))
    assert st < 1.5, f"learned F0 mapping {st:.2f} st from the file's"
    conv.save_state()
    assert own_state_path("test mic/Voice Clone").is_file()
    again = CloneVoice(target, live_name="test mic/Voice Clone", aperiodicity="simple")
    assert not again.warming_up
    now = fit_mapping(conv.acc.profile(), target)  # what the first one had learned when it was saved
    assert again.map.f0_shift == pytest.approx(now.f0_shift, abs=1e-6) and again.map.warp == now.warp


def test_reference_is_analysed_once_and_cached_by_content(clips: dict[str, Path], tmp_path: Path) -> None:
    first = clip_profile(clips["female_ref"])
    cached = profiles_dir() / f"clip-{file_sha256(clips['female_ref'])}.npz"
    assert cached.is_file()
    # mark the cache entry: a clip with the same content under another name gets the cached analysis
    from dataclasses import replace

    replace(first, lf0_mean=first.lf0_mean + 0.125).save(cached)
    copy = tmp_path / "same voice, other name.wav"
    copy.write_bytes(clips["female_ref"].read_bytes())
    assert clip_profile(copy).lf0_mean == first.lf0_mean + 0.125
    first.save(cached)


def test_unusable_reference_clips_give_one_line_errors(tmp_path: Path, clips: dict[str, Path]) -> None:
    with pytest.raises(VoiceProfileError, match="voice clip not found"):
        clip_profile(tmp_path / "missing.wav")
    silent = tmp_path / "silence.wav"
    sf.write(str(silent), np.zeros(RATE * 3, dtype=np.float32), RATE)
    with pytest.raises(VoiceProfileError, match="voiced speech"):
        clip_profile(silent)
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    with pytest.raises(VoiceProfileError, match="cannot read"):
        clip_profile(text)


def test_cli_clones_a_file_and_reports_latency(clips: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.wav"
    assert main(["voice", "--input", str(clips["female_in"]), "--output", str(out),
                 "--reference-voice", str(clips["male_ref"]), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "clone toward" in printed and "latency 65 ms" in printed, printed
    y, rate = read_audio(out)
    assert rate == RATE and y.shape[1] == len(load(clips["female_in"]))
    assert f0_stats(y[0])[0] < 0.7 * f0_stats(load(clips["female_in"]))[0]
    assert main(["voice", "--input", str(clips["female_in"]), "--output", str(tmp_path / "x.wav"),
                 "--reference-voice", str(tmp_path / "nobody.wav")]) != 0
    assert "voice clip not found" in capsys.readouterr().err


def test_live_cli_with_a_reference_clones_from_the_first_word_and_keeps_the_profile(
        alsa: dict[str, object], clips: dict[str, Path], data_home: Path) -> None:  # noqa: F811
    """``voice --live --reference-voice`` through real PortAudio (ALSA file devices, see test_live_devices);
    with ``--own-voice`` the clone is active from the start; the learned profile is saved on exit."""
    own = Path(str(alsa["played"])).with_name("me.wav")
    sf.write(str(own), np.asarray(alsa["mic"]), RATE)
    r = cli(alsa, "--live", "--seconds", "2", "--input-device", MIC, "--output-device", SPEAKERS,
            "--reference-voice", str(clips["female_ref"]), "--own-voice", str(own), "--own-voice-profile", "cli test")
    assert r.returncode == 0, r.stderr
    assert "clone toward a" in r.stderr and "latency 65 ms" in r.stderr, r.stderr
    played = np.fromfile(alsa["played"], dtype="<f4")  # type: ignore[call-overload]
    mic = np.asarray(alsa["mic"])
    f_mic, f_ref, f_out = f0_stats(mic)[0], f0_stats(load(clips["female_ref"]))[0], f0_stats(played)[0]
    msg = f"live: median F0 microphone {f_mic:.0f} Hz, reference {f_ref:.0f} Hz, speakers {f_out:.0f} Hz"
    assert abs(np.log(f_out / f_ref)) < 0.5 * abs(np.log(f_out / f_mic)), msg
    assert own_state_path("cli test").is_file()
    assert str(data_home) in str(own_state_path("cli test"))


def test_aperiodicity_takes_the_reference_breathiness_and_keeps_yours_frame_by_frame(clips: dict[str, Path]) -> None:
    """With D4C (blocks >= 40 ms): a breathy input (aspiration noise added above 1.5 kHz) and the plain one both
    get the reference's mean aperiodicity on voiced frames, and which frames are breathier stays as in the input."""
    import pyworld as pw
    from scipy.signal import butter, sosfilt

    from obs_faceswap.voice.clone import apply_mapping, fit_mapping

    x = load(clips["male_in"]).astype(np.float64)
    level = np.sqrt(np.convolve(x * x, np.ones(480) / 480, "same"))
    hiss = sosfilt(butter(4, 1500, "hp", fs=RATE, output="sos"), np.random.default_rng(0).standard_normal(len(x)))
    breathy = x + hiss * level
    target = clip_profile(clips["female_ref"])
    band = (np.linspace(0, 8000, 513) > 1000) & (np.linspace(0, 8000, 513) < 4000)
    want = float(target.ap_mean[band].mean())
    for name, sig in (("plain", x), ("breathy", breathy)):
        s = np.ascontiguousarray(resample_poly(sig, 16000, RATE))
        f0, t = pw.dio(s, 16000, frame_period=5.0)
        f0 = pw.stonemask(s, f0, t, 16000)
        sp, ap = pw.cheaptrick(s, f0, t, 16000, fft_size=1024), pw.d4c(s, f0, t, 16000, fft_size=1024)
        _, _, out = apply_mapping(fit_mapping(analyze(sig, RATE), target), f0, sp, ap)
        v = f0 > 0
        got, had = out[v][:, band].mean(axis=1), ap[v][:, band].mean(axis=1)
        assert abs(float(got.mean()) - want) < 0.03, f"{name}: voiced aperiodicity {got.mean():.3f}, reference {want:.3f}"
        assert np.corrcoef(got, had)[0, 1] > 0.9, f"{name}: per-frame breathiness not kept"
