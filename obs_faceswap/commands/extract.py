"""``obs-faceswap extract``: photos, folders and videos -> an aligned face set for training."""

from __future__ import annotations

import argparse
import json

from obs_faceswap.vision.face_types import DEFAULT_FACE_TYPE, FACE_TYPES


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.train.extract import ExtractOptions, extract
    from obs_faceswap.vision.embedded import EmbeddedDetector

    opt = ExtractOptions(size=args.size, face_type=args.face_type, image_format=args.format, min_face=args.min_face,
                         blur_threshold=args.blur_threshold, duplicate_threshold=args.duplicate_threshold,
                         every=args.every, max_faces=args.max_faces)
    detector = EmbeddedDetector(provider=args.provider, threads=args.threads)
    rep = extract(args.inputs, args.output, detector, opt, progress=not args.quiet)
    if args.json:
        print(json.dumps(rep.as_dict()))
    else:
        print(f"kept {rep.kept} face(s) in {args.output} from {rep.frames} image(s)/frame(s) of {rep.inputs} file(s); "
              f"skipped {rep.too_small} too small, {rep.blurred} blurred, {rep.duplicates} duplicate(s)")
        for line in rep.no_face[:10]:
            print(f"  no face: {line}")
        for line in rep.unreadable[:10]:
            print(f"  unreadable: {line}")
    return 0 if rep.kept else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    types = "; ".join(f"{k}: {v.help}" for k, v in FACE_TYPES.items())
    p = sub.add_parser(
        "extract", help="cut an aligned face set out of photos and videos (for 'train')",
        description="Find the faces in photos, folders of photos and videos with the embedded detector and write "
                    "each as an aligned square crop with a JSON sidecar (landmarks, affine, source file and "
                    "frame). Small, blurred and near-duplicate faces are skipped. Running it again on the same "
                    "output folder adds to the set (faces already in it count as duplicates). Exit code 1 when "
                    "no face was kept.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, videos or folders of them")
    p.add_argument("-o", "--output", required=True, metavar="FOLDER", help="face-set folder (created if missing)")
    p.add_argument("--size", type=int, default=256, help="crop size in pixels (default: 256)")
    p.add_argument("--face-type", default=DEFAULT_FACE_TYPE, choices=sorted(FACE_TYPES),
                   help=f"how much of the head the crop holds ({types}) (default: {DEFAULT_FACE_TYPE})")
    p.add_argument("--format", default="png", choices=("png", "jpg"), help="image format of the crops (default: png)")
    p.add_argument("--min-face", type=int, default=48, metavar="PX",
                   help="skip faces whose box is smaller than this in the photo/frame (default: 48)")
    p.add_argument("--blur-threshold", type=float, default=40.0,
                   help="skip crops whose sharpness (variance of the Laplacian at 128 px) is below this; 0 keeps "
                        "all (default: 40)")
    p.add_argument("--duplicate-threshold", type=float, default=0.97,
                   help="skip a face whose 16 px thumbnail correlates above this with one already kept; 1 keeps "
                        "all (default: 0.97)")
    p.add_argument("--every", type=int, default=1, metavar="N", help="videos: look at every N-th frame (default: 1)")
    p.add_argument("--max-faces", type=int, default=0, metavar="N",
                   help="per photo/frame keep at most the N largest faces; 0 = all (default: 0)")
    p.add_argument("--provider", default="cpu", help="ONNX Runtime provider for the detector (default: cpu)")
    p.add_argument("--threads", type=int, default=0, help="detector threads, 0 = ONNX Runtime's choice (default: 0)")
    p.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
