"""Inputs a new user brings that used to break or lose data: phone photos and videos turned by
metadata, odd frame sizes, FLAC into MP4, truncated files, transparency, 24-bit audio, values
outside their range, folders and damaged photos (issue #19)."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from obs_faceswap.cli import main
from obs_faceswap.errors import ImageReadError
from obs_faceswap.media import probe_video, read_image, read_video_frames


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an APP1 Exif segment holding only the Orientation tag (what a phone writes)."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + app1 + jpeg[2:]


@pytest.fixture(scope="module")
def upright(astronaut_bgr: np.ndarray) -> np.ndarray:
    """The astronaut on a 768x512 landscape canvas (faces upright)."""
    return cv2.copyMakeBorder(astronaut_bgr, 0, 0, 128, 128, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def test_a_phone_photo_turned_by_exif_is_read_upright_and_swapped(upright: np.ndarray, astronaut_path: Path,
                                                                  tmp_path: Path) -> None:
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)  # the sensor's orientation
    ok, buf = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    photo = tmp_path / "phone.jpg"
    photo.write_bytes(_with_exif_orientation(buf.tobytes(), 6))  # 6: turn 90° clockwise to show
    img = read_image(photo)
    assert img.shape == upright.shape
    assert np.abs(img.astype(int) - upright).mean() < 4
    out = tmp_path / "out.jpg"
    assert main(["swap-image", "-s", str(astronaut_path), "-t", str(photo), "-o", str(out), "-q"]) == 0
    assert cv2.imread(str(out)).shape == upright.shape


@pytest.fixture(scope="module")
def rotated_clip(tmp_path_factory: pytest.TempPathFactory, upright: np.ndarray) -> Path:
    """A phone video: frames stored sideways (512x768) with a display rotation that turns them upright."""
    d = tmp_path_factory.mktemp("rotated")
    still = d / "upright.png"
    cv2.imwrite(str(still), upright)
    stored = d / "stored.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(still), "-t", "0.5", "-r", "10",
                    "-vf", "transpose=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    str(stored)], check=True)
    out = d / "phone.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(stored), "-c", "copy",
                    "-metadata:s:v:0", "rotate=270", str(out)], check=True)
    return out


def test_a_rotated_phone_video_is_decoded_upright_and_swapped(rotated_clip: Path, upright: np.ndarray,
                                                              astronaut_path: Path, tmp_path: Path) -> None:
    info = probe_video(rotated_clip)
    assert (info.width, info.height) == (768, 512)  # as shown, which is how ffmpeg decodes it
    first = next(iter(read_video_frames(rotated_clip, info)))  # live --input reads the same way
    assert first.shape == upright.shape and np.abs(first.astype(int) - upright).mean() < 8
    out = tmp_path / "out.mp4"
    assert main(["swap-video", "-s", str(astronaut_path), "-i", str(rotated_clip), "-o", str(out), "-q"]) == 0
    res = probe_video(out)
    assert (res.width, res.height, res.frames) == (768, 512, 5)


def test_odd_frame_size_444_and_flac_audio_into_mp4(astronaut_path: Path, tmp_path: Path) -> None:
    clip = tmp_path / "odd.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(astronaut_path), "-f", "lavfi",
                    "-i", "sine=frequency=440:duration=0.5", "-t", "0.5", "-r", "10", "-vf", "scale=641:481",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p", "-c:a", "flac",
                    str(clip)], check=True)
    out = tmp_path / "out.mp4"
    assert main(["swap-video", "-s", str(astronaut_path), "-i", str(clip), "-o", str(out), "-q"]) == 0
    res = probe_video(out)
    assert (res.width, res.height, res.frames) == (641, 481, 5)  # the exact size is kept
    assert res.has_audio and res.audio_codec == "aac"  # FLAC cannot go into MP4 here: re-encoded


def test_opus_audio_into_mov_is_re_encoded(astronaut_path: Path, tmp_path: Path) -> None:
    clip = tmp_path / "opus.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(astronaut_path), "-f", "lavfi",
                    "-i", "sine=frequency=440:duration=0.3", "-t", "0.3", "-r", "10", "-vf", "scale=256:256",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "libopus",
                    str(clip)], check=True)
    out = tmp_path / "out.mov"  # QuickTime cannot hold Opus: copying it failed with a BrokenPipeError
    assert main(["swap-video", "-s", str(astronaut_path), "-i", str(clip), "-o", str(out), "-q"]) == 0
    res = probe_video(out)
    assert res.has_audio and res.audio_codec == "aac" and res.frames == 3


def test_a_truncated_video_warns_how_many_frames_were_lost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = tmp_path / "full.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=160x120:r=30:d=3",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                    str(full)], check=True)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    frames = list(read_video_frames(cut))
    err = capsys.readouterr().err
    assert 0 < len(frames) < 90
    assert f"cut.mp4 ends early: {len(frames)} of 90 frames could be decoded" in err
    assert len(list(read_video_frames(full))) == 90
    assert "ends early" not in capsys.readouterr().err


def test_png_transparency_is_kept(group_photo_path: Path, astronaut_bgr: np.ndarray, tmp_path: Path) -> None:
    alpha = np.tile(np.linspace(0, 255, 512).astype(np.uint8), (512, 1))
    target = tmp_path / "cutout.png"
    cv2.imwrite(str(target), np.dstack([astronaut_bgr, alpha]))
    out = tmp_path / "out.png"
    assert main(["swap-image", "-s", str(group_photo_path), "-t", str(target), "-o", str(out), "-q"]) == 0
    res = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert res.shape == (512, 512, 4)
    assert np.array_equal(res[:, :, 3], alpha)
    assert np.abs(res[:, :, :3].astype(int) - astronaut_bgr).max() > 30  # and the face was swapped


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    t = np.arange(48000) / 48000.0
    return (0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_24_bit_audio_keeps_its_depth(tone: np.ndarray, tmp_path: Path) -> None:
    for suffix in (".flac", ".wav"):
        src = tmp_path / f"in{suffix}"
        sf.write(str(src), tone, 48000, subtype="PCM_24")
        out = tmp_path / f"out{suffix}"
        assert main(["voice", "-i", str(src), "-o", str(out), "--pitch", "2", "-q"]) == 0
        assert sf.info(str(out)).subtype == "PCM_24"


def test_a_truncated_wav_warns(tone: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = tmp_path / "full.wav"
    sf.write(str(full), tone, 48000, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:30000])
    out = tmp_path / "out.wav"
    assert main(["voice", "-i", str(cut), "-o", str(out), "-q"]) == 0
    assert "cut.wav ends early" in capsys.readouterr().err
    assert main(["voice", "-i", str(full), "-o", str(out), "-q"]) == 0
    assert "ends early" not in capsys.readouterr().err


def test_an_unwritable_audio_type_is_refused_before_reading(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    # the input does not even exist: the output type is checked first, before any work
    assert main(["voice", "-i", str(tmp_path / "ten_minutes.wav"), "-o", str(tmp_path / "out.mp3")]) == 2
    assert "cannot write .mp3 audio (out.mp3); use .wav, .flac or .ogg" in capsys.readouterr().err


@pytest.mark.parametrize(("command", "flag", "value", "shown"), [
    ("swap-image", "--blend", "150", "'blend': 150 is outside its range 0..100 %"),
    ("swap-image", "--face-index", "40", "'face_index': 40 is outside its range 0..31"),
    ("swap-image", "--mask-blur", "500", "'mask_blur': 500 is outside its range 0..100 %"),
    ("voice", "--pitch", "30", "'pitch': 30.0 is outside its range -24..24 st"),
])
def test_values_outside_their_range_are_refused(command: str, flag: str, value: str, shown: str,
                                                astronaut_path: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    io = (["-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(tmp_path / "o.png")]
          if command == "swap-image" else ["-i", str(tmp_path / "a.wav"), "-o", str(tmp_path / "o.wav")])
    assert main([command, *io, flag, value]) == 2
    assert shown in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_no_face_to_swap_says_how_many_faces_there_are(astronaut_path: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.png"
    assert main(["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(out),
                 "--face-selection", "index", "--face-index", "3"]) == 2
    assert ("1 face(s) found, none selected by face selection 'index' (--face-index 3; this photo has 0..0)"
            in capsys.readouterr().err)
    assert not out.exists()


def test_a_folder_or_a_truncated_jpeg_as_target(astronaut_path: Path, astronaut_bgr: np.ndarray, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.png"
    folder = tmp_path / "photos"
    folder.mkdir()
    assert main(["swap-image", "-s", str(astronaut_path), "-t", str(folder), "-o", str(out)]) == 2
    assert "photos is a folder, not an image" in capsys.readouterr().err
    ok, buf = cv2.imencode(".jpg", astronaut_bgr)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(buf.tobytes()[:600])
    assert main(["swap-image", "-s", str(astronaut_path), "-t", str(cut), "-o", str(out)]) == 2
    assert "the JPEG file is damaged or truncated" in capsys.readouterr().err
    assert not out.exists()


def test_live_input_of_a_rotated_video_or_a_turned_photo_is_upright(rotated_clip: Path, upright: np.ndarray,
                                                                    tmp_path: Path) -> None:
    from obs_faceswap.live.capture import FileSource

    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    ok, buf = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, 95])
    photo = tmp_path / "phone.jpg"
    photo.write_bytes(_with_exif_orientation(buf.tobytes(), 6))
    for path in (rotated_clip, photo):
        src = FileSource(str(path), pace=False)
        try:
            frames = [f.image for f in src.frames()]
        finally:
            src.close()
        assert (src.width, src.height) == (768, 512), path.name
        assert frames and all(f.shape == upright.shape for f in frames), path.name
        assert np.abs(frames[0].astype(int) - upright).mean() < 8, path.name


def test_a_huge_file_as_photo_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as f:
        f.truncate(3 * 2**30)  # sparse: costs no disk
    with pytest.raises(ImageReadError, match=r"huge.jpg is 3.0 GiB: too big for a photo"):
        read_image(huge)


def test_an_unwritable_audio_output_is_refused_before_reading(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # the input does not exist: an error about the output proves it was checked first
    assert main(["voice", "-i", str(tmp_path / "ten_minutes.wav"), "-o", str(blocker / "out.wav")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "is a file, not a folder" in err, err


def test_a_full_disk_during_swap_video_is_an_error_not_a_truncated_file(astronaut_path: Path, tmp_path: Path) -> None:
    """ffmpeg 5 exits 0 when the disk fills while it writes: the output must not appear as if complete.
    Run in a private mount namespace whose output folder is a 16 KiB tmpfs (nothing else is filled)."""
    import os
    import shutil
    import sys

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare and user namespaces for a private small file system")
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(astronaut_path), "-t", "1", "-r", "10",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)], check=True)
    small = tmp_path / "small"
    small.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", ""))
                                                       if p)}
    cmd = (f"mount -t tmpfs -o size=16k tmpfs {small} && {sys.executable} -m obs_faceswap swap-video "
           f"-s {astronaut_path} -i {clip} -o {small}/out.mp4 -q; echo rc=$?; ls -A {small}")
    res = subprocess.run(["unshare", "-rm", "sh", "-c", cmd], capture_output=True, text=True, timeout=120, env=env)
    assert "rc=2" in res.stdout, (res.stdout, res.stderr[-1500:])
    assert "No space left on device" in res.stderr and "Traceback" not in res.stderr, res.stderr[-1500:]
    assert res.stdout.strip().endswith("rc=2"), res.stdout  # nothing left in the folder
