"""``obs-faceswap voice``: convert a voice in an audio file, or live from a microphone to speakers.

Files go through the same streaming engine as live audio (block by block, SOLA, the same delay,
removed at the end). Flags for the voice settings are generated from ``VOICE_SETTINGS``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.settings import BOOL, CHOICE, FLOAT, INT, VOICE_SETTINGS, Setting


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# short, friendlier flag names for the common settings (the long form is always accepted too)
ALIASES: dict[str, tuple[str, ...]] = {"pitch": ("--pitch",), "formant": ("--formant",), "backend": ("--backend",)}


def _add_setting(parser: argparse.ArgumentParser, s: Setting) -> None:
    flags = ALIASES.get(s.name, (_flag(s.name),))
    help_text = s.help.rstrip(".")
    if s.minimum is not None and s.maximum is not None:
        help_text += f"; {s.minimum:g}..{s.maximum:g}{s.suffix.strip() and ' ' + s.suffix.strip()}"
    shown = "none" if s.default in ("", None) else ("on" if s.default is True else "off" if s.default is False
                                                    else s.default)
    help_text = f"{help_text} (default: {shown})".replace("%", "%%")
    if s.kind == BOOL:
        parser.add_argument(*flags, dest=s.name, action=argparse.BooleanOptionalAction, default=None,
                            help=help_text)
        return
    kw: dict[str, Any] = {"dest": s.name, "default": None, "help": help_text}
    if s.kind == INT:
        kw["type"] = int
    elif s.kind == FLOAT:
        kw["type"] = float
    elif s.kind == CHOICE:
        kw["choices"] = [c[0] for c in s.choices]
    if s.kind != CHOICE:
        kw["metavar"] = s.name.upper()
    parser.add_argument(*flags, **kw)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    values = {s.name: getattr(args, s.name) for s in VOICE_SETTINGS if getattr(args, s.name, None) is not None}
    try:
        return VOICE_SETTINGS.validate(values)
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
        _add_setting(group, s)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_devices:
        from obs_faceswap.voice.devices import format_devices, list_devices

        print(format_devices(list_devices()))
        return 0
    settings = settings_from_args(args)
    if args.live:
        from obs_faceswap.voice.devices import run_live

        def announce(engine: Any) -> None:
            describe = getattr(engine.converter, "describe", None)
            voice = describe() if describe else f"pitch {settings['pitch']:+g} st, formant {settings['formant']:+g} st"
            print(f"live voice: backend {settings['backend']}, {voice}, latency {engine.latency_ms:.0f} ms "
                  "(+ device buffers); Ctrl-C to stop", file=sys.stderr)

        counts = run_live(settings, input_device=args.input_device, output_device=args.output_device,
                          sample_rate=args.rate, duration=args.seconds, on_status=announce)
        print(f"stopped after {counts['seconds']} s, {counts['callbacks']} blocks, {counts['xruns']} over/underruns")
        return 0
    if not args.input or not args.output:
        raise FaceSwapError("give --input IN.wav and --output OUT.wav, or --live (see 'obs-faceswap voice --help')")
    from obs_faceswap.media import refuse_overwriting_inputs
    from obs_faceswap.voice.files import convert_file

    inputs = {"input": args.input, "reference voice": settings["reference_voice"], "own voice clip": settings["own_voice"]}
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
        info = convert_file(args.input, args.output, settings, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    voice = f" ({info['voice']})" if info.get("voice") else ""
    print(f"wrote {args.output}: {info['seconds']:.2f} s at {info['sample_rate']} Hz, backend {info['backend']}{voice}, "
          f"streamed latency {info['latency_ms']:.0f} ms (removed in the file)")
    return 0
