"""Short clips made with ffmpeg for the batched video pipeline (embedded swapper: no downloads)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_faceswap.media import read_video_frames
from obs_faceswap.video.probe import probe_stream

MOVE = "scale=640:640,crop=480:360:x='60+30*sin(t*2)':y='40+10*t'"  # the face moves: tracking matters


def make_clip(photo: Path, out: Path, *, seconds: float, fps: int = 10, gop: int = 8, extra: list[str] | None = None,
              vf: str = MOVE) -> Path:
    """The astronaut moving, ``fps`` frames/s, a keyframe every ``gop`` frames, B-frames, 440 Hz AAC."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(photo),
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-t", str(seconds), "-r", str(fps),
                    "-vf", vf, "-c:v", "libx264", "-preset", "fast", "-g", str(gop), "-pix_fmt", "yuv420p",
                    *(extra or []), "-c:a", "aac", "-shortest", str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def source_photo(tmp_path_factory: pytest.TempPathFactory, group_bgr: np.ndarray) -> Path:
    """Another person's face: a crop of insightface's group photo."""
    p = tmp_path_factory.mktemp("video_src") / "source.png"
    cv2.imwrite(str(p), np.ascontiguousarray(group_bgr[250:450, 430:620]))
    return p


@pytest.fixture(scope="session")
def moving_clip(tmp_path_factory: pytest.TempPathFactory, astronaut_path: Path) -> Path:
    """2.4 s, 24 frames, keyframes every 8 frames (segments of 6 frames cut between keyframes too)."""
    return make_clip(astronaut_path, tmp_path_factory.mktemp("video_clip") / "moving.mp4", seconds=2.4)


# lossless encoding: what the tests compare is the swap, not the encoder
EXACT = ["--crf", "0", "--segment-frames", "6", "--color-method", "none", "-q"]


@pytest.fixture(scope="session")
def jobs1(tmp_path_factory: pytest.TempPathFactory, source_photo: Path, moving_clip: Path) -> Path:
    """``moving_clip`` swapped by ``--jobs 1``: the reference every other way of running must match."""
    from obs_faceswap.cli import main

    out = tmp_path_factory.mktemp("jobs1") / "out.mp4"
    assert main(["swap-video", "-s", str(source_photo), "-i", str(moving_clip), "-o", str(out), "--jobs", "1",
                 *EXACT]) == 0
    return out


def frames(path: Path) -> np.ndarray:
    return np.stack(list(read_video_frames(path)))


def audio_pcm(path: Path) -> np.ndarray:
    res = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-"],
                         capture_output=True, check=True)
    return np.frombuffer(res.stdout, np.int16)


def assert_same_timing_and_audio(src: Path, out: Path) -> None:
    """Frame count, every frame's timestamp, and the audio samples are the input's."""
    a, b = probe_stream(src), probe_stream(out)
    assert b.frames == a.frames
    assert np.allclose(b.times, a.times, atol=1e-3), (a.times, b.times)
    assert b.info.fps == a.info.fps and (b.info.width, b.info.height) == (a.info.width, a.info.height)
    assert b.info.has_audio and b.info.audio_codec == a.info.audio_codec
    pa, pb = audio_pcm(src), audio_pcm(out)
    assert abs(len(pa) - len(pb)) <= 2048, (len(pa), len(pb))  # -shortest may trim the last AAC frames
    n = min(len(pa), len(pb))
    assert np.array_equal(pa[:n], pb[:n])  # copied, not re-encoded
