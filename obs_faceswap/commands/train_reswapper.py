"""``obs-faceswap train reswapper``: distil an inswapper-signature teacher into a ReSwapper-style student."""

from __future__ import annotations

import argparse

from obs_faceswap.commands._train_args import add_run_args, finish


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.train.common import pick_device
    from obs_faceswap.train.extract import read_faceset
    from obs_faceswap.train.reswapper import ReswapperTrainer

    faces = read_faceset(args.faces, min_faces=2)
    trainer = ReswapperTrainer(faces, args.teacher, args.embedder, size=args.size, width=args.width,
                               blocks=args.blocks, batch=args.batch, lr=args.lr, id_weight=args.id_weight,
                               seed=args.seed, device=pick_device(args.device), provider=args.provider,
                               amp=not args.no_amp)
    return finish(args, trainer)


def register_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "reswapper", help="distil inswapper (or any model with its signature) into your own ReSwapper-style model",
        description="Train a ReSwapper-style generator to reproduce a teacher swapper with the inswapper signature "
                    "(e.g. your inswapper_128.onnx), plus an identity loss through ArcFace. Faces come from a face "
                    "set made by 'obs-faceswap extract' (thousands of varied faces: many people, poses, lighting). "
                    "Export with 'obs-faceswap train export RUN -o my_swapper.onnx'; the file loads with "
                    "--swapper-model. A student of inswapper inherits inswapper's non-commercial licence.",
    )
    p.add_argument("--faces", required=True, metavar="FOLDER", help="face set folder (from 'obs-faceswap extract')")
    p.add_argument("--teacher", default="inswapper_128", metavar="ID|FILE",
                   help="teacher: a model id or an ONNX file with the inswapper signature (default: inswapper_128)")
    p.add_argument("--embedder", default="w600k_r50", metavar="ID|FILE",
                   help="ArcFace model id or ONNX file: source identities and the identity loss (default: w600k_r50)")
    p.add_argument("--size", type=int, default=128, choices=(128, 256), help="crop size of the student (default: 128)")
    p.add_argument("--width", type=int, default=128,
                   help="channels of the first conv, x8 in the style blocks (ReSwapper: 128) (default: 128)")
    p.add_argument("--blocks", type=int, default=6, help="style blocks (ReSwapper: 6) (default: 6)")
    p.add_argument("--batch", type=int, default=8, help="faces per step (default: 8)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default: 0.0001)")
    p.add_argument("--id-weight", type=float, default=0.3, help="weight of the identity loss (default: 0.3)")
    p.add_argument("--provider", default="cpu", help="ONNX Runtime provider for the teacher (default: cpu)")
    add_run_args(p)
    p.set_defaults(func=run)
