"""The batched video file pipeline behind ``swap-video`` (docs/video.md).

``probe`` (frames, keyframes, rotation, colours) -> ``segments`` (the cut plan, the same for any
number of workers) -> ``worker`` (one segment: decode, detect/track, swap, encode) run by
``local`` (this process or N processes) or ``ray_runner`` (Ray actors, the optional ``ray`` extra)
-> ``job`` (join without re-encoding, audio muxed once) ; ``command`` holds the CLI side and
``codec`` the ffmpeg command lines.
"""
