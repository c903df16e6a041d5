"""A client for an OpenAI-compatible chat endpoint (llama.cpp server, Ollama, vLLM, a hosted API).

``POST {base}/chat/completions`` with ``{"model", "messages": [system?, user]}``; the answer is
``choices[0].message.content``. Standard library only (``urllib``); bounded: a timeout on the
connection and at most ``MAX_RESPONSE`` bytes read. Every failure is one ``ChatError`` line that
names the URL and what to check.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from obs_faceswap.errors import FaceSwapError

MAX_RESPONSE = 1 << 20
DEFAULT_SYSTEM = "You are a friendly streamer's avatar. Answer in one or two short spoken sentences."


class ChatError(FaceSwapError):
    """The chat endpoint is unreachable or answered something unusable."""


def completions_url(base: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port/v1/chat/completions`` (a full URL is kept)."""
    b = base.strip().rstrip("/")
    if not b.startswith(("http://", "https://")):
        raise ChatError(f"chat URL {base!r} must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1)")
    return b if b.endswith("/chat/completions") else b + "/chat/completions"


@dataclass
class ChatClient:
    """One endpoint and model. ``api_key`` is sent as a bearer token when given."""

    base_url: str
    model: str = "default"
    api_key: str | None = None
    system: str = DEFAULT_SYSTEM
    timeout: float = 60.0
    max_tokens: int = 200

    @classmethod
    def from_env(cls, base_url: str, model: str, key_env: str = "OPENAI_API_KEY", **kw: Any) -> ChatClient:
        return cls(base_url, model, os.environ.get(key_env) or None, **kw)

    def reply(self, user_text: str) -> str:
        """The assistant's answer to ``user_text``."""
        url = completions_url(self.base_url)
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + \
            [{"role": "user", "content": user_text}]
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                           "stream": False}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip() if exc.fp else ""
            raise ChatError(f"chat endpoint {url} answered HTTP {exc.code} {exc.reason}"
                            f"{': ' + detail if detail else ''}; check --chat-model and the API key") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ChatError(f"cannot reach the chat endpoint {url} ({reason}); is the server running and "
                            "--chat-url right?") from None
        if len(raw) > MAX_RESPONSE:
            raise ChatError(f"chat endpoint {url} sent more than {MAX_RESPONSE} bytes; is it a chat API?")
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChatError(f"chat endpoint {url} did not answer in the OpenAI chat format "
                            "(choices[0].message.content)") from None
        text = str(content or "").strip()
        if not text:
            raise ChatError(f"chat endpoint {url} sent an empty answer")
        return text
