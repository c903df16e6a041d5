"""Client-side channels (standard library only): one video or audio stream through the worker.

Created by ``WorkerClient.open_video`` / ``open_audio`` (``obs_faceswap.ipc.client``). Everything on
the per-frame path (``VideoChannel.submit/result``, ``AudioChannel.push/pull``) never blocks and
never raises for a missing worker: it returns False / None and the caller passes its input through.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from obs_faceswap.ipc import audio as audio_ring
from obs_faceswap.ipc import frames, wake
from obs_faceswap.ipc.frames import FrameChannel, FrameView
from obs_faceswap.ipc.regions import NO_RECT, Rect
from obs_faceswap.ipc.shm import SharedMemoryFull

if TYPE_CHECKING:
    from obs_faceswap.ipc.client import WorkerClient

VIDEO_PROCESSORS = ("face", "noop", "invert", "standin")
AUDIO_PROCESSORS = ("voice", "noop")


def _jsonable(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (settings or {}).items():
        out[str(k)] = v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
    return out


class _ChannelBase:
    kind = ""

    def __init__(self, client: WorkerClient, channel_id: int, settings: Mapping[str, Any], processor: str) -> None:
        self.client = client
        self.id = channel_id
        self.settings = _jsonable(settings)
        self.processor = processor
        self.closed = False
        self.worker_stats: dict[str, Any] = {}
        self.last_error = ""  # the worker's (processor) error for this channel
        self.client_error = ""  # this side's, e.g. a frame refused; cleared by the next good frame
        self.counters: dict[str, int] = {}
        self._event = threading.Event()
        self._to_worker: wake.WakePipe | None = None
        self._to_client: wake.WakePipe | None = None
        wake_dir = client._supervisor.wake_dir
        if wake.AVAILABLE and wake_dir:
            try:
                self._to_worker = wake.WakePipe(os.path.join(wake_dir, f"w{channel_id}"), create=True)
                self._to_client = wake.WakePipe(os.path.join(wake_dir, f"c{channel_id}"), create=True)
            except OSError:
                self._close_wake()

    def _wake_worker(self) -> None:
        if self._to_worker is not None:
            self._to_worker.notify()
        else:
            self.client._supervisor.send_wake(self.id)

    def _sleep(self, timeout: float) -> None:
        if self._to_client is not None:
            self._to_client.wait(timeout)
        else:
            self._event.wait(timeout)
            self._event.clear()

    def _wake_paths(self) -> list[str]:
        if self._to_worker is None or self._to_client is None:
            return []
        return [self._to_worker.path, self._to_client.path]

    def _close_wake(self) -> None:
        for p in (self._to_worker, self._to_client):
            if p is not None:
                p.close()
                p.unlink()
        self._to_worker = self._to_client = None

    def update(self, settings: Mapping[str, Any]) -> None:
        """Change settings live (partial dict). Applied by the worker between frames."""
        changed = _jsonable(settings)
        self.settings.update(changed)
        self.client._post({"type": "settings", "channel": self.id, "settings": changed})

    def _open_message(self) -> dict[str, Any]:
        raise NotImplementedError

    def _worker_lost(self) -> None:
        raise NotImplementedError

    @property
    def status_text(self) -> str:
        """One line for a UI: what the worker is doing for this channel, or why it is bypassing."""
        if self.closed:
            return "closed"
        if not self.client.running:
            return self.client.status
        s = self.worker_stats
        if self.client_error or (self.last_error and s.get("passing_through", True)):
            return f"error: {self.last_error or self.client_error} (passing through)"
        if not s:
            return "worker running, waiting for the first frame"
        line = self._status_line(s)
        return f"{line}; {self.last_error}" if self.last_error else line

    def _status_line(self, s: dict[str, Any]) -> str:
        return "running"

    @property
    def stats(self) -> dict[str, Any]:
        """Worker-side stats (video: fps, proc_ms, dropped, queue_age_ms, providers; audio: proc_ms,
        rtf, latency_ms; both: last_error, passing_through, settings_version, ...) plus this
        side's counters (video: submitted, bypassed, results, stale, rejected, reallocs; audio:
        pushed, bypassed, overruns, pulled, underruns) and ``worker_running``."""
        return {**self.worker_stats, **self.counters, "worker_running": self.client.running}

    def close(self) -> None:
        """Tell the worker, forget the channel, unlink its segments and wake-up FIFOs. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.client._post({"type": "close_channel", "channel": self.id})
        self.client._forget(self)
        self._close_segments()
        self._close_wake()

    def _close_segments(self) -> None:
        raise NotImplementedError

    def _handle_stats(self, stats: dict[str, Any]) -> None:
        self.worker_stats = stats
        self.last_error = str(stats.get("last_error") or "")


