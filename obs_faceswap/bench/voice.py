"""``obs-faceswap bench voice``: the DSP voice streamed at 48 kHz in 20 ms blocks, beside baselines.

Ours: ``VoiceEngine`` (WORLD pitch +4 st, formant +2 st, noise gate off so every block is converted:
the worst case) fed one block at a time, as OBS and the live command feed it. Reported:

- ``rtf``: wall-clock real-time factor (elapsed time / audio time) of the whole streamed run; what
  decides whether live audio keeps up. It includes waiting for the CPU when other programs compete;
- ``rtf_cpu``: this process's CPU time / audio time (what the engine itself costs), separately;
- ``block_p50_ms`` / ``block_p99_ms`` / ``block_max_ms``: wall-clock time per block; a block that takes
  longer than the block lasts (``block_ms``) is an underrun live unless the device buffers absorb it:
  ``blocks_over_budget`` counts them.

``clone_*``: the embedded clone (``voice.clone``) of an espeak-ng female reference, learning the
input's statistics live, same blocks and rate (goal: RTF <= 0.3, latency <= 80 ms).

Baselines, measured in the same run on the same audio: ``baseline`` = the same WORLD converter on the
whole file in one call (no streaming, no latency: the cost floor), and the engine at 100 ms blocks
(cheaper per second, 80 ms more latency). Latency is algorithmic (block + crossfade + SOLA search/2 +
right context); device buffers come on top. ``meets_targets``: wall-clock RTF <= 0.3, p99 block time
under half a block, latency <= 80 ms.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from obs_faceswap.bench import p50, p99, report

RATE = 48000
SETTINGS = {"backend": "dsp", "pitch": 4.0, "formant": 2.0, "gate_db": -100.0}
TARGET_RTF = 0.3
TARGET_LATENCY_MS = 80.0


REFERENCE_TEXT = ("When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow. "
                  "The rainbow is a division of white light into many beautiful colours.")


def speech(seconds: float = 6.0, voice: str = "", text: str = "") -> tuple[np.ndarray, str]:
    """espeak-ng speech at 48 kHz when installed (``voice``: an espeak-ng voice such as 'en-us+f3'), else a
    synthetic voiced signal (gliding harmonics)."""
    from scipy.signal import resample_poly

    exe = shutil.which("espeak-ng")
    if exe:
        import soundfile as sf

        text = text or ("The quick brown fox jumps over the lazy dog. Streaming voice conversion needs small "
                        "blocks, a steady delay and no clicks between them.")
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "s.wav"
            subprocess.run([exe, *(["-v", voice] if voice else []), "-w", str(p), text], check=True,
                           capture_output=True)
            x, sr = sf.read(str(p), dtype="float64")
        y = resample_poly(x, RATE, sr)
        y = np.tile(y, int(np.ceil(seconds * RATE / len(y))))[: int(seconds * RATE)]
        return (0.8 * y / np.abs(y).max()).astype(np.float32), "espeak-ng speech"
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    y = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t) ** 2)
    return (0.3 * y).astype(np.float32), "synthetic harmonics"


def stream_rtf(audio: np.ndarray, block_ms: int) -> dict[str, Any]:
    """The engine fed one block per call: wall-clock and CPU real-time factors, per-block times (ms)."""
    from obs_faceswap.voice.engine import VoiceEngine

    engine = VoiceEngine.from_settings({**SETTINGS, "block_ms": block_ms}, RATE)
    b = engine.block_samples
    engine.process(audio[None, : b * 10])  # warm-up
    out = time_blocks(engine, audio)
    budget_ms = 1000.0 * b / RATE
    return {**out, "over_budget": sum(t > budget_ms for t in out["times"])}


def time_blocks(engine: Any, audio: np.ndarray) -> dict[str, Any]:
    """Feed mono ``audio`` to a (warmed-up) ``VoiceEngine`` one block per call, as a live stream does:
    wall-clock and CPU real-time factors, per-block times (ms), the engine's latency, the seconds streamed."""
    b = engine.block_samples
    times: list[float] = []
    cpu0 = time.process_time()
    t_all = time.perf_counter()
    for i in range(0, len(audio) - b + 1, b):
        t0 = time.perf_counter()
        engine.process(audio[None, i: i + b])
        times.append((time.perf_counter() - t0) * 1000.0)
    wall = time.perf_counter() - t_all
    cpu = time.process_time() - cpu0
    seconds = len(times) * b / RATE
    return {"rtf": wall / seconds, "rtf_cpu": cpu / seconds, "times": times, "latency_ms": engine.latency_ms,
            "seconds": seconds}


