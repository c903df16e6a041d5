"""``obs-faceswap swap-video``: swap faces in every frame of a video, keeping fps, size and audio."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from obs_faceswap.commands.flags import add_face_options, face_options_from_args, input_paths
from obs_faceswap.errors import FaceSwapError, ImageReadError, NoFaceError
from obs_faceswap.vision.types import Frame

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v", ".webm")


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.commands.swap_image import report_notes
    from obs_faceswap.media import probe_video, refuse_overwriting_inputs, transform_video
    from obs_faceswap.vision.pipeline import FacePipeline

    out = Path(args.output)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise FaceSwapError(f"output {out.name}: unknown video type; use one of {', '.join(VIDEO_SUFFIXES)}")
    options = face_options_from_args(args)
    refuse_overwriting_inputs(out, input_paths(options, ("input video", args.input)))
    if probe_video(args.input).still:  # unreadable input fails before models load
        raise ImageReadError(f"{Path(args.input).name} is a still image, not a video (use swap-image)")
    pipeline = FacePipeline(options)
    swapped = 0
    errors: list[str] = []

    def step(frame: Frame) -> Frame:
        nonlocal swapped
        result = pipeline.process(frame)
        if pipeline.last_error and not errors:
            errors.append(pipeline.last_error)
        swapped += 1 if pipeline.stats.get("faces") else 0
        return result

    def some_face() -> None:
        if not swapped:
            why = f" ({errors[0]})" if errors else f" (face selection '{options.face_selection}')"
            raise NoFaceError(f"no face found in any frame of {Path(args.input).name}{why}; nothing written")

    info = transform_video(args.input, out, step, crf=args.crf, progress=not args.quiet, before_commit=some_face)
    if errors:
        print(f"obs-faceswap: warning: some frames were left unchanged: {errors[0]}", file=sys.stderr)
    if not args.quiet:
        report_notes(pipeline)
        print(f"wrote {out} ({info.width}x{info.height} @ {float(info.fps):.3g} fps; faces swapped in "
              f"{swapped} frame(s))", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "swap-video",
        help="swap faces in a video file",
        description="Put the face from --source photo(s) onto the faces in every frame of --input and write "
                    "--output with the same size, frame rate and audio. Needs ffmpeg.",
        epilog="example: obs-faceswap swap-video --source me.jpg --input clip.mp4 --output out.mp4",
    )
    parser.add_argument("--input", "-i", required=True, metavar="VIDEO", help="video whose faces are replaced")
    parser.add_argument("--output", "-o", required=True, metavar="FILE",
                        help="result (.mp4, .mkv, .mov, .webm); it appears only when complete and at least "
                             "one face was swapped; missing folders are created; it must not be an input file")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default: 18)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_face_options(parser)
    parser.set_defaults(func=run)
