"""``obs-faceswap converse``: say something (a sound file or text), get a lip-synced spoken answer
from an OpenAI-compatible chat endpoint (llama.cpp server, Ollama, a hosted API)."""

from __future__ import annotations

import argparse
import sys

from obs_faceswap.commands.lipsync import add_output_options, check_output, face_swap
from obs_faceswap.lipsync.chat import DEFAULT_SYSTEM


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.lipsync.chat import ChatClient
    from obs_faceswap.lipsync.converse import converse_file
    from obs_faceswap.lipsync.speech import load_speech
    from obs_faceswap.lipsync.tts import make_tts

    out = check_output(args, {"face input": args.face, "audio input": args.audio, "swap source": args.swap_source,
                              "reference voice": args.reference_voice})
    chat = ChatClient.from_env(args.chat_url, args.chat_model, args.api_key_env, system=args.system,
                               timeout=args.timeout)
    tts = make_tts(args.voice, args.rate)  # a bad voice fails before the endpoint is asked
    if args.reference_voice:
        from obs_faceswap.lipsync.tts import ClonedTTS

        tts = ClonedTTS(tts, args.reference_voice)
    speech = stt = None
    if args.audio:
        from obs_faceswap.lipsync.stt import FasterWhisperSTT

        stt = FasterWhisperSTT(args.stt_model or "")
        speech = load_speech(args.audio)
    turn, summary = converse_file(args.face, out, chat, tts, text=args.say, speech=speech, stt=stt,
                                  model=args.model, fps=args.fps, provider=args.provider, crf=args.crf,
                                  progress=not args.quiet, prepare=face_swap(args.swap_source))
    print(f"you: {turn.heard}\navatar: {turn.answer}")
    if not args.quiet:
        print(f"wrote {out} ({summary['seconds']:.2f} s)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "converse",
        help="ask a chat endpoint and get its answer as a lip-synced talking face",
        description="Send what you said (--say TEXT, or --audio FILE transcribed by faster-whisper) to an "
                    "OpenAI-compatible chat endpoint, speak the answer (espeak-ng or a Piper voice) and lip-sync "
                    "the face in --face to it. The API key, if the endpoint needs one, is read from the "
                    "environment variable named by --api-key-env.",
        epilog="example: obs-faceswap converse --face me.jpg --say 'What game is this?' "
               "--chat-url http://127.0.0.1:8080/v1 --output answer.mp4",
    )
    said = parser.add_mutually_exclusive_group(required=True)
    said.add_argument("--say", metavar="TEXT", help="what you say to the avatar")
    said.add_argument("--audio", "-a", metavar="FILE", help="what you say, as a recording (needs --stt-model)")
    parser.add_argument("--stt-model", metavar="FOLDER",
                        help="faster-whisper (CTranslate2) model folder for --audio; needs faster-whisper")
    parser.add_argument("--chat-url", required=True,
                        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (llama.cpp), "
                             "http://127.0.0.1:11434/v1 (Ollama)")
    parser.add_argument("--chat-model", default="default", help="model name the endpoint expects "
                        "(default: default)")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY",
                        help="environment variable holding the API key (default: OPENAI_API_KEY)")
    parser.add_argument("--system", default=DEFAULT_SYSTEM, help="system prompt (default: a short-answer avatar)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer "
                        "(default: 60)")
    add_output_options(parser)
    parser.set_defaults(func=run, text=None)
