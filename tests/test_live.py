"""``obs-faceswap live``: file, screen (real Xvfb) and camera sources, headless recording, keys, flags."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from obs_faceswap.commands.live import setting_dest
from obs_faceswap.errors import FaceSwapError
from obs_faceswap.live.controls import apply_key
from obs_faceswap.live.outputs import WINDOW
from obs_faceswap.live.stats import percentile
from obs_faceswap.settings import FACE_SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def require(*programs: str) -> None:
    """Skip when a program is missing, except under CI, which installs them all (.ci/run): there a
    missing one is a broken CI and fails instead of hiding the tests behind a skip."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        msg = f"needs {', '.join(missing)} installed"
        if os.environ.get("CI"):
            pytest.fail(f"{msg} (CI installs it: a missing one is a broken CI, not a skip)")
        pytest.skip(msg)


@pytest.fixture
def _ffmpeg() -> None:
    require("ffmpeg")


needs_ffmpeg = pytest.mark.usefixtures("_ffmpeg")


def live(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "obs_faceswap", "live", *args], capture_output=True, text=True,
                          env=env if env is not None else dict(os.environ), timeout=120, cwd=str(ROOT))


def read_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory: pytest.TempPathFactory, astronaut_path: Path) -> Path:
    """2 s of the astronaut photo at 10 fps, 320x320, H.264."""
    require("ffmpeg")
    out = tmp_path_factory.mktemp("live") / "astronaut.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(astronaut_path), "-vf",
                    "scale=320:320,format=yuv420p", "-r", "10", "-t", "2", "-c:v", "libx264", str(out)], check=True)
    return out


@needs_ffmpeg
def test_file_input_headless_records_swapped_frames(astronaut_video: Path, group_photo_path: Path,
                                                    tmp_path: Path) -> None:
    swapped, plain = tmp_path / "swapped.mp4", tmp_path / "plain.mp4"
    common = ["--source", str(group_photo_path), "--input", str(astronaut_video), "--no-preview",
              "--frames", "10", "--no-pace", "--clean-output", "--json"]
    res = live(*common, "--output", str(swapped))  # through the worker process, as in OBS
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["processor"] == "worker"
    assert summary["frames"] == 10 and summary["fps"] > 0 and summary["latency_p50_ms"] > 0
    assert f"wrote {swapped}" in res.stderr
    res = live(*common, "--no-swap", "--in-process", "--output", str(plain))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["processor"] == "in-process"
    direct = tmp_path / "direct.mp4"
    assert live(*common, "--in-process", "--output", str(direct)).returncode == 0

    a, b, c = read_frames(swapped), read_frames(plain), read_frames(direct)
    assert len(a) == len(b) == len(c) == 10 and a[0].shape == (320, 320, 3)
    # every frame came back from the worker swapped, exactly as the in-process pipeline does it
    for worker_frame, direct_frame in zip(a, c, strict=True):
        assert np.abs(worker_frame.astype(np.int16) - direct_frame).mean() < 1.0
    diff = np.abs(a[5].astype(np.int16) - b[5].astype(np.int16)).max(axis=2)
    changed = np.argwhere(diff > 12)
    assert len(changed) > 150, "the swap left the face unchanged"
    # what changed is the astronaut's face (upper middle of the picture), not the background
    ys, xs = changed[:, 0], changed[:, 1]
    assert np.median(ys) < 130 and 70 < np.median(xs) < 200
    assert np.abs(a[5][230:, 230:].astype(np.int16) - b[5][230:, 230:]).mean() < 2.0
    assert not list(tmp_path.glob(".*part*"))  # no temp file left behind


@needs_ffmpeg
def test_recording_has_the_overlay_by_default(astronaut_video: Path, group_photo_path: Path,
                                              tmp_path: Path) -> None:
    out, clean = tmp_path / "o.mkv", tmp_path / "c.mkv"
    base = ["--source", str(group_photo_path), "--input", str(astronaut_video), "--no-preview", "--frames", "3",
            "--no-pace", "--no-swap", "--in-process"]
    assert live(*base, "--output", str(out)).returncode == 0
    assert live(*base, "--output", str(clean), "--clean-output").returncode == 0
    with_overlay, without = read_frames(out)[1], read_frames(clean)[1]
    band = np.abs(with_overlay[:30, :200].astype(np.int16) - without[:30, :200]).mean()
    rest = np.abs(with_overlay[120:].astype(np.int16) - without[120:]).mean()
    assert band > 20 and rest < 2


