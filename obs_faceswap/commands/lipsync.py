"""``obs-faceswap lipsync``: a face photo or video speaks a WAV file or a text (TTS)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.vision.types import Frame


def speech_from_args(args: argparse.Namespace) -> object:
    """The ``Speech`` that --audio or --text names (TTS for --text), in the --reference-voice when given."""
    from obs_faceswap.lipsync.speech import load_speech
    from obs_faceswap.lipsync.tts import in_voice, make_tts

    speech = load_speech(args.audio) if args.audio else make_tts(args.voice, args.rate).speak(args.text)
    return in_voice(speech, args.reference_voice) if args.reference_voice else speech


def face_swap(source: str | None) -> Callable[[Frame], Frame] | None:
    """The face swap (embedded default settings) that puts ``source``'s face on each frame, or None."""
    if not source:
        return None
    from obs_faceswap.vision.pipeline import FacePipeline

    if not Path(source).is_file():
        raise FaceSwapError(f"source photo not found: {source}")
    pipeline = FacePipeline.from_settings({"source_image": str(source)})
    return pipeline.process  # type: ignore[no-any-return]


def check_output(args: argparse.Namespace, inputs: dict[str, str]) -> Path:
    """The output path, refused before any work when it is of an unknown type, one of the inputs, or
    in a place that cannot be written."""
    from obs_faceswap.lipsync.render import VIDEO_SUFFIXES
    from obs_faceswap.media import check_output_place, refuse_overwriting_inputs

    out = Path(args.output)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise FaceSwapError(f"output {out.name}: unknown video type; use one of {', '.join(VIDEO_SUFFIXES)}")
    refuse_overwriting_inputs(out, {k: v for k, v in inputs.items() if v})
    check_output_place(out)
    return out


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.lipsync.render import lipsync_file

    out = check_output(args, {"face input": args.face, "audio input": args.audio, "swap source": args.swap_source,
                                   "reference voice": args.reference_voice})
    speech = speech_from_args(args)
    summary = lipsync_file(args.face, speech, out, model=args.model, fps=args.fps,  # type: ignore[arg-type]
                           provider=args.provider, crf=args.crf, progress=not args.quiet,
                           prepare=face_swap(args.swap_source))
    if not args.quiet:
        print(f"wrote {out} ({summary['width']}x{summary['height']} @ {summary['fps']:.3g} fps, "
              f"{summary['seconds']:.2f} s, face in {summary['frames_with_face']}/{summary['frames']} frames, "
              f"{summary['model']})", file=sys.stderr)
    return 0


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by lipsync and converse: face input, model, voice, output."""
    parser.add_argument("--face", required=True, metavar="PHOTO|VIDEO",
                        help="a photo or video with one clearly visible face (a face-swapped one works too)")
    parser.add_argument("--voice", default="en",
                        help="espeak-ng voice name (e.g. en, en-us, de, en+f3; 'espeak-ng --voices') or the path "
                             "of a Piper voice .onnx (needs piper-tts) (default: en)")
    parser.add_argument("--rate", type=int, default=160, help="espeak-ng speaking rate, words per minute "
                        "(default: 160)")
    parser.add_argument("--model", default="embedded",
                        help="'embedded' (mesh warp, no download) or a Wav2Lip ONNX export: the id 'wav2lip' "
                             "after 'obs-faceswap models import wav2lip FILE', or a path (non-commercial licence)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of the output for a photo (default: 25); a video keeps its own")
    parser.add_argument("--provider", default="auto", help="where a Wav2Lip model runs: auto, cuda, cpu, ...")
    parser.add_argument("--reference-voice", metavar="CLIP",
                        help="speak in this voice: the speech goes through Voice Clone's embedded clone of a "
                             "5-60 s clip first (use only voices you have the right to use)")
    parser.add_argument("--swap-source", metavar="PHOTO",
                        help="first swap this photo's face onto --face (embedded face swap, default look), so the "
                             "swapped face speaks")
    parser.add_argument("--output", "-o", required=True, metavar="FILE",
                        help="result video (.mp4, .mkv, .mov, .webm) with the speech as its audio; it appears "
                             "only when complete")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default: 18)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "lipsync",
        help="make a face photo or video speak a sound file or a text",
        description="Move the mouth and jaw of the face in --face in sync with --audio (WAV, FLAC, OGG; any "
                    "rate, mono or stereo) or with --text spoken by espeak-ng (phoneme-timed) or a Piper voice, "
                    "and write a video with that speech as its sound. Needs ffmpeg.",
        epilog='example: obs-faceswap lipsync --face me.jpg --text "Hello chat!" --output hello.mp4',
    )
    speech = parser.add_mutually_exclusive_group(required=True)
    speech.add_argument("--audio", "-a", metavar="FILE", help="speech to lip-sync")
    speech.add_argument("--text", "-t", help="text to speak (TTS) and lip-sync")
    add_output_options(parser)
    parser.set_defaults(func=run)
