"""``swap-video`` on the batched pipeline: its extra flags, one file or many, here or on Ray.

``commands/swap_video.py`` keeps the command's own flags and checks and hands over to ``run``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.video.codec import ENCODERS, HWACCELS, EncodeOptions
from obs_faceswap.video.job import Runner, VideoReport, swap_video_file
from obs_faceswap.video.local import default_jobs
from obs_faceswap.video.segments import DEFAULT_WARMUP, MAX_SEGMENT_FRAMES, MIN_SEGMENT_FRAMES
from obs_faceswap.vision.options import FaceOptions


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def add_video_options(parser: argparse.ArgumentParser) -> None:
    """The batched pipeline's flags (processes, Ray, hardware codecs, segments, tracking)."""
    group = parser.add_argument_group("speed and scale")
    group.add_argument("--jobs", "-j", type=_positive, default=None, metavar="N",
                       help=f"processes on this machine, each with its own copy of the models (default: all "
                            f"cores, here {default_jobs()}); the output is the same for any N")
    group.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="run the segments on a Ray cluster: ADDRESS of its head (ray://host:10001 or "
                            "host:6379), 'auto' for the cluster started on this machine with 'ray start', or "
                            "nothing to start a private local one (needs the ray extra; see docs/video.md)")
    group.add_argument("--hwaccel", choices=HWACCELS, default="none",
                       help="hardware video decoding through ffmpeg (cuda = NVIDIA NVDEC) (default: none)")
    group.add_argument("--encoder", choices=ENCODERS, default="auto",
                       help="video encoder: libx264, NVIDIA's h264_nvenc/hevc_nvenc, ... (default: auto = libx264, "
                            "libvpx-vp9 for .webm)")
    group.add_argument("--segment-frames", type=_positive, default=None, metavar="N",
                       help="frames per tracking chunk: tracking restarts (after --warmup frames) every N frames, "
                            "at a nearby keyframe, the same for any --jobs and on Ray; a process or Ray task "
                            f"takes a run of chunks (default: by the video's length, {MIN_SEGMENT_FRAMES}-"
                            f"{MAX_SEGMENT_FRAMES})")
    group.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, metavar="N",
                       help="frames tracked before each tracking chunk so faces are already followed and "
                            f"steady at its first frame (default: {DEFAULT_WARMUP})")
    group.add_argument("--track", action=argparse.BooleanOptionalAction, default=True,
                       help="detect faces every --detect-every frames and follow them in between, smoothed "
                            "by --smoothing; --no-track detects in every frame (default: on)")


def make_runner(args: argparse.Namespace, options: FaceOptions) -> Runner:
    if args.ray is not None:
        if args.jobs is not None:
            raise FaceSwapError("--jobs is for this machine; with --ray the cluster runs one worker per CPU "
                                "(or GPU): give one of them")
        from obs_faceswap.video.ray_runner import RayRunner

        return RayRunner(options, address=args.ray or None, track=args.track)
    from obs_faceswap.video.local import LocalRunner

    return LocalRunner(options, jobs=args.jobs or default_jobs(), track=args.track)


def encode_options(args: argparse.Namespace) -> EncodeOptions:
    return EncodeOptions(encoder=args.encoder, crf=args.crf, hwaccel=args.hwaccel)


def swap_one(args: argparse.Namespace, options: FaceOptions, runner: Runner, src: Path, out: Path,
             *, progress: bool) -> VideoReport:
    return swap_video_file(src, out, runner, encode_options(args), segment_frames=args.segment_frames or 0,
                           warmup=max(0, args.warmup), progress=progress,
                           face_selection=options.face_selection)


