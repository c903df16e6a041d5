"""``obs-faceswap swap-video``: swap faces in every frame of a video, keeping fps, size and audio."""

from __future__ import annotations

import argparse
from pathlib import Path

from obs_faceswap.commands.flags import add_face_options, face_options_from_args, input_paths
from obs_faceswap.errors import FaceSwapError, ImageReadError
from obs_faceswap.video.command import add_video_options

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v", ".webm")


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.media import check_output_place, probe_video, refuse_overwriting_inputs
    from obs_faceswap.video.command import is_list_input, run_many, run_single

    options = face_options_from_args(args)
    if is_list_input(Path(args.input), VIDEO_SUFFIXES):  # a folder or a list of videos
        return run_many(args, options, VIDEO_SUFFIXES)
    out = Path(args.output)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise FaceSwapError(f"output {out.name}: unknown video type; use one of {', '.join(VIDEO_SUFFIXES)}")
    refuse_overwriting_inputs(out, input_paths(options, ("input video", args.input)))
    check_output_place(out)
    if probe_video(args.input).still:  # unreadable input fails before models load
        raise ImageReadError(f"{Path(args.input).name} is a still image, not a video (use swap-image)")
    return run_single(args, options, out)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "swap-video",
        help="swap faces in a video file",
        description="Put the face from --source photo(s) onto the faces in every frame of --input and write "
                    "--output with the same size, frame rate, rotation, colours and audio. The video is cut "
                    "into segments swapped in parallel (--jobs, or a Ray cluster with --ray) and joined "
                    "without re-encoding. Needs ffmpeg.",
        epilog="example: obs-faceswap swap-video --source me.jpg --input clip.mp4 --output out.mp4",
    )
    parser.add_argument("--input", "-i", required=True, metavar="VIDEO|DIR|LIST",
                        help="video whose faces are replaced; or a folder of videos, or a .txt list of them "
                             "(one a line): then --output is a folder and finished outputs are skipped")
    parser.add_argument("--output", "-o", required=True, metavar="FILE|DIR",
                        help="result (.mp4, .mkv, .mov, .webm); it appears only when complete and at least "
                             "one face was swapped; missing folders are created; it must not be an input file")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default: 18)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_face_options(parser)
    add_video_options(parser)
    parser.set_defaults(func=run)
