"""The Face Swap filters' "Lip sync" option: follow the chosen audio source, tell the worker its ring.

Mixed into both Face Swap filters (render path and camera) before ``ChannelFilter``: the capture
(``lipsync_capture``) follows the settings, the ring's name rides in the worker settings
(``lipsync_shm``), a source that is missing is named in the status and looked up again each second.
"""

from __future__ import annotations

from typing import Any

from . import libobs, runtime
from .filter_base import ChannelFilter
from .lipsync_capture import LipSyncCapture
from .worker_link import RateLimit


class LipSyncOption(ChannelFilter):
    """``ChannelFilter`` plus the lip-sync audio capture (started from the opening settings)."""

    lipsync: LipSyncCapture | None = None
    lipsync_error = ""

    def __init__(self, lib: libobs.LibObs, source: int, settings: dict[str, Any]) -> None:
        super().__init__(lib, source, settings)
        self.lipsync_retry = RateLimit(1.0)
        self._follow_lipsync()

    def worker_settings(self) -> dict[str, Any]:
        """The settings plus the lip-sync audio ring's name while the chosen source is captured."""
        capture = self.lipsync
        return {**super().worker_settings(), "lipsync_shm": capture.shm if capture is not None else ""}

    def _wanted_lipsync(self) -> str:
        return str(self.settings.get("lipsync_audio_source", "") or "").strip() if self.settings.get("lipsync") else ""

    def _follow_lipsync(self) -> bool:
        """Capture the chosen source's audio (or stop); True when that changed what the worker gets."""
        name = self._wanted_lipsync()
        capture = self.lipsync
        if capture is not None and capture.source_name == name:
            return False
        if capture is not None:
            self.lipsync = None
            capture.close()
        self.lipsync_error = ""
        if name:
            audio = self.lib.obs_get_audio()
            rate = int(self.lib.audio_output_get_sample_rate(audio)) if audio else 48000
            channels = int(self.lib.audio_output_get_channels(audio)) if audio else 2
            try:
                self.lipsync = LipSyncCapture(self.lib, name, rate, channels)
                runtime.log(f"{self.label}: lip sync follows the audio of {name!r}")
            except (LookupError, OSError, ValueError) as exc:
                self.lipsync_error = str(exc)
        elif self.settings.get("lipsync"):
            self.lipsync_error = "choose the audio source"
        return capture is not None or self.lipsync is not None

    def update(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self._follow_lipsync()
        super().update(settings)

    def tick(self) -> None:
        # a source named before it exists (scene loading, a typo fixed later): tried again each second
        if self.lipsync is None and self._wanted_lipsync() and self.lipsync_retry() and self._follow_lipsync():
            channel = self.channel
            if channel is not None and not channel.closed:
                channel.update(self.worker_settings())
        super().tick()

    def status_text(self) -> str:
        text = super().status_text()
        if self.enabled and self.lipsync_error:
            text += f"; lip sync off: {self.lipsync_error}"
        return text

    def destroy(self) -> None:
        super().destroy()
        capture, self.lipsync = self.lipsync, None
        if capture is not None:
            capture.close()
