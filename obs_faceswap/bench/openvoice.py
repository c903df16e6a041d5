"""``obs-faceswap bench openvoice``: the OpenVoice v2 converter streamed at 48 kHz, beside the whole-file run.

The real architecture (official v2 sizes, 32.7 M parameters) with random weights (no download), built
in memory; speaker embeddings from espeak-ng speech by the network's own reference encoder. Ours: the
``VoiceEngine`` with the ``openvoice`` converter fed one block at a time (the backend's floor: 100 ms
blocks, 400 ms of history, 46 ms of look-ahead), as OBS and live mode feed it. Reported:

- ``rtf`` / ``rtf_cpu``: wall-clock and CPU time per second of audio of the streamed run;
- ``block_p50_ms`` / ``block_p99_ms``: time to convert one block;
- ``latency_ms``: the stream's algorithmic delay (block + crossfade + SOLA search/2 + look-ahead);
- ``end_to_end_latency_ms``: that plus the p50 time to convert a block (the block's audio leaves only
  when its conversion is done); meaningful only while ``rtf`` < 1 (otherwise live audio falls behind).

Baseline in the same run: the same network on the whole recording in one call (``baseline_rtf``: no
streaming overhead, no latency). ``device``: cuda when this torch has it, else cpu. Goal: end-to-end
latency <= 350 ms with rtf < 1.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from obs_faceswap.bench import p50, p99, report
from obs_faceswap.bench.voice import REFERENCE_TEXT, speech, time_blocks

RATE = 48000
TARGET_LATENCY_MS = 350.0


def measure(seconds: float = 2.0) -> dict[str, Any]:
    import torch

    from obs_faceswap.voice.engine import VoiceEngine
    from obs_faceswap.voice.openvoice import OpenVoiceVoice, embedding_of, pick_device
    from obs_faceswap.voice.openvoice_model import ToneColorConverter

    device = pick_device("auto")
    torch.manual_seed(0)
    model = ToneColorConverter().eval().to(device)
    audio, source_name = speech(seconds)
    ref, _ = speech(4.0, voice="en-us+f3", text=REFERENCE_TEXT)
    conv = OpenVoiceVoice(model, embedding_of(model, ref, RATE), embedding_of(model, audio, RATE))
    engine = VoiceEngine.from_settings({"gate_db": -100.0}, RATE, converter=conv)
    b = engine.block_samples
    engine.process(audio[None, :b])  # warm-up (first-call allocations)
    engine.reset()
    timed = time_blocks(engine, audio)
    times, streamed = timed["times"], timed["seconds"]
    t0 = time.perf_counter()
    engine.convert_whole(audio)
    base = (time.perf_counter() - t0) / (len(audio) / RATE)
    rtf = timed["rtf"]
    end_to_end = engine.latency_ms + p50(times)
    return {
        "bench": "openvoice",
        "backend": "OpenVoice v2 tone-colour converter, official architecture, random weights",
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "audio": f"{streamed:.1f} s {source_name}",
        "sample_rate": RATE,
        "block_ms": round(1000.0 * b / RATE, 2),
        "left_context_ms": round(1000.0 * engine.layout.left / RATE, 2),
        "latency_ms": round(engine.latency_ms, 2),
        "end_to_end_latency_ms": round(end_to_end, 2),
        "rtf": round(rtf, 4),
        "rtf_cpu": round(timed["rtf_cpu"], 4),
        "block_p50_ms": round(p50(times), 3),
        "block_p99_ms": round(p99(times), 3),
        "baseline": "whole-file conversion (same network, one call, no streaming)",
        "baseline_rtf": round(base, 4),
        "streaming_overhead_x": round(rtf / base, 2) if base > 0 else None,
        "meets_targets": bool(rtf < 1.0 and end_to_end <= TARGET_LATENCY_MS),
    }


def run(args: argparse.Namespace) -> int:
    report(measure(args.seconds), as_json=args.json,
           title="openvoice: OpenVoice v2 converter streamed at 48 kHz vs the whole file in one call")
    return 0


DESCRIPTION = """\
Stream speech through the OpenVoice v2 tone-colour converter (official architecture, random weights,
no download) at 48 kHz, one 100 ms block at a time, and report the real-time factor, the time per
block, the stream's latency and the end-to-end latency (latency + time to convert a block). Baseline
in the same run: the same network on the whole recording at once. Needs torch (the 'train' extra);
uses CUDA when this torch has it. Goal: end-to-end latency <= 350 ms with rtf < 1."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("openvoice", help="OpenVoice v2 backend real-time factor and latency (torch)",
                            description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=2.0, help="audio length in seconds (default: 2)")
    parser.set_defaults(func=run)
