"""``obs-faceswap train export``: a finished (or running) training run -> a model file the swappers load."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.errors import FaceSwapError
    from obs_faceswap.train.loop import read_run_config

    config, blob = read_run_config(args.run)
    kind = config.get("kind")
    if kind == "reswapper":
        from obs_faceswap.train.reswapper import export_reswapper as export
    elif kind == "dfm":
        from obs_faceswap.train.dfm import export_dfm as export
    else:
        raise FaceSwapError(f"{args.run}: unknown run kind {kind!r}")
    out = export(blob, args.output)
    print(f"exported the {kind} model of step {blob['step']} to {out}")
    return 0


def register_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export", help="write a run's model as a file the swap commands load (.onnx / .dfm)",
        description="Export the latest checkpoint of a run folder: a reswapper run becomes an ONNX file with the "
                    "inswapper signature (load it with --swapper-model), a dfm run a DeepFaceLive .dfm file.",
    )
    p.add_argument("run", metavar="RUN", help="run folder (or its checkpoint.pt)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output file (.onnx for reswapper, .dfm for dfm)")
    p.set_defaults(func=run)
