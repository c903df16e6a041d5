"""What every obs-faceswap filter instance does the same way: settings, its worker channel, status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import libobs, properties, runtime
from .worker_link import RateLimit, close_quietly, link

if TYPE_CHECKING:
    from ..ipc.client import WorkerClient
    from ..ipc.client_channels import AudioChannel, VideoChannel


class ChannelFilter:
    """One filter instance owning one channel on the shared worker.

    Subclasses implement ``open_channel(client)`` and may extend ``status_text``.
    """

    label = "filter"
    off_text = "off (passing through)"

    def __init__(self, lib: libobs.LibObs, source: int, settings: dict[str, Any]) -> None:
        self.lib = lib
        self.source = source
        self.settings = settings
        self.channel: VideoChannel | AudioChannel | None = None
        self.status_tick = RateLimit(1.0)
        self.last_status = ""

    @property
    def enabled(self) -> bool:
        return bool(self.settings.get("enabled", True))

    def open_channel(self, client: WorkerClient) -> VideoChannel | AudioChannel:
        raise NotImplementedError

    def live_channel(self) -> VideoChannel | AudioChannel | None:
        """This filter's channel on the shared worker (opened on first use; never blocks)."""
        channel = self.channel
        if channel is not None and not channel.closed:
            return channel
        client = link().client()
        if client is None:
            return None
        self.channel = self.open_channel(client)
        return self.channel

    def worker_settings(self) -> dict[str, Any]:
        """The settings as the worker gets them (a filter kind may add derived values)."""
        return dict(self.settings)

    def update(self, settings: dict[str, Any]) -> None:
        """Settings changed in the panel or over obs-websocket: hand them to the worker now."""
        self.settings = settings
        channel = self.channel
        if channel is not None and not channel.closed:
            channel.update(self.worker_settings())

    def status_text(self) -> str:
        if not self.enabled:
            return self.off_text
        channel = self.channel
        if channel is not None and not channel.closed:
            return str(channel.status_text)
        error = link().error
        return f"bypass: {error}" if error else "starting worker..."

    def tick(self) -> None:
        """About once a second: refresh the panel's status line (only when it changed)."""
        if self.status_tick():
            text = self.status_text()
            if text != self.last_status:
                self.last_status = text
                properties.write_status(self.lib, self.source, text)

    def destroy(self) -> None:
        channel, self.channel = self.channel, None
        close_quietly(channel)

    def log_once(self, what: str, exc: BaseException, level: int = libobs.LOG_WARNING) -> None:
        runtime.log_once(f"{self.label} {what} {exc}", f"{self.label}: {what} failed: {exc!r}", level)