@needs_ffmpeg
def test_a_source_photo_without_a_face_stops_with_the_reason(astronaut_video: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 240, 3), 128, np.uint8))
    out = tmp_path / "o.mp4"
    res = live("--source", str(blank), "--input", str(astronaut_video), "--no-preview", "--frames", "5",
               "--no-pace", "--output", str(out))
    assert res.returncode == 2 and "no face found" in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".*part*"))


def test_missing_camera_is_a_clear_error(group_photo_path: Path) -> None:
    res = live("-s", str(group_photo_path), "--camera", "9", "--no-preview", "--frames", "3")
    assert res.returncode == 2
    assert "camera 9 could not be opened" in res.stderr
    assert "Traceback" not in res.stderr


def test_preview_without_a_display_says_what_to_do(astronaut_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    res = live("-s", str(astronaut_path), "--input", str(astronaut_path), env=env)
    assert res.returncode == 2 and "no display for the preview window" in res.stderr and "--no-preview" in res.stderr


def test_missing_input_file_leaves_no_output(group_photo_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "o.mp4"
    res = live("-s", str(group_photo_path), "--input", str(tmp_path / "nope.mp4"), "--no-preview", "--output", str(out))
    assert res.returncode == 2 and "file not found" in res.stderr
    assert list(tmp_path.iterdir()) == []  # neither the file nor the folder made for it


@pytest.fixture
def xvfb_display(astronaut_path: Path) -> Iterator[str]:
    """A real X server (512x512, the size of the photo) with the astronaut photo as its root window."""
    require("Xvfb", "display", "import")
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "512x512x24", "-nolisten", "tcp", "-noreset"],
                            pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        display = f":{number}"
        subprocess.run(["display", "-window", "root", str(astronaut_path)], env={**os.environ, "DISPLAY": display},
                       timeout=30, capture_output=True)
        yield display
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@needs_ffmpeg
def test_screen_region_under_xvfb(xvfb_display: str, astronaut_bgr: np.ndarray, group_photo_path: Path,
                                  tmp_path: Path) -> None:
    out = tmp_path / "screen.mkv"
    env = {**os.environ, "DISPLAY": xvfb_display}
    res = live("-s", str(group_photo_path), "--screen", "100,40,240,160", "--no-preview", "--frames", "4",
               "--no-swap", "--in-process",
               "--clean-output",
               "--output", str(out), "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["source"] == "screen 240x160+100+40"
    frames = read_frames(out)
    assert len(frames) >= 1 and frames[0].shape == (160, 240, 3)
    expected = astronaut_bgr[40:200, 100:340]  # the root window shows the photo
    assert np.abs(frames[-1].astype(np.int16) - expected).mean() < 6.0

    outside = live("-s", str(group_photo_path), "--screen", "600,400,200,200", "--no-preview", "--frames", "1",
                   env=env)
    assert outside.returncode == 2 and "outside the screen" in outside.stderr


def _root_screenshot(display: str) -> np.ndarray:
    png = subprocess.run(["import", "-window", "root", "png:-"], env={**os.environ, "DISPLAY": display},
                         capture_output=True, timeout=30, check=True).stdout
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "undecodable screenshot"
    return img


def _haar_face(img: np.ndarray) -> tuple[int, int, int, int]:
    """The face (x0, y0, x1, y1), found independently of our pipeline."""
    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    faces = cascade.detectMultiScale(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 1.1, 5, minSize=(40, 40))
    assert len(faces) >= 1, "test video: no face found by the Haar cascade"
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return int(x), int(y), int(x + w), int(y + h)


def _find_frame(screen: np.ndarray, frame: np.ndarray, rows: slice) -> tuple[np.ndarray, float] | None:
    """Where ``frame`` is shown on ``screen``, at whatever scale the window draws it: found by the
    band ``rows`` of it (a part neither swapped nor under the overlay). Returns the shown frame
    resized back to ``frame``'s size, or None when it is not on the screen."""
    h, w = frame.shape[:2]
    best: tuple[float, float, tuple[int, int]] = (1.0, 1.0, (0, 0))
    for scale in np.arange(0.3, 1.01, 0.02):
        band = cv2.resize(frame[rows], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if band.shape[0] > screen.shape[0] or band.shape[1] > screen.shape[1]:
            continue
        got, _, loc, _ = cv2.minMaxLoc(cv2.matchTemplate(screen, band, cv2.TM_SQDIFF_NORMED))
        if got < best[0]:
            best = (got, float(scale), loc)
    score, scale, (bx, by) = best
    x0, y0 = bx, int(round(by - rows.start * scale))
    x1, y1 = int(round(x0 + w * scale)), int(round(y0 + h * scale))
    if score > 0.02 or y0 < 0 or y1 > screen.shape[0] or x1 > screen.shape[1]:
        return None
    return cv2.resize(screen[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_LINEAR), scale


def _rescaled(frame: np.ndarray, scale: float) -> np.ndarray:
    """``frame`` as it looks drawn at ``scale`` and brought back to its size (the same blur)."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _changed_share(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a.astype(np.int16) - b).max(axis=2) > 25).mean())


def _wait_for_window(proc: subprocess.Popen[str], display: str, name: str, timeout: float) -> str:
    """The id of the mapped window called ``name`` on ``display``, once there; fails at once when
    ``proc`` exits first, and after ``timeout`` seconds with what the process said."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"live exited ({proc.returncode}) before its window showed: "
                                 f"{proc.communicate()[1][-2000:]}")
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{name}$"],
                               env={**os.environ, "DISPLAY": display}, capture_output=True, text=True, timeout=30)
        if found.stdout.split():
            return found.stdout.split()[0]
        time.sleep(0.2)
    raise AssertionError(f"no {name!r} window was mapped on {display} within {timeout:.0f} s")


@needs_ffmpeg
def test_preview_window_shows_the_swapped_frame(xvfb_display: str, astronaut_video: Path,
                                                group_photo_path: Path) -> None:
    """The preview window is really on the X display and shows the swapped picture: found in a
    screenshot of the whole screen by the part of the frame the swap does not touch, with the face
    changed and the rest of the frame as it came in."""
    require("xdotool")
    frame = read_frames(astronaut_video)[0]
    x0, y0, x1, y1 = _haar_face(frame)
    below = slice(y1 + 20, frame.shape[0])  # below the face: never swapped, never under the overlay
    assert below.stop - below.start > 40
    env = {**os.environ, "DISPLAY": xvfb_display}
    proc = subprocess.Popen([sys.executable, "-m", "obs_faceswap", "live", "--source", str(group_photo_path),
                             "--input", str(astronaut_video), "--loop", "--in-process"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    shown, ref = None, frame
    looked: list[str] = []
    try:
        # ready: the preview window is mapped on the display (start-up, imports and the first swap take
        # a while on a loaded machine: generous deadlines, each for a condition, no sleep standing in)
        _wait_for_window(proc, xvfb_display, WINDOW, timeout=180)
        deadline = time.monotonic() + 120
        while shown is None and time.monotonic() < deadline and proc.poll() is None:
            found = _find_frame(_root_screenshot(xvfb_display), frame, below)
            if found is None:
                looked.append("window mapped, the frame not drawn in it yet")
                time.sleep(0.2)
                continue
            window, ref = found[0], _rescaled(frame, found[1])
            share = _changed_share(window[y0:y1, x0:x1], ref[y0:y1, x0:x1])
            looked.append(f"window at scale {found[1]:.2f}, {share:.0%} of the face changed")
            if share > 0.15:  # the swap is on the face
                shown = window
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert shown is not None, f"no preview window showing a swapped face appeared on the display: {looked[-5:]}"
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl+C: the normal way to stop
        try:
            out, err = proc.communicate(timeout=90)  # a clean stop, however loaded the machine
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += "\n(test: no clean stop within 90 s of Ctrl+C: killed)"
    assert proc.returncode == 0, err[-2000:]
    assert "keys: s swap" in out and "summary:" in out
    # beside the face, the window shows the frame as it came in (after the window's rescaling):
    # the face changed far more than the rest (measured: ~30 % of the face's pixels, ~9 % below it)
    face, rest = _changed_share(shown[y0:y1, x0:x1], ref[y0:y1, x0:x1]), _changed_share(shown[below], ref[below])
    assert face > 2 * rest, (face, rest)
    assert np.abs(shown[below].astype(np.int16) - ref[below]).mean() < 10.0


def test_every_face_setting_is_a_flag_and_reaches_the_settings() -> None:
    from obs_faceswap.cli import build_parser

    parser = build_parser()
    dests = {action.dest for action in parser._subparsers._group_actions[0].choices["live"]._actions}  # type: ignore[union-attr]
    for s in FACE_SETTINGS.settings:
        if s.name not in ("source_image", "swapper"):  # --source/-s, --swapper/--swapper-model
            assert setting_dest(s) in dests, s.name
    from obs_faceswap.commands.flags import face_options_from_args

    args = parser.parse_args(["live", "--source", "a.jpg;b.jpg", "--blend", "250", "--color-method", "mkl",
                              "--no-swap", "--occlusion-mask", "--reference-threshold", "0.5", "--detect-every", "3"])
    with pytest.raises(FaceSwapError, match="source photo not found: a.jpg"):  # checked like swap-image
        face_options_from_args(args)
    photo = str(Path(__file__).parent / "conftest.py")  # any existing file: only its presence is checked here
    args.source = [f"{photo};{photo}"]
    with pytest.raises(FaceSwapError, match="'blend': 250 is outside its range 0..100 %"):  # refused, not clamped
        face_options_from_args(args)
    args.setting_blend = 100
    options = face_options_from_args(args)
    assert options.source_image == f"{photo};{photo}" and options.blend == 1.0  # a fraction
    assert options.color_method == "mkl" and options.enabled is False and options.detect_every == 3
    assert options.occlusion_mask is True and options.reference_threshold == 0.5
    assert options.mask_blur == FACE_SETTINGS.by_name["mask_blur"].default / 100
    with pytest.raises(SystemExit):
        parser.parse_args(["live", "-s", photo, "--color-method", "nonsense"])


def test_live_takes_swap_image_face_flags(tmp_path: Path, group_photo_path: Path) -> None:
    """`live -s PHOTO --swapper-model FILE ...` parses into the very settings swap-image gets."""
    from obs_faceswap.cli import build_parser
    from obs_faceswap.commands.flags import face_options_from_args

    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    face = ["-s", str(group_photo_path), "--swapper-model", str(model), "--blend", "70", "--face-selection", "all",
            "--color-method", "rct", "--provider", "cpu"]
    parser = build_parser()
    a = face_options_from_args(parser.parse_args(["live", *face]))
    b = face_options_from_args(parser.parse_args(["swap-image", "-t", "x.jpg", "-o", "y.png", *face]))
    assert a == b and a.swapper == str(model) and a.blend == 0.7
    both = parser.parse_args(["live", *face, "--swapper", "embedded"])
    with pytest.raises(FaceSwapError, match="either --swapper or --swapper-model"):
        face_options_from_args(both)


@needs_ffmpeg
def test_live_with_a_swapper_model_file_swaps_like_swap_image(astronaut_path: Path, astronaut_bgr: np.ndarray,
                                                              tmp_path: Path) -> None:
    """The user's command `live -s a.jpg --swapper-model m.onnx ...` runs the neural swapper and gives
    the picture swap-image gives for the same flags (stand-in models with the real signatures)."""
    from tests.standins import face as sf

    det = sf.build_scrfd(tmp_path / "det.onnx", [sf.PlacedFace(sf.ASTRONAUT_BOX, sf.ASTRONAUT_KPS)], (512, 512))
    flags = ["-s", str(astronaut_path), "--swapper-model", str(sf.build_inswapper(tmp_path / "inswapper_128.onnx")),
             "--embedder", str(sf.build_arcface(tmp_path / "w600k_r50.onnx")), "--detector", str(det),
             "--color-method", "none"]
    image = tmp_path / "swap_image.png"
    res = subprocess.run([sys.executable, "-m", "obs_faceswap", "swap-image", *flags, "-t", str(astronaut_path),
                          "-o", str(image), "-q"], capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    assert res.returncode == 0, res.stderr
    recorded = tmp_path / "live.mkv"
    res = live(*flags, "--input", str(astronaut_path), "--loop", "--no-pace", "--no-preview", "--frames", "2",
               "--in-process", "--clean-output", "--output", str(recorded))
    assert res.returncode == 0, res.stderr
    frames, expected = read_frames(recorded), cv2.imread(str(image))
    assert len(frames) == 2
    face = np.abs(expected.astype(np.int16) - astronaut_bgr).max(axis=2) > 30  # where swap-image changed it
    assert face.sum() > 1000
    got = frames[-1].astype(np.int16)
    # there the live frame shows swap-image's face (H.264 aside), not the original one
    to_swapped, to_original = np.abs(got - expected)[face].mean(), np.abs(got - astronaut_bgr)[face].mean()
    assert to_swapped < 0.25 * to_original, (to_swapped, to_original)


# ------------------------------------------------------------------ --output checked before anything starts


def _one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("obs-faceswap: error: "), res.stderr
    assert "live:" not in res.stdout  # neither capture nor worker was started
    return lines[0]


def _swap_video_error(output: str, *args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "obs_faceswap", "swap-video", *args, "--output", output],
                         capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert res.returncode == 2, res.stderr
    return res.stderr.strip().splitlines()[-1]


@needs_ffmpeg
def test_output_under_a_file_fails_at_once_like_swap_video(astronaut_video: Path, group_photo_path: Path,
                                                           tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    out = str(afile / "x.mp4")
    line = _one_line_error(live("--source", str(group_photo_path), "--input", str(astronaut_video), "--no-preview",
                                "--frames", "3", "--output", out))
    assert "afile is a file, not a folder" in line
    assert line == _swap_video_error(out, "-s", str(group_photo_path), "-i", str(astronaut_video))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"] and afile.read_text() == "not a folder"


@needs_ffmpeg
def test_output_type_is_refused_at_once_like_swap_video(astronaut_video: Path, group_photo_path: Path,
                                                        tmp_path: Path) -> None:
    out = str(tmp_path / "x.gif")
    line = _one_line_error(live("--source", str(group_photo_path), "--input", str(astronaut_video), "--no-preview",
                                "--frames", "3", "--output", out))
    assert "unknown video type; use one of .mp4" in line
    assert line == _swap_video_error(out, "-s", str(group_photo_path), "-i", str(astronaut_video))
    # an input file as the output: refused, the input untouched
    before = astronaut_video.read_bytes()
    line = _one_line_error(live("-s", str(group_photo_path), "--input", str(astronaut_video), "--no-preview",
                                "--output", str(astronaut_video)))
    assert "is the input video" in line and astronaut_video.read_bytes() == before
    assert list(tmp_path.iterdir()) == []


def test_a_failed_start_leaves_no_output_and_no_folder(group_photo_path: Path, tmp_path: Path) -> None:
    """The output's missing folders are made before the capture starts (to fail early), and
    removed again when the session cannot start (here: no such camera)."""
    out = tmp_path / "new" / "deeper" / "x.mp4"
    line = _one_line_error(live("-s", str(group_photo_path), "--camera", "9", "--no-preview", "--output", str(out)))
    assert "camera 9 could not be opened" in line
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ recordings last as long as the session


def _duration(path: Path) -> float:
    res = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                          str(path)], capture_output=True, text=True, check=True)
    return float(res.stdout.strip())


def _timed_run(*args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
    t = time.monotonic()
    res = live(*args, "--json", env=env)
    wall = time.monotonic() - t
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout), wall


@needs_ffmpeg
def test_recorder_places_frames_at_their_capture_time(tmp_path: Path) -> None:
    """Frames captured at 0, 0.1, 0.5, 0.52 and 1.0 s, the session ending at 2.0 s, recorded at 10 fps:
    2 s of video where each moment shows the newest frame captured by then (gaps filled with the
    frame before, the 0.5 s frame replaced by the one 20 ms later in the same slot, the last held)."""
    from obs_faceswap.live.outputs import VideoRecorder

    out = tmp_path / "timed.mkv"
    rec = VideoRecorder(out, 64, 48, 10.0)
    t0 = 1000.0
    for at, level in ((0.0, 20), (0.1, 60), (0.5, 100), (0.52, 140), (1.0, 180)):
        rec.write(np.full((48, 64, 3), level, np.uint8), t0 + at)
    assert rec.close(end=t0 + 2.0) == 20 and rec.seconds == pytest.approx(2.0)
    levels = [int(round(float(f.mean()))) for f in read_frames(out)]
    expected = [20] + [60] * 4 + [140] * 5 + [180] * 10
    assert len(levels) == 20 and all(abs(a - b) <= 3 for a, b in zip(levels, expected, strict=True)), levels
    assert _duration(out) == pytest.approx(2.0, abs=0.15)
    # a file processed as fast as possible (--no-pace) is recorded frame by frame
    plain = VideoRecorder(tmp_path / "plain.mkv", 64, 48, 10.0, timed=False)
    for at, level in ((0.0, 20), (0.5, 100), (5.0, 180)):
        plain.write(np.full((48, 64, 3), level, np.uint8), t0 + at)
    assert plain.close(end=t0 + 9.0) == 3


@pytest.fixture(scope="module")
def fast_video(tmp_path_factory: pytest.TempPathFactory, astronaut_path: Path) -> Path:
    """1 s of the astronaut at 100 fps: faster than any swap here, so frames are dropped."""
    require("ffmpeg")
    out = tmp_path_factory.mktemp("live") / "fast.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(astronaut_path), "-vf",
                    "scale=320:320,format=yuv420p", "-r", "100", "-t", "1", "-c:v", "libx264", str(out)], check=True)
    return out


@needs_ffmpeg
def test_recording_of_a_looping_file_lasts_as_long_as_the_session(fast_video: Path, group_photo_path: Path,
                                                                 tmp_path: Path) -> None:
    """The user's `live --input clip.mp4 --loop --output lc.mp4`, through the worker, of a clip faster
    than the swap: frames are dropped, and the file still lasts as long as the session (it used to
    be processed frames / the clip's fps long, i.e. it played too fast)."""
    out = tmp_path / "made" / "lc.mp4"  # missing folders are created
    summary, wall = _timed_run("--source", str(group_photo_path), "--input", str(fast_video), "--loop",
                               "--no-preview", "--frames", "40", "--output", str(out))
    assert summary["frames"] == 40 and summary["processor"] == "worker" and summary["dropped"] > 0, summary
    length = _duration(out)
    assert length == pytest.approx(summary["seconds"], rel=0.25), (length, summary)
    assert length <= wall
    assert summary["recorded_seconds"] == pytest.approx(length, abs=0.15)


@needs_ffmpeg
def test_recording_of_a_screen_lasts_as_long_as_the_session(xvfb_display: str, group_photo_path: Path,
                                                            tmp_path: Path) -> None:
    """A screen captured faster than the swap can go (240 fps asked): most frames are dropped and
    the recording fills them, at its real-time pace."""
    out = tmp_path / "screen.mp4"
    summary, wall = _timed_run("-s", str(group_photo_path), "--screen", "0,0,512,512", "--fps", "240",
                               "--in-process", "--no-preview", "--frames", "20", "--output", str(out),
                               env={**os.environ, "DISPLAY": xvfb_display})
    assert summary["frames"] == 20 and summary["dropped"] > 0, summary
    length = _duration(out)
    assert length == pytest.approx(summary["seconds"], rel=0.25), (length, summary)
    assert length <= wall


def test_preview_keys_change_the_settings() -> None:
    s = FACE_SETTINGS.defaults()
    r = apply_key(ord("s"), s)
    assert r.settings["enabled"] is False and r.message == "swap off"
    assert apply_key(ord("e"), s, enhancer="codeformer").settings["enhancer"] == "codeformer"
    assert apply_key(ord("e"), {**s, "enhancer": "gpen_512"}).settings["enhancer"] == "none"
    assert apply_key(ord("m"), s).settings["occlusion_mask"] is True
    assert apply_key(ord("-"), s).settings["blend"] == 90
    assert apply_key(ord("+"), s).settings["blend"] == 100  # already at the top
    assert apply_key(ord("q"), s).quit and apply_key(27, s).quit
    assert not apply_key(-1, s).changed and not apply_key(ord("x"), s).changed
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
