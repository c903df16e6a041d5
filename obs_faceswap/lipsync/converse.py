"""Converse: what was said (speech through STT, or typed text) -> a chat endpoint -> TTS -> lip sync.

Every step that can fail on the user's setup (STT model, chat endpoint, TTS voice) runs before the
video is rendered, so a failure writes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from obs_faceswap.lipsync.chat import ChatClient
from obs_faceswap.lipsync.speech import Speech
from obs_faceswap.lipsync.stt import STT
from obs_faceswap.lipsync.tts import TTS


@dataclass
class Turn:
    """One exchange: what the user said, what the avatar answers, and the answer spoken."""

    heard: str
    answer: str
    speech: Speech


def converse_turn(chat: ChatClient, tts: TTS, *, text: str | None = None, speech: Speech | None = None,
                  stt: STT | None = None) -> Turn:
    """Transcribe ``speech`` with ``stt`` (or take ``text``), ask ``chat``, speak the answer with ``tts``."""
    if text is None:
        if speech is None or stt is None:
            raise ValueError("converse needs text, or speech and an STT engine")
        text = stt.transcribe(speech)
    answer = chat.reply(text)
    return Turn(text, answer, tts.speak(answer))


def converse_file(face: str | os.PathLike[str], output: str | os.PathLike[str], chat: ChatClient, tts: TTS, *,
                  text: str | None = None, speech: Speech | None = None, stt: STT | None = None,
                  **render: Any) -> tuple[Turn, dict[str, Any]]:
    """One turn rendered to ``output`` (``render`` options as ``lipsync_file``)."""
    from obs_faceswap.lipsync.render import lipsync_file

    turn = converse_turn(chat, tts, text=text, speech=speech, stt=stt)
    return turn, lipsync_file(face, turn.speech, output, **render)
