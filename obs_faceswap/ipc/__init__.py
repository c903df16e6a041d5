"""Worker client and shared-memory transport (standard library only: OBS' embedded Python imports it).

Quick use (OBS filters, live mode)::

    from obs_faceswap.ipc import WorkerClient

    client = WorkerClient("/path/to/venv/bin/python", log=print).start()   # returns at once
    video = client.open_video(settings, processor="face")    # settings: FACE_SETTINGS names
    # per frame (never blocks, never raises for a missing worker):
    video.submit(ptr_or_buffer, width, height, stride, "BGRA", timestamp_ns)   # -> bool
    # (YUV from OBS async frames: color_matrix=list(frame.color_matrix): BT.601/709, full/limited range)
    view = video.result()          # FrameView | None  (None: draw your input unchanged)
    if view is not None and view.is_new:
        upload(view.address, view.stride)            # or view.addresses / view.strides per plane,
                                                    # view.copy_to(dst_ptrs, dst_linesizes), view.planes
    video.update({"blend": 50})    # live, partial; video.stats (dict), video.status_text (one line)
    audio = client.open_audio(48000, 2, voice_settings, processor="voice")
    audio.push([ptr_l, ptr_r], frames, timestamp_ns)      # -> bool (False: not queued)
    got = audio.pull(frames, out=[dst_l, dst_r])           # -> (None, ts_ns) | None on underrun
    audio.latency_ms                                       # fixed delay of the processed stream
    video.close(); audio.close(); client.stop()

``WorkerClient(python, *, log=None, env=None, startup_timeout=30, heartbeat_interval=0.5,
hang_timeout=10, max_result_age=0.5, log_path=None)``:

* ``.start()`` starts the worker (``python -m obs_faceswap.worker``) from a background thread;
  ``.running`` is True once it said hello; ``.status`` explains otherwise ("starting worker",
  "worker exited with code -9; restarting in 0.2 s", protocol mismatch ...). ``.wait_ready(t)``
  blocks (live mode / tests only). ``.stop()`` closes all channels, shuts the worker down and
  removes every segment and the socket. The supervisor restarts a crashed or hung worker with
  back-off (0.2 s doubling to 10 s) and re-opens every channel on the new one.
* ``.open_video(settings, processor='face'|'noop'|'invert'|'standin', slots=5, capacity=0)`` ->
  ``VideoChannel``: ``.submit(data, width, height, stride=None, fmt='BGRA', timestamp=0,
  color_matrix=None) -> bool``
  where ``data`` is an address, a bytes-like object, or one per plane, ``stride`` bytes per row
  (one int, or one per plane = OBS ``linesize``), ``fmt`` one of BGRA RGBA BGRX BGR I420 NV12 YUY2;
  ``.result() -> FrameView | None`` (newest result of the same geometry made from an input at
  most ``max_age_s`` old; ``is_new``; valid until the next call);
  ``.wait_result(timeout, min_seq=0)`` (blocking, for the live mode: pass ``.submitted_seq`` to
  wait for the result of the frame just submitted; no age limit, so the first frame is answered
  however long the models take to load); ``.release()``;
  ``.update(settings)`` (a change the worker cannot apply keeps the last good settings running:
  ``last_error`` "kept previous settings (key): ..."; pass-through only when there never were
  good ones, ``stats['passing_through']``); ``.stats``; ``.status_text``; ``.last_error`` (worker
  side) / ``.client_error`` (frame refused); ``.close()``. A frame larger than the segment
  reallocates it transparently. The worker writes each result over its input in the same slot
  (one pool of slots), so the view's ``address`` goes straight to ``gs_texture_set_image``.
* ``FrameView``: ``seq, timestamp, width, height, fmt, format_name, stride, strides, offsets,
  nbytes, address, addresses, planes (memoryviews), is_new, copy_to(dst, dst_strides), tobytes()``.
* ``.open_audio(sample_rate, channels, settings, processor='voice'|'noop', capacity_ms=2000)`` ->
  ``AudioChannel``: ``.push(planes, frames, timestamp=0) -> bool``, ``.pull(frames, out=None)
  -> (list[bytes] | None, ts | None) | None``, ``.available()``, ``.latency_ms``, ``.update``,
  ``.stats``, ``.status_text``, ``.close()``. Output frames = input frames, delayed by a fixed
  ``latency_ms``; on underrun output your dry input delayed as much.

Modules: ``shm`` (segments), ``frames`` (video slots), ``audio`` (rings), ``control`` (messages),
``wake`` (FIFO wake-ups), ``supervisor`` (process), ``client_channels`` (``VideoChannel``, ``AudioChannel``),
``client`` (``WorkerClient``; re-exports the channels). Protocol details: docs/worker.md.
"""

from obs_faceswap.ipc.client import AudioChannel, VideoChannel, WorkerClient
from obs_faceswap.ipc.frames import BGR, BGRA, BGRX, FORMATS, I420, NV12, RGBA, YUY2, FrameView

__all__ = ["AudioChannel", "BGR", "BGRA", "BGRX", "FORMATS", "FrameView", "I420", "NV12", "RGBA",
           "VideoChannel", "WorkerClient", "YUY2"]
