"""Face photo or video + speech -> a talking-face video file with the speech muxed in.

Frame ``i`` is shown at ``i / fps`` and is drawn from the speech around that instant (the
embedded path's ``mouth_track``, Wav2Lip's mel chunk starting at ``i * 80 / fps``); the audio
starts at time 0 of the file, so picture and sound line up. The video lasts as long as the
speech: a photo is repeated, a shorter video loops (as Wav2Lip does), a longer one is cut.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from obs_faceswap.errors import FaceSwapError, NoFaceError
from obs_faceswap.lipsync.speech import Speech, write_speech
from obs_faceswap.vision.types import Face, Frame

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v", ".webm")
DEFAULT_FPS = 25.0
MAX_SECONDS = 600.0


def _face_frames(path: Path, still: bool) -> Iterator[Frame]:
    """The face input's frames, forever (a photo repeats, a video loops)."""
    from obs_faceswap.media import read_image, read_video_frames

    if still:
        img = read_image(path)
        while True:
            yield img
    while True:
        got = False
        for frame in read_video_frames(path):
            got = True
            yield frame
        if not got:
            raise FaceSwapError(f"{path.name} has no frames")


def _prepared(frames: Iterator[Frame], prepare: Callable[[Frame], Frame], still: bool) -> Iterator[Frame]:
    """``prepare`` applied to each frame (to a photo once: its frames are all the same)."""
    try:
        if still:
            done = prepare(next(frames))
            while True:
                yield done
        for frame in frames:
            yield prepare(frame)
    finally:
        frames.close()


def lipsync_file(face: str | os.PathLike[str], speech: Speech, output: str | os.PathLike[str], *,
                 model: str = "embedded", fps: float | None = None, provider: str = "auto", crf: int = 18,
                 progress: bool = True, prepare: Callable[[Frame], Frame] | None = None) -> dict[str, Any]:
    """Write ``output``: the face in ``face`` (photo or video) speaking ``speech``. Returns a summary.

    ``model``: ``embedded`` (no download) or a Wav2Lip-family model id / ``.onnx`` path.
    ``prepare`` runs on every input frame first (once for a photo), e.g. a face swap, so the
    swapped face is the one that speaks. Raises ``NoFaceError`` when the face input has no face;
    nothing is written then.
    """
    from scipy.spatial import QhullError
    from tqdm import tqdm

    from obs_faceswap.lipsync.embedded import EmbeddedLipSync
    from obs_faceswap.media import IMAGE_SUFFIXES, encode_video, probe_video

    src, out = Path(face), Path(output)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise FaceSwapError(f"output {out.name}: unknown video type; use one of {', '.join(VIDEO_SUFFIXES)}")
    if len(speech.audio) == 0:
        raise FaceSwapError("the speech is empty: nothing to lip-sync")
    if speech.seconds > MAX_SECONDS:
        raise FaceSwapError(f"the speech lasts {speech.seconds:.0f} s; at most {MAX_SECONDS:.0f} s per file")
    info = probe_video(src)
    still = info.still or src.suffix.lower() in IMAGE_SUFFIXES
    video_fps = float(info.fps) if not still and info.fps > 0 else 0.0
    rate = float(video_fps or fps or DEFAULT_FPS)  # a video keeps its own frame rate
    n = max(1, math.ceil(speech.seconds * rate - 1e-9))
    sync = EmbeddedLipSync()
    drive: Any
    if model == "embedded":
        from obs_faceswap.lipsync.motion import mouth_track

        drive = mouth_track(speech, rate, n)
        engine: Any = sync
    else:
        from obs_faceswap.lipsync.mel import mel_chunks, speech_mel
        from obs_faceswap.lipsync.wav2lip import Wav2LipSync

        engine = Wav2LipSync.load(model, provider)
        drive = mel_chunks(speech_mel(speech), rate, n)
    frames = _face_frames(src, still)
    if prepare is not None:
        frames = _prepared(frames, prepare, still)
    first = next(frames)
    face0 = sync.face(first)
    if face0 is None and still:
        raise NoFaceError(f"no face found in {src.name}: use a photo where one face is clearly visible, "
                          "front-facing and not too small")
    stats = {"frames": n, "with_face": 0}
    rig = engine.rig(first, face0) if (still and model == "embedded" and face0 is not None) else None

    def render_all() -> Iterator[Frame]:
        previous: Face | None = face0
        frame = first
        for i in range(n):
            if i:
                frame = next(frames)
                if not still:
                    previous = sync.face(frame, previous)
            if previous is None:
                yield frame
                continue
            try:
                if model == "embedded":
                    out = sync.render(frame, rig or sync.rig(frame, previous), drive[i])
                else:
                    out = engine.render(frame, previous, drive[i])
            except (ValueError, QhullError):  # a face cut by the frame edge: too little of it to move
                yield frame
                continue
            stats["with_face"] += 1
            yield out

    def some_face() -> None:
        if not stats["with_face"]:
            raise NoFaceError(f"no face found in any frame of {src.name}; nothing written")

    h, w = first.shape[:2]
    with tempfile.TemporaryDirectory(prefix="obs-faceswap-lipsync-") as d:
        wav = Path(d) / "speech.wav"
        write_speech(wav, speech)
        bar = tqdm(render_all(), total=n, unit="frame", disable=not progress, desc=out.name)
        try:
            encode_video(bar, out, rate, (w, h), audio=wav, crf=crf, before_commit=some_face)
        finally:
            bar.close()
            frames.close()
    return {"output": str(out), "frames": n, "fps": rate, "seconds": round(speech.seconds, 3),
            "frames_with_face": stats["with_face"], "model": model, "width": w, "height": h}