class VideoChannel(_ChannelBase):
    """One video stream through the worker. Create with ``WorkerClient.open_video``."""

    kind = "video"

    def __init__(self, client: WorkerClient, channel_id: int, settings: Mapping[str, Any], processor: str,
                 *, slots: int = frames.DEFAULT_SLOTS, capacity: int = 0) -> None:
        if slots < frames.MIN_SLOTS:
            raise ValueError(f"a video channel needs at least {frames.MIN_SLOTS} slots, got {slots}")
        super().__init__(client, channel_id, settings, processor)
        self._slots = slots
        self._lock = threading.Lock()
        self._retry_alloc_at = 0.0  # after a failed segment creation (full /dev/shm): when to try again
        self._settings_gen = 0  # +1 per update(); the frames after it wait for it in the worker
        self._chan: FrameChannel | None = None
        if capacity:
            self._chan = self._new_segment(capacity)
        self._old: list[FrameChannel] = []
        self._seq = 0
        self._last_result_seq = -1
        self._view: FrameView | None = None
        self._geometry: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # w, h, format, region frame w, h
        self.max_age_s = client.max_result_age
        self.counters = {"submitted": 0, "bypassed": 0, "results": 0, "stale": 0, "rejected": 0, "reallocs": 0}

    # -- per-frame path -------------------------------------------------------------------------
    def submit(self, data: Any, width: int, height: int, stride: int | Sequence[int] | None = None,
               fmt: int | str = frames.BGRA, timestamp: int = 0, color_matrix: Sequence[float] | None = None
               ) -> bool:
        """Hand one frame to the worker; False when it was not sent (bypass: draw your input).

        ``data``: an address (int, e.g. a mapped OBS texture), a bytes-like object, or one of either
        per plane (I420/NV12 from ``obs_source_frame.data[i]``). ``stride``: bytes per row of plane 0,
        or one per plane (``linesize``). ``fmt``: 'BGRA', 'RGBA', 'BGRX', 'BGR', 'I420', 'NV12',
        'YUY2' or the ``frames`` constant. ``color_matrix``: YUV frames' YUV->RGB matrix (16 floats,
        OBS ``obs_source_frame.color_matrix``, which encodes BT.601/709 and full/limited range; see
        ``frames.color_matrix``); None means BT.601 limited range. Never blocks; never raises for a
        missing worker.
        """
        if self.closed:
            return False
        try:
            code = frames.format_code(fmt)
            if width <= 0 or height <= 0:
                raise ValueError(f"empty frame {width}x{height}")
            nbytes = frames.frame_nbytes(code, width, height, stride)
        except ValueError as exc:
            return self._refused(exc)
        chan = self._slot(nbytes, nbytes)
        if chan is None:
            return False
        self._seq += 1
        try:
            chan.write_frame("in", data, width, height, stride, code, seq=self._seq, timestamp=int(timestamp),
                             color=color_matrix)
        except (ValueError, RuntimeError, TypeError) as exc:
            return self._refused(exc)
        return self._sent(chan, (width, height, code, 0, 0))

    def submit_region(self, small: int, width: int, height: int, stride: int, frame_w: int, frame_h: int,
                      fmt: int | str = frames.BGRA, timestamp: int = 0, crop: int = 0, crop_rect: Rect = NO_RECT,
                      crop_stride: int = 0) -> bool:
        """Hand one *region frame* to the worker (``ipc/regions.py``): the whole ``frame_w`` x ``frame_h``
        frame downscaled to ``width`` x ``height`` at address ``small``, and, unless ``crop_rect`` is
        empty, that rectangle of the frame at full resolution at address ``crop``. The result's
        ``region`` says what the worker swapped and which rectangle to send next. The downscaled frame
        may be left out (``width`` = ``height`` = 0) when a crop is sent. False when it was not sent
        (bypass). Never blocks; never raises for a missing worker."""
        if self.closed:
            return False
        try:
            code = frames.format_code(fmt)
            if (width <= 0 or height <= 0) and (width or height or crop_rect.empty):
                raise ValueError(f"empty frame {width}x{height}")
            small_bytes = frames.frame_nbytes(code, width, height, stride)
            nbytes = small_bytes if crop_rect.empty else frames.align(small_bytes) + crop_stride * crop_rect.h
        except ValueError as exc:
            return self._refused(exc)
        # region frames vary in size as the face moves: grow with headroom, not by every few bytes
        chan = self._slot(nbytes, max(nbytes, self._chan.capacity * 5 // 4 if self._chan is not None else 0))
        if chan is None:
            return False
        self._seq += 1
        try:
            chan.write_region_frame(small, width, height, stride, code, frame_w=frame_w, frame_h=frame_h,
                                    seq=self._seq, timestamp=int(timestamp), crop=crop, crop_rect=crop_rect,
                                    crop_stride=crop_stride)
        except (ValueError, RuntimeError, TypeError) as exc:
            return self._refused(exc)
        return self._sent(chan, (0, 0, code, frame_w, frame_h))  # a region result is used whatever came with it

    def _refused(self, exc: Exception) -> bool:
        self.counters["rejected"] += 1
        self.client_error = f"frame refused: {exc}"
        return False

    def _slot(self, nbytes: int, grow_to: int) -> FrameChannel | None:
        """The segment to write ``nbytes`` into, reallocated to ``grow_to`` when too small; None: pass
        through (no worker, or no room for the segment: the status says why), counted as bypassed."""
        chan = self._chan if self.client.running else None
        if self.client.running and (chan is None or nbytes > chan.capacity):
            chan = self._reallocate(grow_to)
        if chan is None:
            self.counters["bypassed"] += 1
        return chan

    def _sent(self, chan: FrameChannel, geometry: tuple[int, int, int, int, int]) -> bool:
        self.client_error = ""
        self._geometry = geometry
        self.counters["submitted"] += 1
        if chan.take_waiting("worker"):
            self._wake_worker()
        return True

    def result(self) -> FrameView | None:
        """The newest finished result if it is fresh (same size and format as the last submitted
        frame, made from an input at most ``max_age_s`` old); else None: draw your input.
        ``is_new`` tells whether it differs from the previous call's. Never blocks. The view is
        valid until the next ``result()``/``release()`` call."""
        return self._result(check_age=True)

    def _result(self, check_age: bool) -> FrameView | None:
        chan = self._chan
        if chan is None or self.closed:
            return None
        if not self.client.running:
            self.release()
            return None
        got = chan.claim("out", self._last_result_seq)
        if got is not None and got[1].seq > self._seq:  # the result of an input never sent: forged
            chan.release("out")  # (taking its number would refuse every real result after it)
            self.counters["rejected"] += 1
            got = None
        if got is not None:
            index, hdr = got
            self._last_result_seq = hdr.seq
            off = chan.data_offset("out", index)
            buf = chan.segment.buf
            planes = [buf[off + o: off + o + s * r] for o, s, r in zip(
                hdr.offsets, hdr.strides, frames.plane_layout(hdr.fmt, hdr.width, hdr.height, hdr.strides)[1],
                strict=True)]
            self._view = FrameView(hdr.seq, hdr.timestamp, hdr.width, hdr.height, hdr.fmt, hdr.strides,
                                   hdr.offsets, hdr.nbytes, hdr.submit_ns, chan.segment.address + off, planes,
                                   True, chan, index, hdr.version, hdr.color, hdr.region, hdr.changed)
            self.counters["results"] += 1
        elif self._view is not None:
            self._view.is_new = False
        view = self._view
        if view is None or view._channel is not chan:
            return None
        size = (0, 0, view.region.frame_w, view.region.frame_h) if view.region is not None else (
            view.width, view.height, 0, 0)
        if (size[0], size[1], view.fmt, size[2], size[3]) != self._geometry or (
                check_age and time.monotonic_ns() - view.submit_ns > self.max_age_s * 1e9):
            if view.is_new:
                self.counters["stale"] += 1
            return None
        return view

    @property
    def submitted_seq(self) -> int:
        """Sequence number of the last submitted frame (results carry the input's number)."""
        return self._seq

    def wait_result(self, timeout: float, min_seq: int = 0) -> FrameView | None:
        """Block up to ``timeout`` s for a result newer than the last one returned and made from
        input ``min_seq`` or later (e.g. ``submitted_seq``). For the live mode, tests and
        benchmarks; never call this from an OBS callback."""
        deadline = time.monotonic() + timeout
        while True:
            chan = self._chan
            if chan is not None and self.client.running:
                chan.set_waiting("client", True)
                view = self._result(check_age=False)  # the caller waits for this one: late is fine
                if view is not None and view.is_new and view.seq >= min_seq:
                    chan.set_waiting("client", False)
                    return view
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._sleep(min(left, 0.05))

    def release(self) -> None:
        """Give the result slot back (optional: the next ``result()`` does it too)."""
        chan = self._chan
        self._view = None
        if chan is not None:
            chan.release("out")

    # -- management -----------------------------------------------------------------------------
    def update(self, settings: Mapping[str, Any]) -> None:
        """Change settings live (partial dict). The next frame submitted is processed with them:
        the message carries a generation number that the channel header announces too, and the
        worker does not process a frame announced after a change it has not received yet."""
        changed = _jsonable(settings)
        self.settings.update(changed)
        self._settings_gen = (self._settings_gen + 1) & 0xFFFFFFFF
        self.client._post({"type": "settings", "channel": self.id, "settings": changed, "gen": self._settings_gen})
        chan = self._chan
        if chan is not None:
            chan.set_settings_gen(self._settings_gen)

    def _new_segment(self, nbytes: int) -> FrameChannel | None:
        """A new frame segment, or None (and ``client_error`` says why) when shared memory has no
        room for it; then no new try for a second (a full /dev/shm is not freed frame by frame)."""
        if time.monotonic() < self._retry_alloc_at:
            return None
        try:
            chan = FrameChannel.create(nbytes, slots=self._slots)
            chan.set_settings_gen(self._settings_gen)
            return chan
        except OSError as exc:
            self._retry_alloc_at = time.monotonic() + 1.0
            self.client_error = str(exc) if isinstance(exc, SharedMemoryFull) else f"cannot create shared memory: {exc}"
            return None

    def _reallocate(self, nbytes: int) -> FrameChannel | None:
        """A bigger frame than the segment holds: make a new segment, announce it, drop the old.
        None when there is no room for it (the old segment stays as it was)."""
        with self._lock:
            old = self._chan
            new = self._new_segment(nbytes)
            if new is None:
                return None
            self._chan = new
            self._view = None
            self._last_result_seq = -1 if old is None else self._last_result_seq
            if old is not None:
                self.counters["reallocs"] += 1
                old.segment.unlink()
                self._old.append(old)
                while len(self._old) > 2:
                    self._old.pop(0).close()
            self.client._post(self._open_message())
            return self._chan

    def _open_message(self) -> dict[str, Any]:
        return {"type": "open_channel", "channel": self.id, "kind": "video",
                "shm": self._chan.name if self._chan else "", "settings": self.settings,
                "processor": self.processor, "wake": self._wake_paths(), "gen": self._settings_gen}

    def _worker_lost(self) -> None:
        chan = self._chan
        if chan is not None:
            chan.reset_reader("in")
            chan.set_waiting("worker", False)

    @property
    def segment_names(self) -> list[str]:
        return [c.name for c in ([self._chan] if self._chan else []) + self._old]

    def _status_line(self, s: dict[str, Any]) -> str:
        prov = ",".join(str(p).replace("ExecutionProvider", "") for p in s.get("providers") or []) or "-"
        lips = f"; lip sync {float(s['lipsync_delay_ms']):.0f} ms delay" if s.get("lipsync_delay_ms") else ""
        if lips and int(s.get("lipsync_late", 0)):  # frames shown before their sound arrived (audio behind)
            lips += (f", {100.0 * int(s['lipsync_late']) / max(1, int(s.get('frames', 0))):.0f} % without their sound"
                     f" (audio {float(s.get('lipsync_audio_lag_ms', 0)):.0f} ms behind)")
        return (f"{s.get('processor', self.processor)}: {float(s.get('fps', 0)):.1f} fps, "
                f"{float(s.get('proc_ms', 0)):.1f} ms/frame, {int(s.get('dropped', 0))} dropped, {prov}{lips}")

    def _close_segments(self) -> None:
        self.release()
        for c in ([self._chan] if self._chan else []) + self._old:
            c.segment.unlink()
            c.close()
        self._chan = None
        self._old = []


class AudioChannel(_ChannelBase):
    """One audio stream through the worker (planar float32). Create with ``WorkerClient.open_audio``.

    The worker returns exactly as many frames as it receives, delayed by a fixed ``latency_ms``
    (the voice engine's latency; silence during warm-up), so the caller can treat the output as
    a fixed-delay stream; on underrun (``pull`` -> None) output your dry input delayed as much.
    """

    kind = "audio"

    def __init__(self, client: WorkerClient, channel_id: int, sample_rate: int, channels: int,
                 settings: Mapping[str, Any], processor: str, capacity_ms: int = 2000) -> None:
        super().__init__(client, channel_id, settings, processor)
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self._capacity_frames = self.sample_rate * capacity_ms // 1000
        self._retry_alloc_at = 0.0
        self._ring: audio_ring.AudioRings | None = None
        self._make_ring()
        self.counters = {"pushed": 0, "bypassed": 0, "overruns": 0, "pulled": 0, "underruns": 0}

    def _make_ring(self) -> bool:
        """Create the rings; False (``client_error`` says why, next try in a second) when shared
        memory has no room: the channel then passes its input through instead of failing."""
        if self._ring is not None:
            return True
        if time.monotonic() < self._retry_alloc_at:
            return False
        try:  # bad parameters (ValueError) are the caller's mistake and raise
            self._ring = audio_ring.AudioRings.create(self.sample_rate, self.channels, self._capacity_frames)
        except OSError as exc:
            self._retry_alloc_at = time.monotonic() + 1.0
            self.client_error = str(exc) if isinstance(exc, SharedMemoryFull) else f"cannot create shared memory: {exc}"
            return False
        self.client_error = ""
        return True

    def push(self, planes: Sequence[Any], frames_: int, timestamp: int = 0) -> bool:
        """Queue ``frames_`` frames (one float32 plane per channel: address or buffer). False when not
        queued (no worker, or the ring is full). Never blocks."""
        if self.closed or not self.client.running:
            self.counters["bypassed"] += 1
            return False
        if self._ring is None:
            if not self._make_ring():
                self.counters["bypassed"] += 1
                return False
            self.client._post(self._open_message())  # room again: the worker can start now
        if not self._ring.push("in", planes, frames_, timestamp):
            self.counters["overruns"] += 1
            return False
        self.counters["pushed"] += frames_
        if self._ring.take_waiting("worker"):
            self._wake_worker()
        return True

    def pull(self, frames_: int, out: Sequence[int] | None = None) -> tuple[list[bytes] | None, int | None] | None:
        """Exactly ``frames_`` processed frames, or None (underrun / no worker). With ``out`` (one
        address per channel) they are copied there; else returned as one ``bytes`` per channel.
        The second element is the timestamp (ns) of the input the first frame came from."""
        if self.closed or self._ring is None:
            return None
        got = self._ring.pull("out", frames_, out)
        if got is None:
            self.counters["underruns"] += 1
            return None
        self.counters["pulled"] += frames_
        return got

    def available(self) -> int:
        """Processed frames ready to pull."""
        return self._ring.available("out") if self._ring is not None else 0

    @property
    def latency_ms(self) -> float:
        """Fixed delay the worker's processing adds (reported by the worker; 0 until known)."""
        return float(self.worker_stats.get("latency_ms", 0.0))

    def _open_message(self) -> dict[str, Any]:
        return {"type": "open_channel", "channel": self.id, "kind": "audio", "shm": self._ring.name if self._ring else "",
                "settings": self.settings, "processor": self.processor, "sample_rate": self.sample_rate,
                "channels": self.channels, "wake": self._wake_paths()}

    def _worker_lost(self) -> None:
        # the consumer of 'in' died: drop what it left unread (a new worker starts fresh)
        if self._ring is not None:
            self._ring.reset("in")
            self._ring.set_waiting("worker", False)

    @property
    def segment_names(self) -> list[str]:
        return [self._ring.name] if self._ring is not None else []

    def _status_line(self, s: dict[str, Any]) -> str:
        voice = f"; {s['voice']}" if s.get("voice") else ""
        return (f"{s.get('processor', self.processor)}: {float(s.get('latency_ms', 0)):.0f} ms latency, "
                f"{float(s.get('proc_ms', 0)):.1f} ms/block, RTF {float(s.get('rtf', 0)):.2f}{voice}")

    def _close_segments(self) -> None:
        if self._ring is not None:
            self._ring.segment.unlink()
            self._ring.close()
