"""Worker side of one channel: a thread that takes the newest input, processes it, publishes it.

Settings changes and segment reallocations arrive from the control thread and are applied by
the channel thread between frames, so no frame is half-processed with old and new state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from obs_faceswap.ipc import wake as wakepipe
from obs_faceswap.ipc.audio import AudioRings
from obs_faceswap.ipc.frames import FrameChannel, SlotHeader
from obs_faceswap.ipc.regions import NO_RECT, Rect, standin_face
from obs_faceswap.worker import convert
from obs_faceswap.worker.lipsync_feed import LipSyncFeed
from obs_faceswap.worker.priority import lower_this_thread
from obs_faceswap.worker.processors import (
    AudioProcessor,
    VideoProcessor,
    make_audio_processor,
    make_video_processor,
)
from obs_faceswap.worker.region_frames import RegionState, changed_box

Wake = Callable[[int], None]
Report = Callable[[int, str], None]
# An idle channel sleeps until the client wakes it (FIFO or control connection); this timeout only
# bounds a lost wake-up. Short timeouts cost CPU with many channels (64 channels x 20 Hz = 1280 wakes/s).
IDLE_WAIT_S = 0.25
# A frame announced after a settings change (the client's settings generation in the channel header)
# waits this long at most for that change's message, so a look change shows on the next frame
SETTINGS_WAIT_S = 0.1


class _Rate:
    """Frames and processing time since the last snapshot."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.n = 0
        self.ms = 0.0
        self.last_mean = 0.0

    def add(self, ms: float) -> None:
        self.n += 1
        self.ms += ms

    def snapshot(self) -> tuple[float, float]:
        now = time.monotonic()
        dt = max(1e-6, now - self.t0)
        fps = self.n / dt
        if self.n:  # with no frames in this period, keep reporting the last period's time
            self.last_mean = self.ms / self.n
        self.t0, self.n, self.ms = now, 0, 0.0
        return fps, self.last_mean


