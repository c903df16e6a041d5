"""``obs-faceswap live``: swap faces live from a webcam, a screen region or a video file.

Every face setting of the OBS filter is also a flag here (built from ``FACE_SETTINGS``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.settings import BOOL, CHOICE, FACE_SETTINGS, FLOAT, INT, Setting

# settings whose flag is not simply --<name-with-dashes>
FLAG_NAMES: dict[str, tuple[str, ...]] = {
    "source_image": ("--source", "--source-image"),
    "enabled": ("--swap",),
}


def setting_flags(setting: Setting) -> tuple[str, ...]:
    return FLAG_NAMES.get(setting.name, ("--" + setting.name.replace("_", "-"),))


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per face setting; each defaults to None (= the setting's own default)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for s in FACE_SETTINGS.settings:
        group = groups.get(s.group)
        if group is None:
            group = groups[s.group] = parser.add_argument_group(f"{s.group or 'face'} settings")
        text = s.help
        if s.kind in (INT, FLOAT) and s.minimum is not None:
            text += f" [{s.minimum:g}..{s.maximum:g}{s.suffix.strip() and ' ' + s.suffix.strip()}]"
        text += f" (default: {s.default if s.default != '' else 'none'})"
        text = text.replace("%", "%%")
        kw: dict[str, Any] = {"dest": s.name, "default": None, "help": text}
        if s.kind == BOOL:
            group.add_argument(*setting_flags(s), action=argparse.BooleanOptionalAction, **kw)
        elif s.kind == CHOICE:
            group.add_argument(*setting_flags(s), choices=[c[0] for c in s.choices], **kw)
        elif s.kind == INT:
            group.add_argument(*setting_flags(s), type=int, metavar="N", **kw)
        elif s.kind == FLOAT:
            group.add_argument(*setting_flags(s), type=float, metavar="X", **kw)
        else:
            group.add_argument(*setting_flags(s), metavar=s.kind.upper(), **kw)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    given = {s.name: getattr(args, s.name) for s in FACE_SETTINGS.settings if getattr(args, s.name, None) is not None}
    try:
        return FACE_SETTINGS.validate(given)
    except ValueError as exc:
        raise FaceSwapError(str(exc)) from None


def parse_size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1280x720, got {value!r}") from None
    return w, h


def open_source(args: argparse.Namespace):  # noqa: ANN201 - returns a FrameSource
    from obs_faceswap.live import capture

    if args.input:
        return capture.FileSource(args.input, pace=not args.no_pace, loop=args.loop)
    if args.screen:
        return capture.ScreenSource(args.screen, fps=args.fps or 30.0)
    return capture.CameraSource(args.camera if args.camera is not None else 0, size=args.size, fps=args.fps or 0.0)


def cmd_live(args: argparse.Namespace) -> int:
    from obs_faceswap.live.processors import make_processor
    from obs_faceswap.live.session import LiveOptions, run_live

    if args.frames is not None and args.frames < 0:
        raise FaceSwapError("--frames must be 0 or more")
    settings = settings_from_args(args)
    options = LiveOptions(preview=not args.no_preview, output=args.output, frames=args.frames or 0,
                          virtual_camera=args.virtual_camera, clean_output=args.clean_output,
                          enhancer_key_model=settings["enhancer"] if settings["enhancer"] != "none" else "gfpgan_1.4")
    if not options.preview and not options.output and not options.virtual_camera and not options.frames:
        raise FaceSwapError("with --no-preview, give --output FILE, --virtual-camera or --frames N "
                            "(else nothing would be shown and it would run forever)")
    if options.preview:
        from obs_faceswap.live.outputs import display_available

        if not display_available():
            raise FaceSwapError("no display for the preview window (DISPLAY is not set): add --no-preview, "
                                "and --output FILE to record the result")
    source = open_source(args)  # a missing camera fails fast, before the worker starts
    try:
        processor = make_processor(settings, in_process=args.in_process)
    except BaseException:
        source.close()
        raise
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    log(f"live: {source.name} {source.width}x{source.height} @ {source.fps:.1f} fps → {processor.name} pipeline"
        + ("" if not options.preview else "  (keys: s swap, e enhancer, m mask, +/- blend, q quit)"))
    stats = run_live(source, processor, settings, options, log=log)
    summary = stats.summary()
    if args.json:
        print(json.dumps({**summary, "source": source.name, "processor": processor.name}))
    else:
        print("summary: " + stats.summary_line())
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "live", help="live face swap from a webcam, screen region or video file, with a preview window",
        description="Swap faces live. Source of frames: --camera N (default 0), --screen REGION or --input FILE. "
        "Keys in the preview: s swap on/off, e enhancer on/off, m occlusion mask on/off, +/- blend, q or Esc quit.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--camera", type=int, metavar="N", help="webcam number (0 is the first)")
    where.add_argument("--screen", metavar="REGION", help="screen region 'x,y,w,h' or 'monitorN' (monitor0 = all)")
    where.add_argument("--input", metavar="FILE", help="a video file, played at its own frame rate")
    parser.add_argument("--size", type=parse_size, metavar="WxH", help="camera resolution to ask for")
    parser.add_argument("--fps", type=float, help="camera frame rate to ask for / screen capture rate")
    parser.add_argument("--no-pace", action="store_true", help="--input: process every frame as fast as possible")
    parser.add_argument("--loop", action="store_true", help="--input: start again at the end")
    parser.add_argument("--no-preview", action="store_true", help="no window (headless)")
    parser.add_argument("--output", metavar="FILE", help="also record to this video file (.mp4, .mkv, .webm)")
    parser.add_argument("--clean-output", action="store_true", help="record without the fps/latency overlay")
    parser.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--virtual-camera", action="store_true", help="send the result to a virtual camera "
                        "(needs pyvirtualcam)")
    parser.add_argument("--in-process", action="store_true", help="run the face pipeline in this process "
                        "instead of the worker")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_setting_flags(parser)
    parser.set_defaults(func=cmd_live)
