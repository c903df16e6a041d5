"""``obs-faceswap voice``: convert a voice in an audio file, or live from a microphone to speakers.

Files go through the same streaming engine as live audio (block by block, SOLA, the same delay,
removed at the end). Flags for the voice settings are generated from ``VOICE_SETTINGS`` by
``commands/flags.py``, the generator of every command.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from obs_faceswap.commands import flags
from obs_faceswap.errors import FaceSwapError
from obs_faceswap.settings import VOICE_SETTINGS
from obs_faceswap.voice.options import VoiceOptions


def options_from_args(args: argparse.Namespace) -> VoiceOptions:
    """The voice settings of a command line, validated once (a bad value: a one-line error)."""
    try:
        return VoiceOptions.from_settings(flags.values_from_args(VOICE_SETTINGS, args), strict=True)
    except ValueError as exc:
        raise FaceSwapError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "voice",
        help="change a voice: an audio file, or live microphone -> speakers",
        description="Convert a voice (embedded clone of a reference voice, pitch/formant DSP, or an RVC ONNX "
                    "model) in an audio file, "
                    "or live from a microphone to speakers.",
        epilog="examples:\n  obs-faceswap voice --input me.wav --output high.wav --pitch 4\n"
               "  obs-faceswap voice --input me.wav --output cloned.wav --reference-voice her.wav\n"
               "  obs-faceswap voice --live --pitch -3 --formant -2\n  obs-faceswap voice --list-devices",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    io = parser.add_argument_group("what to convert")
    io.add_argument("--input", "-i", metavar="IN", help="input audio file (WAV, FLAC, OGG)")
    io.add_argument("--output", "-o", metavar="OUT", help="output audio file (.wav, .flac, .ogg); written only when complete, missing "
                    "folders are created, never the input file itself")
    io.add_argument("--live", action="store_true", help="microphone -> speakers until Ctrl-C")
    io.add_argument("--list-devices", action="store_true", help="list sound devices and exit")
    io.add_argument("--input-device", metavar="DEV", help="live: input device number or part of its name")
    io.add_argument("--output-device", metavar="DEV", help="live: output device number or part of its name")
    io.add_argument("--rate", type=int, default=48000, help="live: sample rate (default: 48000)")
    io.add_argument("--seconds", type=float, default=None, help="live: stop after this many seconds")
    io.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    group = parser.add_argument_group("voice settings")
    for s in VOICE_SETTINGS:
        flags.add_setting_flag(group, s)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_devices:
        from obs_faceswap.voice.devices import format_devices, list_devices

        print(format_devices(list_devices()))
        return 0
    options = options_from_args(args)
    if args.live:
        from obs_faceswap.voice.devices import run_live

        def announce(engine: Any) -> None:
            describe = getattr(engine.converter, "describe", None)
            voice = describe() if describe else f"pitch {options.pitch:+g} st, formant {options.formant:+g} st"
            print(f"live voice: backend {options.backend}, {voice}, latency {engine.latency_ms:.0f} ms "
                  "(+ device buffers); Ctrl-C to stop", file=sys.stderr)

        counts = run_live(options, input_device=args.input_device, output_device=args.output_device,
                          sample_rate=args.rate, duration=args.seconds, on_status=announce)
        print(f"stopped after {counts['seconds']} s, {counts['callbacks']} blocks, {counts['xruns']} over/underruns")
        return 0
    if not args.input or not args.output:
        raise FaceSwapError("give --input IN.wav and --output OUT.wav, or --live (see 'obs-faceswap voice --help')")
    from obs_faceswap.media import refuse_overwriting_inputs
    from obs_faceswap.voice.files import convert_file

    inputs = {"input": args.input, "reference voice": options.reference_voice, "own voice clip": options.own_voice}
    refuse_overwriting_inputs(args.output, {role: path for role, path in inputs.items() if path})
    bar = None
    progress = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=100, unit="%", desc="voice", leave=False)

        def progress(done: int, total: int) -> None:
            bar.n = int(100 * done / max(1, total))
            bar.refresh()

    try:
        info = convert_file(args.input, args.output, options, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    voice = f" ({info['voice']})" if info.get("voice") else ""
    print(f"wrote {args.output}: {info['seconds']:.2f} s at {info['sample_rate']} Hz, backend {info['backend']}{voice}, "
          f"streamed latency {info['latency_ms']:.0f} ms (removed in the file)")
    return 0
