"""``obs-faceswap live``: swap faces live from a webcam, a screen region or a video file.

The face options are swap-image's (``--source/-s``, ``--swapper``, ``--swapper-model`` and one flag
per ``FACE_SETTINGS`` entry, from the same generator), plus the settings that only matter live
(``--swap/--no-swap``, ``--detect-every``, ``--smoothing``, ``--enhancer-every``).
``--output`` is checked like swap-video's (type, not an input file, writable) before the capture
or the worker starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from obs_faceswap.commands import flags
from obs_faceswap.errors import FaceSwapError
from obs_faceswap.settings import FACE_SETTINGS
from obs_faceswap.vision.options import FaceOptions

# live-only settings the file commands leave out, with their flag when it is not --<name-with-dashes>
LIVE_FLAG_NAMES: dict[str, str] = {"enabled": "--swap"}
setting_dest = flags.setting_dest  # the argparse dest of a face setting's flag


def add_live_face_options(parser: argparse.ArgumentParser) -> None:
    """swap-image's face options, then (same generator) a flag for each face setting they leave out
    because it only matters live, so every setting of the OBS filter is a flag here."""
    flags.add_face_options(parser)
    have = {a.dest for a in parser._actions}
    group = parser.add_argument_group("live")
    for s in FACE_SETTINGS.settings:
        if setting_dest(s) not in have and s.name not in ("source_image", "swapper"):
            flags.add_setting_flag(group, s, LIVE_FLAG_NAMES.get(s.name))


def check_output(args: argparse.Namespace, options: FaceOptions) -> Path | None:
    """``--output`` refused like swap-video refuses it, before anything starts: a type ffmpeg cannot
    record to, or one of the input files. (Writability is checked when the output is opened.)"""
    if not args.output:
        return None
    from obs_faceswap.commands.swap_video import VIDEO_SUFFIXES
    from obs_faceswap.media import refuse_overwriting_inputs

    out = Path(args.output)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise FaceSwapError(f"output {out.name}: unknown video type; use one of {', '.join(VIDEO_SUFFIXES)}")
    inputs = flags.input_paths(options, ("input video", args.input or ""))
    refuse_overwriting_inputs(out, {role: path for role, path in inputs.items() if path})
    return out


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


class _NothingRecorded(Exception):
    """The session ended before a frame was recorded: no output file (not an error)."""


def cmd_live(args: argparse.Namespace) -> int:
    from obs_faceswap.live.in_process import make_processor
    from obs_faceswap.live.session import LiveOptions, run_live

    if args.frames is not None and args.frames < 0:
        raise FaceSwapError("--frames must be 0 or more")
    face = flags.face_options_from_args(args)  # the CLI boundary: validated here, once
    out = check_output(args, face)
    options = LiveOptions(preview=not args.no_preview, frames=args.frames or 0,
                          virtual_camera=args.virtual_camera, clean_output=args.clean_output,
                          enhancer_key_model=face.enhancer if face.enhancer != "none" else "gfpgan_1.4")
    if not options.preview and out is None and not options.virtual_camera and not options.frames:
        raise FaceSwapError("with --no-preview, give --output FILE, --virtual-camera or --frames N "
                            "(else nothing would be shown and it would run forever)")
    if options.preview:
        from obs_faceswap.live.outputs import display_available

        if not display_available():
            raise FaceSwapError("no display for the preview window (DISPLAY is not set): add --no-preview, "
                                "and --output FILE to record the result")
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    try:
        with ExitStack() as stack:
            if out is not None:  # an unwritable --output fails here, before the capture and the worker start
                from obs_faceswap.media import atomic_output

                options.output = str(stack.enter_context(atomic_output(out)))
            source = open_source(args)  # a missing camera fails fast, before the worker starts
            try:
                processor = make_processor(face, in_process=args.in_process)
            except BaseException:
                source.close()
                raise
            log(f"live: {source.name} {source.width}x{source.height} @ {source.fps:.1f} fps → {processor.name} "
                "pipeline" + ("" if not options.preview else "  (keys: s swap, e enhancer, m mask, +/- blend, q quit)"))
            stats = run_live(source, processor, face.as_settings(), options, log=log)
            if out is not None and not stats.recorded_frames:
                raise _NothingRecorded
    except _NothingRecorded:
        log(f"nothing was recorded: {out} not written")
    else:
        if out is not None:
            log(f"wrote {out} ({stats.recorded_frames} frames, {stats.recorded_seconds:.1f} s)")
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
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="also record what the preview shows, in real time (.mp4, .mkv, .mov, .m4v, .webm); "
                             "it appears when the session ends (Ctrl+C included), missing folders are created; "
                             "it must not be an input file")
    parser.add_argument("--clean-output", action="store_true", help="record without the fps/latency overlay")
    parser.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--virtual-camera", action="store_true", help="send the result to a virtual camera "
                        "(needs pyvirtualcam)")
    parser.add_argument("--in-process", action="store_true", help="run the face pipeline in this process "
                        "instead of the worker")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_live_face_options(parser)
    parser.set_defaults(func=cmd_live)