def whole_rtf(audio: np.ndarray) -> float:
    """Wall-clock RTF of the same converter on the whole recording in one call."""
    from obs_faceswap.voice.engine import VoiceEngine

    engine = VoiceEngine.from_settings(SETTINGS, RATE)
    t0 = time.perf_counter()
    engine.convert_whole(audio)
    return (time.perf_counter() - t0) / (len(audio) / RATE)


def clone_rtf(audio: np.ndarray, block_ms: int = 20) -> dict[str, Any]:
    """The embedded clone (live: learning the input's statistics as it goes) toward an espeak-ng female
    reference, streamed like ``stream_rtf``."""
    import soundfile as sf

    ref, _ = speech(8.0, voice="en-us+f3", text=REFERENCE_TEXT)
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "reference.wav"
        sf.write(str(clip), ref, RATE)
        from obs_faceswap.voice.clone import CloneVoice
        from obs_faceswap.voice.engine import VoiceEngine
        from obs_faceswap.voice.profile import clip_profile

        # live_name None: starts from the reference (warm-up) and saves nothing
        converter = CloneVoice(clip_profile(clip), live_name=None, aperiodicity="simple", block_ms=block_ms)
        engine = VoiceEngine.from_settings({"gate_db": -100.0, "block_ms": block_ms}, RATE, converter=converter)
        b = engine.block_samples
        engine.process(audio[None, : b * 10])
        return time_blocks(engine, audio)


def measure(seconds: float = 6.0) -> dict[str, Any]:
    audio, source = speech(seconds)
    ours = stream_rtf(audio, 20)
    big = stream_rtf(audio, 100)
    base = whole_rtf(audio)
    clone = clone_rtf(audio)
    times = ours["times"]
    return {
        "bench": "voice",
        "backend": "dsp (WORLD, pitch +4 st, formant +2 st, gate off)",
        "audio": f"{len(audio) / RATE:.1f} s {source}",
        "sample_rate": RATE,
        "block_ms": 20,
        "latency_ms": round(ours["latency_ms"], 2),
        "rtf": round(ours["rtf"], 4),
        "rtf_cpu": round(ours["rtf_cpu"], 4),
        "block_p50_ms": round(p50(times), 3),
        "block_p99_ms": round(p99(times), 3),
        "block_max_ms": round(max(times), 3),
        "blocks_over_budget": f"{ours['over_budget']} of {len(times)}",
        "baseline": "whole-file conversion (same WORLD converter, one call, no streaming)",
        "baseline_rtf": round(base, 4),
        "rtf_100ms_blocks": round(big["rtf"], 4),
        "block_p99_100ms_blocks_ms": round(p99(big["times"]), 3),
        "latency_100ms_blocks_ms": round(big["latency_ms"], 2),
        "streaming_overhead_x": round(ours["rtf"] / base, 2) if base > 0 else None,
        "meets_targets": bool(ours["rtf"] <= TARGET_RTF and p99(times) <= 0.5 * 20
                              and ours["latency_ms"] <= TARGET_LATENCY_MS),
        "clone": "embedded clone toward an espeak-ng female reference, live statistics, 20 ms blocks",
        "clone_rtf": round(clone["rtf"], 4),
        "clone_rtf_cpu": round(clone["rtf_cpu"], 4),
        "clone_latency_ms": round(clone["latency_ms"], 2),
        "clone_block_p99_ms": round(p99(clone["times"]), 3),
        "clone_meets_targets": bool(clone["rtf"] <= TARGET_RTF and clone["latency_ms"] <= TARGET_LATENCY_MS),
    }


def run(args: argparse.Namespace) -> int:
    report(measure(args.seconds), as_json=args.json,
           title="voice: DSP engine at 48 kHz, 20 ms blocks, vs whole-file WORLD and 100 ms blocks")
    return 0


DESCRIPTION = """\
Stream a voice through the DSP engine (pitch +4, formant +2 semitones) at 48 kHz in 20 ms blocks,
one block at a time as OBS and live mode do, and report:
  - rtf: elapsed time / audio time of the whole run (below 1 keeps up live; includes CPU contention)
  - rtf_cpu: this process's CPU time / audio time (the engine's own cost)
  - block p50 / p99 / max ms, and how many blocks took longer than a block lasts (live underruns)
  - latency: block + crossfade + SOLA search + right context (device buffers come on top)
Baselines in the same run: the same converter on the whole file at once (the cost floor), and the
engine at 100 ms blocks. meets_targets: rtf <= 0.3, p99 block time under half a block, latency <= 80 ms.
clone_rtf / clone_rtf_cpu / clone_latency_ms: the embedded clone toward a reference voice, same blocks."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("voice", help="voice engine real-time factor and latency (DSP, 48 kHz)",
                            description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=6.0, help="audio length in seconds (default: 6)")
    parser.set_defaults(func=run)
