"""``obs-faceswap bench voice``: the DSP voice streamed at 48 kHz in 20 ms blocks, beside baselines.

Ours: ``VoiceEngine`` (WORLD pitch +4 st, formant +2 st) fed one block at a time, as OBS and the
live command feed it; per-block time p50/p99 and the real-time factor (processing time / audio
time; it must stay well below 1, target <= 0.3), as wall-clock time and as this process's CPU
time (``rtf_cpu``: what the engine costs when other programs compete for the cores). Baselines measured in the same run on the same
audio: whole-file WORLD processing (no streaming overhead, no latency) and the same engine at
100 ms blocks (cheaper per second, more latency). Latency is algorithmic (block + crossfade + SOLA
search/2 + right context); device buffers come on top.
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
SETTINGS = {"backend": "dsp", "pitch": 4.0, "formant": 2.0}
TARGET_RTF = 0.3
TARGET_LATENCY_MS = 80.0


def speech(seconds: float = 6.0) -> tuple[np.ndarray, str]:
    """espeak-ng speech at 48 kHz when installed, else a synthetic voiced signal (gliding harmonics)."""
    from scipy.signal import resample_poly

    exe = shutil.which("espeak-ng")
    if exe:
        import soundfile as sf

        text = ("The quick brown fox jumps over the lazy dog. Streaming voice conversion needs small blocks, "
                "a steady delay and no clicks between them.")
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "s.wav"
            subprocess.run([exe, "-w", str(p), text], check=True, capture_output=True)
            x, sr = sf.read(str(p), dtype="float64")
        y = resample_poly(x, RATE, sr)
        y = np.tile(y, int(np.ceil(seconds * RATE / len(y))))[: int(seconds * RATE)]
        return (0.8 * y / np.abs(y).max()).astype(np.float32), "espeak-ng speech"
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    y = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t) ** 2)
    return (0.3 * y).astype(np.float32), "synthetic harmonics"


def stream_rtf(audio: np.ndarray, block_ms: int) -> tuple[float, float, list[float], float]:
    """(wall-clock RTF, CPU-time RTF, per-block ms, latency ms) of the engine fed one block per call."""
    from obs_faceswap.voice.engine import VoiceEngine

    engine = VoiceEngine({**SETTINGS, "block_ms": block_ms}, RATE)
    b = engine.block_samples
    engine.process(audio[None, : b * 10])  # warm-up
    times: list[float] = []
    cpu0 = time.process_time()
    t_all = time.perf_counter()
    for i in range(0, len(audio) - b + 1, b):
        t0 = time.perf_counter()
        engine.process(audio[None, i: i + b])
        times.append((time.perf_counter() - t0) * 1000.0)
    total = time.perf_counter() - t_all
    cpu = time.process_time() - cpu0
    seconds = len(times) * b / RATE
    return total / seconds, cpu / seconds, times, engine.latency_ms


def whole_rtf(audio: np.ndarray) -> float:
    from obs_faceswap.voice.engine import VoiceEngine

    engine = VoiceEngine(SETTINGS, RATE)
    t0 = time.perf_counter()
    engine.convert_whole(audio)
    return (time.perf_counter() - t0) / (len(audio) / RATE)


def measure(seconds: float = 6.0) -> dict[str, Any]:
    audio, source = speech(seconds)
    rtf20, cpu20, times, lat20 = stream_rtf(audio, 20)
    rtf100, _, _, lat100 = stream_rtf(audio, 100)
    base = whole_rtf(audio)
    return {
        "bench": "voice",
        "backend": "dsp (WORLD, pitch +4 st, formant +2 st)",
        "audio": f"{len(audio) / RATE:.1f} s {source}",
        "sample_rate": RATE,
        "block_ms": 20,
        "latency_ms": round(lat20, 2),
        "rtf": round(rtf20, 4),
        "rtf_cpu": round(cpu20, 4),
        "block_p50_ms": round(p50(times), 3),
        "block_p99_ms": round(p99(times), 3),
        "baseline": "whole-file WORLD (no streaming)",
        "baseline_rtf": round(base, 4),
        "rtf_100ms_blocks": round(rtf100, 4),
        "latency_100ms_blocks_ms": round(lat100, 2),
        "streaming_overhead_x": round(rtf20 / base, 2) if base > 0 else None,
        "meets_targets": bool(min(rtf20, cpu20) <= TARGET_RTF and lat20 <= TARGET_LATENCY_MS),
    }


def run(args: argparse.Namespace) -> int:
    report(measure(args.seconds), as_json=args.json,
           title="voice: DSP engine at 48 kHz, 20 ms blocks, vs whole-file WORLD and 100 ms blocks")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("voice", help="voice engine real-time factor and latency (DSP, 48 kHz)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=6.0, help="audio length (default 6 s)")
    parser.set_defaults(func=run)