class _ChannelWorker:
    kind = ""

    def __init__(self, cid: int, settings: Mapping[str, Any], processor: str, wake: Wake, report: Report,
                 wake_paths: list[str] | None = None) -> None:
        self.id = cid
        self._in_pipe: wakepipe.WakePipe | None = None
        self._out_pipe: wakepipe.WakePipe | None = None
        if wake_paths and len(wake_paths) == 2 and wakepipe.AVAILABLE:
            try:
                self._in_pipe = wakepipe.WakePipe(str(wake_paths[0]))
                self._out_pipe = wakepipe.WakePipe(str(wake_paths[1]))
            except OSError:
                self._close_pipes()
        self.settings = dict(settings)
        self.processor_name = processor
        self.wake = wake
        self.report = report
        self.event = threading.Event()
        self.stop_flag = False
        self.last_error = ""
        self._errors: dict[str, str] = {}
        self._good: dict[str, Any] = {}  # the settings the running processor was last updated with
        self._refused: dict[str, Any] = {}  # values a running processor refused (shown in the error)
        self.processor: VideoProcessor | AudioProcessor | None = None
        self._failed = False
        self._pending_settings: dict[str, Any] | None = None
        self._pending_processor: str | None = None
        self.gen_received: int | None = None  # the client's settings generation last received (None: an
        self._gen_given_up = -1  # older client); a generation announced but never received is not waited for again
        self._received = 1  # the opening settings, then one per update() (settings / re-open message)
        self.settings_version = 0  # how many of those were applied (or refused) so far: in the stats
        self._lock = threading.Lock()
        self.rate = _Rate()
        self.frames = 0
        # start-up timing (monotonic seconds): opened, processor built, first frame done; the server logs it
        self.opened_at = time.monotonic()
        self.build_s: float | None = None
        self.first_frame_at: float | None = None
        self.last_fps = 0.0
        self.last_ms = 0.0
        self.thread = threading.Thread(target=self._run, name=f"{self.kind}-channel-{cid}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def poke(self) -> None:
        """Wake the channel thread (new input, new settings, stop)."""
        self.event.set()
        if self._in_pipe is not None:
            self._in_pipe.notify()

    def _sleep(self, timeout: float) -> None:
        if self._in_pipe is not None and not self.event.is_set():
            self._in_pipe.wait(timeout)
        else:
            self.event.wait(timeout)
        self.event.clear()

    def _notify_client(self) -> None:
        if self._out_pipe is not None:
            self._out_pipe.notify()
        else:
            self.wake(self.id)

    def _close_pipes(self) -> None:
        for p in (self._in_pipe, self._out_pipe):
            if p is not None:
                p.close()
        self._in_pipe = self._out_pipe = None

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_flag = True
        self.poke()
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self._close_pipes()

    def update(self, settings: Mapping[str, Any], processor: str | None = None, gen: Any = None) -> None:
        with self._lock:
            if isinstance(gen, int) and not isinstance(gen, bool):
                self.gen_received = gen & 0xFFFFFFFF
            self._received += 1
            self._pending_settings = {**(self._pending_settings or {}), **settings}
            if processor and processor != self.processor_name:
                self._pending_processor = processor
        self.poke()

    def _error(self, text: str, source: str = "settings") -> None:
        """Set this channel's error from ``source`` ('settings', 'channel' or 'frame'); the reported
        ``last_error`` joins them, and each new text is reported once."""
        self._errors[source] = text
        joined = "; ".join(t for t in (self._errors.get(k, "") for k in ("settings", "channel", "frame", "lipsync")) if t)
        if joined != self.last_error:
            self.last_error = joined
            if text:
                self.report(self.id, joined)

    def _apply_pending(self) -> None:
        """Apply queued settings / processor changes between frames. A change that fails while a
        processor runs keeps it running with the last good settings ("kept previous settings: ...")
        and the next good change applies; only a channel that never had good settings passes through.
        Afterwards ``settings_version`` counts the messages handled, so a stats snapshot that shows
        it tells the client its ``last_error`` / ``passing_through`` already reflect them."""
        with self._lock:
            pending, self._pending_settings = self._pending_settings, None
            proc_name, self._pending_processor = self._pending_processor, None
            received = self._received
        try:
            self._apply(pending, proc_name)
        finally:
            self.settings_version = received

    def _apply(self, pending: dict[str, Any] | None, proc_name: str | None) -> None:
        if pending is None and proc_name is None and (self.processor is not None or self._failed):
            return
        if pending:
            self.settings.update(pending)
        if self.processor is None:
            if proc_name:
                self.processor_name = proc_name
            t0 = time.monotonic()
            try:
                self.processor = self._make_processor()
            except Exception as exc:  # never had usable settings: report it, keep the channel alive (bypass)
                self._failed = True
                self._error(str(exc) or type(exc).__name__)
                return
            self._failed = False
            self._good = dict(self.settings)
            self._refused = {}
            if self.build_s is None:
                self.build_s = time.monotonic() - t0
            self._error("")
            return
        if proc_name:
            old_name, self.processor_name = self.processor_name, proc_name
            try:
                new = self._make_processor()
            except Exception as exc:
                self.processor_name = old_name
                self._error(f"kept previous settings: {str(exc) or type(exc).__name__}")
                return
            self._close_processor()
            self.processor, self._good = new, dict(self.settings)
            self._error("")
            return
        missing = object()
        changed = {k: v for k, v in self.settings.items() if self._good.get(k, missing) != v}
        if not changed:  # e.g. reverted to the running values: nothing is refused any more
            self._refused = {}
            self._error("")
            return
        stale = {k: v for k, v in changed.items() if self._refused.get(k, missing) == v}
        fresh = {k: v for k, v in changed.items() if k not in stale}
        if not fresh:  # only values already refused: not tried again (a photo may be huge, a model slow)
            return
        # refused values are tried again only beside a new value of a related setting (same schema
        # group: backend + voice model, photo + swapper), which may be what they needed
        groups = {self._group(k) for k in fresh}
        attempt = {**fresh, **{k: v for k, v in stale.items() if self._group(k) in groups}}
        try:
            self.processor.update(attempt)
        except Exception as exc:
            failed = set(attempt) if len(attempt) == 1 else set(self._update_one_by_one(attempt))
            if failed:
                # the whole change's reason: a key tried alone may fail for another (its partner missing)
                self._refused = {k: self.settings[k] for k in (failed | set(stale))}
                self._error(f"kept previous settings ({', '.join(sorted(self._refused))}): "
                            f"{str(exc) or type(exc).__name__}")
                return
        for k, v in attempt.items():
            self._good[k] = v
        self._refused = {k: v for k, v in stale.items() if k not in attempt}
        if not self._refused:
            self._error("")

    def _group(self, key: str) -> str:
        from obs_faceswap.settings import FACE_SETTINGS, VOICE_SETTINGS

        s = (VOICE_SETTINGS if self.kind == "audio" else FACE_SETTINGS).by_name.get(key)
        return s.group if s is not None else key

    def _update_one_by_one(self, changed: Mapping[str, Any]) -> dict[str, Exception]:
        """Apply what can be applied of a change that failed as a whole; the keys that still fail."""
        failed: dict[str, Exception] = {}
        for key, value in changed.items():
            try:
                self.processor.update({key: value})
            except Exception as exc:
                failed[key] = exc
            else:
                self._good[key] = value
        return failed

    def _close_processor(self) -> None:
        p, self.processor = self.processor, None
        if p is not None:
            try:
                p.close()
            except Exception:
                pass

    def _make_processor(self) -> VideoProcessor | AudioProcessor:
        raise NotImplementedError

    def _run(self) -> None:
        self._apply_pending()
        try:
            while not self.stop_flag:
                self._apply_pending()
                if self.processor is None:
                    self._sleep(0.5)
                    continue
                if not self._step():
                    self._sleep(IDLE_WAIT_S)
        except Exception as exc:
            self._error(f"channel stopped: {exc!r}", "channel")
        finally:
            self._close_processor()
            self._close()

    def _step(self) -> bool:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class VideoWorker(_ChannelWorker):
    kind = "video"

    def __init__(self, cid: int, shm: str, settings: Mapping[str, Any], processor: str, wake: Wake,
                 report: Report, wake_paths: list[str] | None = None) -> None:
        super().__init__(cid, settings, processor, wake, report, wake_paths)
        try:
            self.chan = FrameChannel.attach(shm)
        except BaseException:
            self._close_pipes()  # a channel that could not open keeps no descriptors
            raise
        self._pending_shm: str | None = None
        self.last_seq = -1
        self.dropped = 0
        self.queue_age_ms = 0.0
        self.lipsync: LipSyncFeed | None = None  # the chosen audio source drives the mouth (settings)
        self.regions = RegionState()  # region frames: the last rectangles (steady sizes)
        self.yielded = False  # this thread's priority was lowered (once, before its first frame)

    def remap(self, shm: str) -> None:
        if shm != self.chan.name:
            with self._lock:
                self._pending_shm = shm
            self.poke()

    @property
    def segment_names(self) -> list[str]:
        return [self.chan.name] + ([self._pending_shm] if self._pending_shm else [])

    def _make_processor(self) -> VideoProcessor:
        return make_video_processor(self.processor_name, self.settings)

    def _apply_pending(self) -> None:
        with self._lock:
            shm, self._pending_shm = self._pending_shm, None
        if shm:
            try:
                new = FrameChannel.attach(shm)
            except (OSError, ValueError) as exc:
                self._error(f"cannot attach the resized frame channel: {exc}", "channel")
            else:
                old, self.chan = self.chan, new
                old.close()
        super()._apply_pending()
        self._follow_lipsync()

    def _follow_lipsync(self) -> None:
        """Attach (or drop) the lip-sync audio ring the settings name (``lipsync`` on, ``lipsync_shm``)."""
        name = self.settings.get("lipsync_shm") if self.settings.get("lipsync") else None
        name = name if isinstance(name, str) and name else None
        if self.lipsync is not None and self.lipsync.name == name:
            return
        if self.lipsync is not None:
            self.lipsync.close()
            self.lipsync = None
        if name is None:
            self._error("", "lipsync")
            return
        try:
            self.lipsync = LipSyncFeed(name)
        except (OSError, ValueError) as exc:
            self._error(f"lip sync audio unavailable: {exc}", "lipsync")
        else:
            self._error("", "lipsync")

    def _step(self) -> bool:
        chan = self.chan
        chan.set_waiting("worker", True)
        # any input other than the one processed last is new: the client's counter only grows, so
        # "greater than" would let one forged number (2**64 - 1) stop this channel for good
        got = chan.claim("in")
        if got is not None and got[1].seq == self.last_seq:  # our own result, still 'in' latest
            chan.release("in")
            got = None
        if got is None:
            return False
        chan.set_waiting("worker", False)
        index, hdr = got
        if not self.yielded and self.frames:  # models and first frame at full speed (a restart swaps again
            self.yielded = lower_this_thread() or True  # soon); then frames yield the CPU to OBS (worker/priority.py)
        self._await_settings(chan.settings_gen())
        t0 = time.perf_counter()
        if self.last_seq >= 0 and hdr.seq > self.last_seq + 1:
            self.dropped += hdr.seq - self.last_seq - 1
        self.last_seq = hdr.seq
        self.queue_age_ms = max(0.0, (time.monotonic_ns() - hdr.submit_ns) / 1e6)
        if hdr.nbytes > chan.capacity or hdr.width == 0 or hdr.height == 0:
            chan.release("in")
            return True
        # the result overwrites the input in the same slot (zero-copy views; noop touches nothing)
        try:
            chan.begin_in_place(index)
        except RuntimeError as exc:
            chan.release("in")
            self._error(str(exc), "frame")
            return True
        if hdr.region is not None:
            return self._step_region(chan, index, hdr)
        # noop: the frame comes back unchanged; it names a face-sized square in the middle as swapped, so
        # the client copies back what it would for one tracked face (bench obs --transport-only)
        changed = convert.even_rect(standin_face(hdr.width, hdr.height), hdr.width, hdr.height)
        if self.processor.name != "noop":
            off = chan.data_offset("in", index)
            flat = np.frombuffer(chan.segment.buf, np.uint8, hdr.nbytes, off)
            try:
                bgr = convert.to_bgr(flat, hdr)  # always a copy: processors may keep it (tracking)
                result = self.processor.process(bgr)
                if self.lipsync is not None:  # a delayed frame: all of it may differ
                    result = self.lipsync.process(result, hdr.timestamp)
                    changed = Rect(0, 0, hdr.width, hdr.height)
                elif result is not bgr:  # processors return their input when they changed nothing
                    box = changed_box(result, bgr) if result.shape == bgr.shape else (0, 0, hdr.width, hdr.height)
                    changed = NO_RECT if box is None else Rect(box[0], box[1], box[2] - box[0], box[3] - box[1])
                # only the changed rectangle is converted back and, by the client, copied over its frame
                changed = convert.even_rect(changed, hdr.width, hdr.height)
                if not changed.empty:
                    r = changed
                    convert.from_bgr(result[r.y:r.y + r.h, r.x:r.x + r.w] if result.shape == bgr.shape else result,
                                     convert.sub_header(hdr, r), flat, flat)
                self._error(self.processor.last_error, "frame")
            except Exception as exc:
                chan.abort_write("in", index)
                chan.release("in")
                self._error(f"frame failed: {exc}", "frame")
                return True
            finally:
                del flat
        chan.commit_write("out", index, seq=hdr.seq, timestamp=hdr.timestamp, width=hdr.width, height=hdr.height,
                          fmt=hdr.fmt, strides=hdr.strides, offsets=hdr.offsets, nbytes=hdr.nbytes,
                          submit_ns=hdr.submit_ns, color=hdr.color, changed=changed)
        self._published(t0)
        return True

    def _step_region(self, chan: FrameChannel, index: int, hdr: SlotHeader) -> bool:
        """A region frame (``ipc/regions.py``): processed in place by ``RegionState``; the result's
        region block says what was swapped and what to read next."""
        t0 = time.perf_counter()
        try:
            region = self.regions.process(self.processor, chan.segment.buf, chan.data_offset("in", index), hdr,
                                          self.lipsync)
            self._error(self.processor.last_error, "frame")
        except Exception as exc:
            chan.abort_write("in", index)
            chan.release("in")
            self._error(f"frame failed: {exc}", "frame")
            return True
        chan.commit_write("out", index, seq=hdr.seq, timestamp=hdr.timestamp, width=hdr.width, height=hdr.height,
                          fmt=hdr.fmt, strides=hdr.strides, offsets=hdr.offsets, nbytes=hdr.nbytes,
                          submit_ns=hdr.submit_ns, region=region)
        self._published(t0)
        return True

    def _published(self, t0: float) -> None:
        if self.chan.take_waiting("client"):
            self._notify_client()
        if self.first_frame_at is None:
            self.first_frame_at = time.monotonic()
        self.frames += 1
        self.rate.add((time.perf_counter() - t0) * 1000.0)

    def _await_settings(self, announced: int) -> None:
        """The client changed settings before this frame: wait (briefly) for the message and apply
        it, so the frame shows the change (a look slider shows on the very next frame)."""
        if self.gen_received is None or announced in (self.gen_received, self._gen_given_up):
            return
        deadline = time.monotonic() + SETTINGS_WAIT_S
        while self.gen_received != announced and time.monotonic() < deadline and not self.stop_flag:
            self.event.wait(0.002)
            self.event.clear()
        if self.gen_received != announced:
            self._gen_given_up = announced  # a lost or forged announcement: never wait for it again
        _ChannelWorker._apply_pending(self)  # settings only: the segment stays (we hold a slot of it)

    def stats(self) -> dict[str, Any]:
        fps, ms = self.rate.snapshot()
        extra = {}
        if self.processor is not None:
            try:
                extra = dict(self.processor.stats())
            except Exception:
                extra = {}
        if self.lipsync is not None:
            extra.update(self.lipsync.stats())
        version = self.settings_version  # read first: last_error is at least as new as it
        return {"kind": "video", "processor": self.processor_name, "fps": round(fps, 2), "proc_ms": round(ms, 3),
                "frames": self.frames, "dropped": self.dropped, "queue_age_ms": round(self.queue_age_ms, 3),
                "providers": extra.pop("providers", []), "last_error": self.last_error,
                "passing_through": self.processor is None, "settings_version": version, **extra}

    def _close(self) -> None:
        if self.lipsync is not None:
            self.lipsync.close()
        self.chan.close()


class AudioWorker(_ChannelWorker):
    kind = "audio"

    def __init__(self, cid: int, shm: str, settings: Mapping[str, Any], processor: str, wake: Wake,
                 report: Report, wake_paths: list[str] | None = None) -> None:
        super().__init__(cid, settings, processor, wake, report, wake_paths)
        try:
            self.ring = AudioRings.attach(shm)
        except BaseException:
            self._close_pipes()
            raise
        self.blocks = 0
        self.out_overruns = 0
        self.audio_s = 0.0
        self.proc_s = 0.0

    @property
    def segment_names(self) -> list[str]:
        return [self.ring.name]

    def _make_processor(self) -> AudioProcessor:
        return make_audio_processor(self.processor_name, self.settings, self.ring.sample_rate, self.ring.channels)

    def _step(self) -> bool:
        ring = self.ring
        ring.set_waiting("worker", True)
        rd, runs = ring.read_views("in")
        n = sum(c for _, c in runs)
        if n == 0:
            return False
        ring.set_waiting("worker", False)
        t0 = time.perf_counter()
        block = np.empty((ring.channels, n), np.float32)
        for c in range(ring.channels):
            base = ring.plane_offset("in", c)
            at = 0
            for pos, count in runs:
                block[c, at:at + count] = np.frombuffer(ring.segment.buf, np.float32, count, base + pos * 4)
                at += count
        ts = ring.timestamp_of("in", rd) or 0
        ring.advance("in", n)
        try:
            out = np.ascontiguousarray(self.processor.process(block), dtype=np.float32)
            if out.shape != block.shape:
                raise ValueError(f"voice processor returned {out.shape} for a {block.shape} block")
            self._error(self.processor.last_error, "frame")
        except Exception as exc:
            self._error(f"audio block failed: {exc}", "frame")
            return True
        if not ring.push("out", [out[c] for c in range(ring.channels)], n, ts):
            self.out_overruns += 1
        if ring.take_waiting("client"):
            self._notify_client()
        self.blocks += 1
        dt = time.perf_counter() - t0
        self.proc_s += dt
        self.audio_s += n / ring.sample_rate
        self.rate.add(dt * 1000.0)
        return True

    def stats(self) -> dict[str, Any]:
        _, ms = self.rate.snapshot()
        version = self.settings_version  # read first: last_error is at least as new as it
        latency = float(self.processor.latency_ms) if self.processor is not None else 0.0  # type: ignore[union-attr]
        return {"kind": "audio", "processor": self.processor_name, "proc_ms": round(ms, 3), "blocks": self.blocks,
                "rtf": round(self.proc_s / self.audio_s, 4) if self.audio_s else 0.0, "latency_ms": latency,
                "out_overruns": self.out_overruns, "in_overruns": self.ring.overruns("in"),
                "last_error": self.last_error, "passing_through": self.processor is None,
                "settings_version": version, "voice": str(getattr(self.processor, "voice", "") or "")}

    def _close(self) -> None:
        self.ring.close()
