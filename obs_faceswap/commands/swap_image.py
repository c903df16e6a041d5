"""``obs-faceswap swap-image``: put the source face onto the faces in a photo.

Every look/mask/selection option comes from ``FACE_SETTINGS`` through ``commands/flags.py``, so a
setting added there shows up here (and in ``swap-video`` and ``live``) as ``--its-name``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from obs_faceswap.commands.flags import add_face_options, face_options_from_args, input_paths
from obs_faceswap.errors import FaceSwapError, NoFaceError

if TYPE_CHECKING:
    from obs_faceswap.vision.options import FaceOptions
    from obs_faceswap.vision.pipeline import FacePipeline


def pipeline_notes(pipeline: FacePipeline) -> list[str]:
    """Lines a user should see beside the result: which source photo(s), where the models ran."""
    return [n if n.startswith("note:") else "note: " + n for n in (pipeline.source_note, pipeline.provider_note()) if n]


def report_notes(pipeline: FacePipeline | list[str]) -> None:
    """Print ``pipeline_notes`` (of a pipeline, or as a worker process sent them)."""
    for note in pipeline if isinstance(pipeline, list) else pipeline_notes(pipeline):
        print(f"obs-faceswap: {note}", file=sys.stderr)


def no_face_reason(pipeline: FacePipeline, options: FaceOptions) -> str:
    """Why no face was swapped: how many faces the detector found and what the selection kept."""
    found = int(pipeline.stats.get("detected", 0))
    if not found:
        return "the detector found no face"
    what = f"{found} face(s) found, none selected by face selection '{options.face_selection}'"
    if options.face_selection == "index":
        what += f" (--face-index {options.face_index}; this photo has 0..{found - 1})"
    elif options.face_selection == "reference":
        what += " (none looks like the reference photo; raise --reference-threshold to be less strict)"
    return what


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from obs_faceswap.media import (
        ALPHA_SUFFIXES,
        IMAGE_SUFFIXES,
        check_output_place,
        read_image_with_alpha,
        refuse_overwriting_inputs,
        write_image,
    )
    from obs_faceswap.vision.pipeline import FacePipeline

    out = Path(args.output)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise FaceSwapError(f"output {out.name}: unknown image type; use one of {', '.join(IMAGE_SUFFIXES)}")
    options = face_options_from_args(args)
    refuse_overwriting_inputs(out, input_paths(options, ("target photo", args.target)))
    check_output_place(out)  # before the swap, not after it
    target, alpha = read_image_with_alpha(args.target)
    if alpha is not None and out.suffix.lower() in ALPHA_SUFFIXES:  # keep the transparency
        target = np.dstack([target, alpha])
    pipeline = FacePipeline(options)
    result = pipeline.process(target)
    if pipeline.last_error:
        raise FaceSwapError(pipeline.last_error)
    if not pipeline.stats.get("faces"):
        raise NoFaceError(f"no face to swap in {Path(args.target).name}: {no_face_reason(pipeline, options)}; "
                          "nothing written")
    write_image(out, result)
    if not args.quiet:
        report_notes(pipeline)
        print(f"wrote {out} ({pipeline.stats['faces']} face(s) swapped, "
              f"{pipeline.stats.get('total_ms', 0.0):.0f} ms)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "swap-image",
        help="swap faces in a photo",
        description="Put the face from --source photo(s) onto the faces in --target and write --output. "
                    "Uses the embedded classical swapper unless --swapper/--swapper-model picks a neural one.",
        epilog="example: obs-faceswap swap-image --source me.jpg --target group.jpg --output out.png "
               "--swapper inswapper_128 --face-selection all",
    )
    parser.add_argument("--target", "-t", required=True, metavar="PHOTO", help="photo whose faces are replaced")
    parser.add_argument("--output", "-o", required=True, metavar="FILE", help="where to write the result "
                        "(.png, .jpg, .webp ...); written only when the swap succeeded, missing folders are "
                        "created; it must not be one of the input photos")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    add_face_options(parser)
    parser.set_defaults(func=run)