def run_single(args: argparse.Namespace, options: FaceOptions, out: Path) -> int:
    """One input video into ``out`` (the checks on the paths are done)."""
    from obs_faceswap.commands.swap_image import report_notes

    runner = make_runner(args, options)
    ok = False
    try:
        report = swap_one(args, options, runner, Path(args.input), out, progress=not args.quiet)
        ok = True
    finally:
        runner.close(abort=not ok)
    if report.error:
        print(f"obs-faceswap: warning: some frames were left unchanged: {report.error}", file=sys.stderr)
    if not args.quiet:
        report_notes(runner.notes())
        info = report.stream.info
        print(f"wrote {out} ({info.width}x{info.height} @ {float(info.fps):.3g} fps; faces swapped in "
              f"{report.swapped} frame(s); {report.fps:.1f} frames/s)", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- many files


def list_inputs(spec: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The videos a folder holds (sorted, not recursive) or a list file names (one path a line, # comments;
    relative paths are relative to the list's folder)."""
    if spec.is_dir():
        return sorted(p for p in spec.iterdir() if p.is_file() and p.suffix.lower() in suffixes
                      and not p.name.startswith("."))
    lines = [ln.strip() for ln in spec.read_text(encoding="utf-8", errors="replace").splitlines()]
    paths = [Path(ln).expanduser() for ln in lines if ln and not ln.startswith("#")]
    return [p if p.is_absolute() else spec.parent / p for p in paths]


def is_list_input(spec: Path, suffixes: tuple[str, ...]) -> bool:
    return spec.is_dir() or (spec.is_file() and spec.suffix.lower() in (".txt", ".list", ".lst"))


def output_for(src: Path, out_dir: Path, suffixes: tuple[str, ...]) -> Path:
    suffix = src.suffix.lower() if src.suffix.lower() in suffixes else ".mp4"
    return out_dir / f"{src.stem}{suffix}"


def run_many(args: argparse.Namespace, options: FaceOptions, suffixes: tuple[str, ...]) -> int:
    """Every video of a folder or list into the folder ``--output``; finished outputs are skipped,
    so a run stopped by Ctrl-C resumes where it stopped. One summary table at the end."""
    from obs_faceswap.media import same_file

    spec, out_dir = Path(args.input), Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise FaceSwapError(f"with several inputs --output is a folder; {out_dir} is a file")
    inputs = list_inputs(spec, suffixes)
    if not inputs:
        raise FaceSwapError(f"no videos in {spec} (looked for {', '.join(suffixes)})")
    rows: list[tuple[str, str, str, str, str]] = []
    failed = 0
    runner: Runner | None = None
    ok = False
    try:
        for src in inputs:
            out = output_for(src, out_dir, suffixes)
            if out.exists():
                rows.append((src.name, "skipped", "", "", f"{out.name} exists"))
                continue
            if src.exists() and same_file(src, out):
                rows.append((src.name, "failed", "", "", "the output would overwrite the input"))
                failed += 1
                continue
            if runner is None:
                runner = make_runner(args, options)  # models load once for every file
            t0 = time.perf_counter()
            try:
                rep = swap_one(args, options, runner, src, out, progress=not args.quiet)
            except FaceSwapError as exc:
                rows.append((src.name, "failed", "", f"{time.perf_counter() - t0:.1f}", str(exc)))
                failed += 1
                continue
            rows.append((src.name, "written", f"{rep.swapped}/{rep.frames}", f"{rep.seconds:.1f}",
                         rep.error and f"some frames unchanged: {rep.error}"))
        ok = True
    finally:
        if runner is not None:
            runner.close(abort=not ok)
        print_summary(rows, inputs, out_dir, stopped=not ok)
    return 1 if failed else 0


def print_summary(rows: list[tuple[str, str, str, str, str]], inputs: list[Path], out_dir: Path,
                  *, stopped: bool) -> None:
    head = ("input", "result", "faces in", "seconds", "note")
    table = [head, *rows]
    if stopped:
        table += [(p.name, "not done", "", "", "stopped before it") for p in inputs[len(rows):]]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + ("  " + r[4] if r[4] else "")
             for r in table]
    counts = {k: sum(1 for r in rows if r[1] == k) for k in ("written", "skipped", "failed")}
    lines.append(f"{counts['written']} written, {counts['skipped']} skipped (already done), {counts['failed']} "
                 f"failed; outputs in {out_dir}" + ("; stopped: run the same command again to resume" if stopped
                                                     else ""))
    print("\n".join(line.rstrip() for line in lines), file=sys.stderr)
