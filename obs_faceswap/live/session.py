"""The live loop: capture → swap → preview / file / virtual camera, with keys and a summary."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.live.capture import CapturedFrame, FrameSource
from obs_faceswap.live.controls import DEFAULT_ENHANCER, HELP, apply_key
from obs_faceswap.live.in_process import Processor
from obs_faceswap.live.outputs import Preview, VideoRecorder, VirtualCamera, draw_overlay
from obs_faceswap.live.stats import LiveStats
from obs_faceswap.vision.types import Frame

MESSAGE_SECONDS = 2.5


@dataclass
class LiveOptions:
    preview: bool = True
    output: str | None = None  # where to record (the command hands in an atomic temporary path)
    frames: int = 0  # 0 = until the source ends or the user quits
    virtual_camera: bool = False
    clean_output: bool = False  # record without the fps/latency overlay
    enhancer_key_model: str = DEFAULT_ENHANCER


def overlay_lines(stats: LiveStats, settings: Mapping[str, Any], processor: Processor, message: str,
                  *, with_help: bool, columns: int = 90) -> list[str]:
    """The preview's text: fps, the look settings, then errors and messages wrapped at ``columns``
    characters (whole, never cut at the window edge). When the pipeline kept its previous settings,
    the look line says these are only what was asked for."""
    kept = "kept previous settings" in (processor.last_error or "")
    lines = [f"{stats.fps_now:5.1f} fps  latency {stats.latency_now:4.0f} ms  ({processor.name})",
             ("asked for (not applied): " if kept else "")
             + f"swap {'on' if settings.get('enabled', True) else 'off'}  blend {settings.get('blend', 100)}%  "
             f"enhancer {settings.get('enhancer', 'none')}  mask {'on' if settings.get('occlusion_mask') else 'off'}"]
    for text in (processor.last_error, message):
        if text:
            lines += textwrap.wrap(text, max(20, columns), break_on_hyphens=False) or [text]
    if with_help:
        lines.append(HELP)
    return lines


def overlay_columns(width: int) -> int:
    """How many overlay characters fit across a frame ``width`` pixels wide (see ``draw_overlay``)."""
    scale = max(0.4, min(1.0, width / 1280.0))
    return max(20, int((width - 12) / (18.5 * scale)))


def _next_swapped(frames: Iterator[CapturedFrame], processor: Processor, preview: Preview | None
                  ) -> tuple[tuple[CapturedFrame, Frame, float] | None, list[int]]:
    """The next captured frame, it swapped and the milliseconds the swap took (None at the end of the
    source), with the keys pressed in the preview while waiting for the frame and swapping it."""
    def step() -> tuple[CapturedFrame, Frame, float] | None:
        captured = next(frames, None)
        if captured is None:
            return None
        t = time.perf_counter()
        out = processor.process(captured.image)
        return captured, out, (time.perf_counter() - t) * 1000.0

    return preview.keys_while(step) if preview is not None else (step(), [])


def run_live(source: FrameSource, processor: Processor, settings: Mapping[str, Any], options: LiveOptions,
             *, log: Callable[[str], None] = print) -> LiveStats:
    """Run until the source ends, ``options.frames`` frames were shown, or the user quits."""
    current = dict(settings)
    preview: Preview | None = None
    recorder: VideoRecorder | None = None
    vcam: VirtualCamera | None = None
    stats = LiveStats()
    message, message_until = "", 0.0
    last_index = -1
    last_error = ""
    ok = False
    try:
        preview = Preview() if options.preview else None
        # a live source is recorded on its capture clock (the file lasts as long as the session); a file
        # processed as fast as possible (--no-pace) frame by frame
        recorder = VideoRecorder(options.output, source.width, source.height, source.fps or 30.0,
                                 timed=source.realtime) if options.output else None
        if options.virtual_camera:
            vcam = VirtualCamera(source.width, source.height, source.fps or 30.0)
            log(f"virtual camera: {vcam.device}")
        stats = LiveStats()  # count from here: not the time spent opening outputs
        frames = iter(source.frames())
        while (step := _next_swapped(frames, processor, preview))[0] is not None:
            (captured, out, process_ms), keys = step
            dropped = captured.index - last_index - 1 if last_index >= 0 else 0
            last_index = captured.index
            if processor.last_error and processor.last_error != last_error:
                log(f"swap: {processor.last_error}")  # once per distinct error; the overlay keeps showing it
            last_error = processor.last_error
            if message and time.perf_counter() > message_until:
                message = ""
            shown = out
            if preview is not None or (recorder is not None and not options.clean_output):
                shown = draw_overlay(out, overlay_lines(stats, current, processor, message,
                                                        with_help=preview is not None,
                                                        columns=overlay_columns(out.shape[1])))
            if recorder is not None:
                recorder.write(out if options.clean_output else shown, captured.captured_at)
            if vcam is not None:
                vcam.send(out)
            keys.append(preview.show(shown) if preview is not None else -1)
            stats.add(captured.captured_at, process_ms, dropped)
            if preview is not None and preview.closed:
                break
            quit_now = False
            for key in keys:  # every key pressed since the last frame, in order
                result = apply_key(key, current, enhancer=options.enhancer_key_model)
                if result.quit:
                    quit_now = True
                    break
                if result.changed:
                    try:
                        processor.update(result.settings)
                        current = result.settings
                        message = result.message
                    except FaceSwapError as exc:
                        message = f"{result.message}: {exc}"
                    log(message)
                    message_until = time.perf_counter() + MESSAGE_SECONDS
            if quit_now:
                break
            if options.frames and stats.frames >= options.frames:
                break
        ok = True
    except KeyboardInterrupt:
        ok = True  # Ctrl+C is the normal way to stop a headless run: keep what was recorded
    finally:
        end = stats.stop()
        source.close()
        if vcam is not None:
            vcam.close()
        if preview is not None:
            preview.close()
        try:
            if recorder is not None:
                stats.recorded_frames = recorder.close(keep=ok, end=end)
                stats.recorded_seconds = recorder.seconds
        finally:
            processor.close()
    return stats
