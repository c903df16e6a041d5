"""``obs-faceswap train dfm``: a DeepFaceLab-style DF/LIAE model of one person, exported as a DeepFaceLive .dfm."""

from __future__ import annotations

import argparse

from obs_faceswap.commands._train_args import add_run_args, finish


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.train.common import pick_device
    from obs_faceswap.train.dfm import DfmTrainer
    from obs_faceswap.train.dfm_model import DfmShape
    from obs_faceswap.train.extract import read_faceset

    shape = DfmShape(arch=args.arch, resolution=args.resolution, ae_dims=args.ae_dims, e_dims=args.e_dims,
                     d_dims=args.d_dims, d_mask_dims=args.d_mask_dims)
    trainer = DfmTrainer(read_faceset(args.src), read_faceset(args.dst), shape, batch=args.batch, lr=args.lr,
                         seed=args.seed, device=pick_device(args.device), amp=not args.no_amp,
                         warp=not args.no_warp, color=not args.no_color)
    return finish(args, trainer)


def register_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "dfm", help="train a model of one person (DeepFaceLab DF/LIAE) and export a DeepFaceLive .dfm",
        description="Train a per-identity autoencoder from two face sets made by 'obs-faceswap extract' with the same "
                    "--face-type: --src, the person to become (a few thousand varied faces), and --dst, the person "
                    "in front of the camera. Export with 'obs-faceswap train export RUN -o person.dfm'.",
    )
    p.add_argument("--src", required=True, metavar="FOLDER", help="face set of the person to become")
    p.add_argument("--dst", required=True, metavar="FOLDER", help="face set of the person on camera")
    p.add_argument("--arch", default="df", choices=("df", "liae"),
                   help="df: a decoder per person, keeps the src likeness; liae: one decoder, follows the dst's "
                        "expression and lighting more closely (default: df)")
    p.add_argument("--resolution", type=int, default=128, help="face size in pixels, 128-320, multiple of 16 (default: 128)")
    p.add_argument("--ae-dims", type=int, default=256, help="autoencoder (bottleneck) width (default: 256)")
    p.add_argument("--e-dims", type=int, default=64, help="encoder width (default: 64)")
    p.add_argument("--d-dims", type=int, default=64, help="decoder width (default: 64)")
    p.add_argument("--d-mask-dims", type=int, default=22, help="mask decoder width (default: 22)")
    p.add_argument("--batch", type=int, default=8, help="faces of each set per step (default: 8)")
    p.add_argument("--lr", type=float, default=5e-5, help="Adam learning rate (default: 0.00005)")
    p.add_argument("--no-warp", action="store_true", help="no random warp of the inputs (only to fine-tune at the end)")
    p.add_argument("--no-color", action="store_true", help="no colour augmentation / transfer")
    add_run_args(p)
    p.set_defaults(func=run)
