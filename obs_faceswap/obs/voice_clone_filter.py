"""The "Voice Clone" audio filter.

``filter_audio`` runs on the audio source's thread. Each call pushes the planar float32 block to
the worker's input ring and pulls the same number of frames from its output ring into the same
buffers; the output is stamped ``timestamp - latency``. On an underrun (worker busy, restarting
or gone) the block is the dry input delayed by the same latency, from a local delay line, with
short crossfades in and out: the stream never has a gap, never clicks, and its timestamps never
jump (``audio_stream``). Until a channel is open the filter passes audio through untouched.
"""

from __future__ import annotations

import ctypes as C
import os
from typing import TYPE_CHECKING, Any

from ..settings import VOICE_SETTINGS
from . import callbacks, libobs, runtime
from .audio_stream import WetDryStream
from .filter_base import ChannelFilter

if TYPE_CHECKING:
    from ..ipc.client import WorkerClient
    from ..ipc.client_channels import AudioChannel

FILTER_ID = b"obs_faceswap_audio"
DISPLAY_NAME = b"Voice Clone"
AUDIO_PROCESSOR = os.environ.get("OBS_FACESWAP_AUDIO_PROCESSOR", "voice")  # 'noop': transport check


class VoiceCloneFilter(ChannelFilter):
    label = "Voice Clone"
    off_text = "off (passing audio through)"

    def __init__(self, lib: libobs.LibObs, source: int, settings: dict[str, Any]) -> None:
        super().__init__(lib, source, settings)
        audio = lib.obs_get_audio()
        self.rate = int(lib.audio_output_get_sample_rate(audio)) if audio else 48000
        self.channels = int(lib.audio_output_get_channels(audio)) if audio else 2
        self.stream = WetDryStream(self.rate, self.channels)
        self.stream.on_latency = lambda line: runtime.log(f"Voice Clone: {line}")

    def profile_name(self) -> str:
        """The name the worker keeps this filter's learned own-voice statistics under: the setting when
        given, else '<source name>/<filter name>' (stable across restarts, one per filter)."""
        chosen = str(self.settings.get("own_voice_profile", "") or "")
        if chosen:
            return chosen
        lib = self.lib
        parent = lib.obs_filter_get_parent(self.source) if self.source else None
        names = [lib.obs_source_get_name(p) for p in (parent, self.source) if p]
        return "/".join(n.decode("utf-8", "replace") for n in names if n) or "Voice Clone"

    def worker_settings(self) -> dict[str, Any]:
        return {**self.settings, "own_voice_profile": self.profile_name()}

    def open_channel(self, client: WorkerClient) -> AudioChannel:
        runtime.log(f"Voice Clone: channel opened, {self.rate} Hz x{self.channels}")
        return client.open_audio(self.rate, self.channels, self.worker_settings(), processor=AUDIO_PROCESSOR)

    def status_text(self) -> str:
        channel = self.channel
        if not self.enabled or channel is None or channel.closed:
            return super().status_text()
        st = self.stream
        if not st.latency_frames:
            return f"waiting for the worker: {channel.status_text}"
        return (f"latency {st.latency_ms:.0f} ms, underruns {st.underruns} of {st.blocks} blocks; "
                f"{channel.status_text}")

    # ---------------------------------------------------------------- audio thread
    def filter(self, audio: Any) -> None:
        """Convert one block in place (the caller returns the same obs_audio_data); see
        ``audio_stream.WetDryStream`` for the fixed delay, the dry fallback and the crossfades."""
        if not self.enabled:
            return
        channel = self.live_channel()
        if channel is None:
            return
        ad = audio.contents
        n = int(ad.frames)
        planes = [p for p in (C.cast(ad.data[i], C.c_void_p).value for i in range(self.channels)) if p]
        if n == 0 or len(planes) != self.channels:
            return
        ad.timestamp = self.stream.process(channel, planes, n, int(ad.timestamp))


# -------------------------------------------------------------------- C callbacks


@libobs.FILTER_AUDIO
def _filter_audio(data: int, audio: Any) -> int | None:
    ptr = C.cast(audio, C.c_void_p).value
    f = runtime.get_instance(data)
    if f is not None and ptr:
        try:
            f.filter(audio)
        except Exception as exc:  # noqa: BLE001  (never drop audio: return the block as it is)
            f.log_once("filter_audio", exc, libobs.LOG_ERROR)
    return ptr


CALLBACKS = {**callbacks.make(FILTER_ID, "Voice Clone", VOICE_SETTINGS, VoiceCloneFilter),
             "filter_audio": _filter_audio}
OUTPUT_FLAGS = libobs.OBS_SOURCE_AUDIO
