"""Command-line flags generated from the settings schema: one generator for every command.

``add_setting_flag`` turns one ``Setting`` (face or voice) into a flag: on/off for a switch, the
choices for a list, a number for a slider, with the setting's range and default in its help;
``values_from_args`` reads the flags back (unset ones stay out). ``add_face_options`` /
``face_options_from_args`` are the face commands' (swap-image, swap-video, live) flags and the
boundary where their values are validated, once, into ``FaceOptions``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.settings import BOOL, CHOICE, FACE_SETTINGS, FLOAT, INT, Schema, Setting, split_paths
from obs_faceswap.vision.options import FaceOptions

# settings with hand-written flags (or none: 'enabled' makes no sense for a file)
_MANUAL = {"enabled", "source_image", "swapper"}
_HIDDEN_LIVE_ONLY = {"enhancer_every", "smoothing", "detect_every"}  # no effect on files


# CLI wording for settings whose shared help (also shown in OBS) names OBS labels ("By position")
# instead of the CLI values, or omits what the CLI needs; other CLI generators may use it too
CLI_HELP: dict[str, str] = {
    "face_selection": "Which faces in the target to swap: largest, all, index (one face by position, see "
                      "--face-index) or reference (faces of the person in --reference-image; needs the ArcFace "
                      "model: 'obs-faceswap models download w600k_r50')",
    "face_index": "With --face-selection index: which face, counted from the left (0 is the left-most)",
    "reference_image": "With --face-selection reference: a photo of the person whose faces are swapped "
                       "(others are left alone); needs the ArcFace model w600k_r50",
    "reference_threshold": "With --face-selection reference: largest embedding distance still counted as the "
                           "reference person (lower is stricter)",
    "provider": "Where the neural models run; when the one asked for is not available here the models run on "
                "the CPU and the result line says so",
}


_METAVARS = {"reference_image": "PHOTO", "detector": "ID|FILE", "embedder": "ID|FILE", "mask_regions": "REGIONS",
             "voice_model": "FILE", "dfm_model": "FILE|ID", "source_map": "MAP", "content_encoder": "ID|FILE", "pitch_detector": "NAME|FILE"}


def _shown(value: Any) -> str:
    return "none" if value in ("", None) else ("on" if value is True else "off" if value is False else str(value))


def flag_help(s: Setting) -> str:
    """A face setting's ``--help`` line: the CLI wording, its range and its default."""
    text = CLI_HELP.get(s.name, s.help).rstrip(".")
    if s.minimum is not None and s.maximum is not None:
        text += f"; {s.minimum:g}..{s.maximum:g}{s.suffix}"
    return f"{text} (default: {_shown(s.default)})".replace("%", "%%")


def setting_dest(s: Setting) -> str:
    """The argparse ``dest`` of a setting's flag; ``values_from_args`` reads it back."""
    return f"setting_{s.name}"


def add_setting_flag(group: argparse.ArgumentParser | argparse._ArgumentGroup, s: Setting,
                     flag: str | None = None) -> None:
    """Add the flag of one setting (default ``--its-name``) to ``group``: on/off for a switch, the
    choices for a list, a number for a slider; unset (None) unless given."""
    flag = flag or "--" + s.name.replace("_", "-")
    kw: dict[str, Any] = {"dest": setting_dest(s), "default": None, "help": flag_help(s)}
    if s.kind == BOOL:
        group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
    elif s.kind == CHOICE:
        group.add_argument(flag, choices=[v for v, _ in s.choices], **kw)
    elif s.kind in (INT, FLOAT):
        group.add_argument(flag, type=int if s.kind == INT else float, metavar="N", **kw)
    else:
        group.add_argument(flag, metavar=_METAVARS.get(s.name, "VALUE"), **kw)


def add_face_options(parser: argparse.ArgumentParser) -> None:
    """--source, --swapper, --swapper-model and one flag per FACE_SETTINGS entry."""
    parser.add_argument("--source", "-s", action="append", default=[], metavar="PHOTO",
                        help="photo of the face to use; for several photos of the same person repeat the flag "
                             "or separate them with ';'. Neural swappers average them into one identity; the "
                             "embedded swapper uses the best one (largest, most frontal face) and says which. "
                             "Needed unless --source-map names every face to swap or --swapper dfm")
    models = parser.add_argument_group("models")
    models.add_argument("--swapper", metavar="ID", default=None,
                        help="'embedded' (classical, no download) or an installed model id such as "
                             "inswapper_128 ('obs-faceswap models list') (default: embedded)")
    models.add_argument("--swapper-model", metavar="FILE", default=None,
                        help="your own swapper .onnx file (inswapper/ReSwapper or SimSwap signature)")
    groups: dict[str, argparse._ArgumentGroup] = {"Performance": models, "Face": models}
    for s in FACE_SETTINGS.settings:
        if s.name in _MANUAL or s.name in _HIDDEN_LIVE_ONLY:
            continue
        group = groups.get(s.group)
        if group is None:
            group = groups[s.group] = parser.add_argument_group(s.group.lower() or "other")
        add_setting_flag(group, s)


def values_from_args(schema: Schema, args: argparse.Namespace) -> dict[str, Any]:
    """The raw values of the flags given for ``schema``'s settings (unset flags left out)."""
    values: dict[str, Any] = {}
    for s in schema.settings:
        v = getattr(args, setting_dest(s), None)
        if v is not None:
            values[s.name] = v
    return values


def face_options_from_args(args: argparse.Namespace) -> FaceOptions:
    """The face options of a command line: source photos and reference checked, values validated once."""
    values = values_from_args(FACE_SETTINGS, args)
    if args.swapper_model and args.swapper:
        raise FaceSwapError("use either --swapper or --swapper-model, not both")
    swapper = args.swapper_model or args.swapper
    if swapper:
        values["swapper"] = swapper
    sources = [p for value in args.source for p in split_paths(str(value))]  # '-s a.jpg -s b.jpg' or 'a.jpg;b.jpg'
    if not sources and swapper != "dfm" and not str(values.get("source_map") or "").strip():
        raise FaceSwapError("give a source photo: --source PHOTO (or --source-map, or --swapper dfm)")
    for p in sources:
        if not Path(p).is_file():
            raise FaceSwapError(f"source photo not found: {p}")
    values["source_image"] = ";".join(sources)
    if values.get("face_selection") == "reference":
        ref = str(values.get("reference_image") or "").strip()
        if not ref:
            raise FaceSwapError("--face-selection reference needs a photo of the person to swap: give "
                                "--reference-image PHOTO")
        if not Path(ref).is_file():
            raise FaceSwapError(f"reference photo not found: {ref}")
    try:
        return FaceOptions.from_settings(values, strict=True)  # a typed value outside the range is refused
    except ValueError as exc:
        raise FaceSwapError(str(exc)) from None


def input_paths(options: FaceOptions, main: tuple[str, str]) -> dict[str, str]:
    """Every file the command reads (role -> path): the main input, the source photo(s), the reference."""
    paths = {main[0]: main[1]}
    for i, src in enumerate(split_paths(options.source_image)):
        paths[f"source photo {src}" if i else "source photo"] = src
    if options.reference_image.strip():
        paths["reference photo"] = options.reference_image
    from obs_faceswap.vision.source_map import parse_source_map

    for entry in parse_source_map(options.source_map):
        if entry.index is None:
            paths[f"source_map reference {entry.key}"] = entry.key
        for photo in entry.photos:
            paths[f"source_map photo {photo}"] = photo
    return paths
