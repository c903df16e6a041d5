"""``obs-faceswap swap-image``: put the source face onto the faces in a photo.

Every look/mask/selection option comes from ``FACE_SETTINGS``, so a setting added there shows
up here (and in ``swap-video``) as ``--its-name`` without touching this file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from obs_faceswap.errors import FaceSwapError, NoFaceError
from obs_faceswap.settings import BOOL, CHOICE, FACE_SETTINGS, FLOAT, INT, Setting

# settings with hand-written flags (or none: 'enabled' makes no sense for a file)
_MANUAL = {"enabled", "source_image", "swapper"}
_HIDDEN_LIVE_ONLY = {"enhancer_every", "smoothing", "detect_every"}  # no effect on files


def _flag_help(s: Setting) -> str:
    text = s.help.rstrip(".")
    if s.kind == CHOICE:
        text += " (" + ", ".join(v for v, _ in s.choices) + ")"
    if s.minimum is not None and s.maximum is not None:
        text += f"; {s.minimum:g}..{s.maximum:g}{s.suffix}"
    return f"{text}. Default: {s.default!r}.".replace("%", "%%")


def add_face_options(parser: argparse.ArgumentParser) -> None:
    """--source, --swapper, --swapper-model and one flag per FACE_SETTINGS entry."""
    parser.add_argument("--source", "-s", action="append", required=True, metavar="PHOTO",
                        help="photo of the face to use; repeat to average several photos of the same person")
    models = parser.add_argument_group("models")
    models.add_argument("--swapper", metavar="ID", default=None,
                        help="'embedded' (classical, no download; the default) or an installed model id such as "
                             "inswapper_128 ('obs-faceswap models list')")
    models.add_argument("--swapper-model", metavar="FILE", default=None,
                        help="your own swapper .onnx file (inswapper/ReSwapper or SimSwap signature)")
    groups: dict[str, argparse._ArgumentGroup] = {"Performance": models, "Face": models}
    for s in FACE_SETTINGS.settings:
        if s.name in _MANUAL or s.name in _HIDDEN_LIVE_ONLY:
            continue
        group = groups.get(s.group)
        if group is None:
            group = groups[s.group] = parser.add_argument_group(s.group.lower() or "other")
        flag = "--" + s.name.replace("_", "-")
        kw: dict[str, Any] = {"dest": f"setting_{s.name}", "default": None, "help": _flag_help(s)}
        if s.kind == BOOL:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif s.kind == CHOICE:
            group.add_argument(flag, choices=[v for v, _ in s.choices], **kw)
        elif s.kind in (INT, FLOAT):
            group.add_argument(flag, type=int if s.kind == INT else float, metavar="N", **kw)
        else:
            group.add_argument(flag, metavar="VALUE", **kw)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for s in FACE_SETTINGS.settings:
        v = getattr(args, f"setting_{s.name}", None)
        if v is not None:
            values[s.name] = v
    if args.swapper_model and args.swapper:
        raise FaceSwapError("use either --swapper or --swapper-model, not both")
    swapper = args.swapper_model or args.swapper
    if swapper:
        values["swapper"] = swapper
    sources = [str(p) for p in args.source]
    for p in sources:
        if not Path(p).is_file():
            raise FaceSwapError(f"source photo not found: {p}")
    values["source_image"] = ";".join(sources)
    try:
        return FACE_SETTINGS.validate(values)
    except ValueError as exc:
        raise FaceSwapError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.media import IMAGE_SUFFIXES, read_image, write_image
    from obs_faceswap.vision.pipeline import FacePipeline

    out = Path(args.output)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise FaceSwapError(f"output {out.name}: unknown image type; use one of {', '.join(IMAGE_SUFFIXES)}")
    settings = settings_from_args(args)
    target = read_image(args.target)
    pipeline = FacePipeline(settings)
    result = pipeline.process(target)
    if pipeline.last_error:
        raise FaceSwapError(pipeline.last_error)
    if not pipeline.stats.get("faces"):
        raise NoFaceError(f"no face to swap in {Path(args.target).name} (face selection "
                          f"'{settings['face_selection']}'); nothing written")
    write_image(out, result)
    if not args.quiet:
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
                        "(.png, .jpg, .webp ...); written only when the swap succeeded")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    add_face_options(parser)
    parser.set_defaults(func=run)
