"""``obs-faceswap swap-image`` / ``swap-video`` end to end on real photos and a real ffmpeg video."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from obs_faceswap.cli import main
from obs_faceswap.media import probe_video, read_video_frames
from tests.standins import face as sf


@pytest.fixture(scope="module")
def m(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("cli_models")
    return SimpleNamespace(
        inswapper=sf.build_inswapper(d / "inswapper_128.onnx"),
        arcface=sf.build_arcface(d / "w600k_r50.onnx"),
        det=sf.build_scrfd(d / "det_10g.onnx", [sf.PlacedFace(sf.ASTRONAUT_BOX, sf.ASTRONAUT_KPS)], (512, 512)),
    )


def neural(m: SimpleNamespace, detector: str | None = None) -> list[str]:
    return ["--swapper-model", str(m.inswapper), "--embedder", str(m.arcface),
            "--detector", detector or str(m.det), "-q"]


def test_swap_image_with_neural_model_files(m: SimpleNamespace, astronaut_path: Path, astronaut_bgr: np.ndarray,
                                            tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    rc = main(["swap-image", "--source", str(astronaut_path), "--target", str(astronaut_path), "--output", str(out),
               "--color-method", "none", *neural(m)])
    assert rc == 0
    result = cv2.imread(str(out))
    assert result.shape == astronaut_bgr.shape
    changed = np.abs(result.astype(int) - astronaut_bgr).sum(2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 2000 and 120 < xs.min() and xs.max() < 330 and ys.max() < 250
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temp files left behind


def test_look_flags_reach_the_pipeline(m: SimpleNamespace, astronaut_path: Path, astronaut_bgr: np.ndarray,
                                       tmp_path: Path) -> None:
    full, half = tmp_path / "full.png", tmp_path / "half.png"
    base = ["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "--color-method", "none", *neural(m)]
    assert main([*base, "-o", str(full)]) == 0
    assert main([*base, "-o", str(half), "--blend", "50"]) == 0
    d_full = np.abs(cv2.imread(str(full)).astype(int) - astronaut_bgr).sum()
    d_half = np.abs(cv2.imread(str(half)).astype(int) - astronaut_bgr).sum()
    assert 0.35 < d_half / d_full < 0.65


def test_two_source_photos_give_another_identity(m: SimpleNamespace, astronaut_path: Path, astronaut_bgr: np.ndarray,
                                                 tmp_path: Path) -> None:
    second = tmp_path / "second.jpg"
    cv2.imwrite(str(second), cv2.GaussianBlur(astronaut_bgr, (0, 0), 6))
    one, two = tmp_path / "one.png", tmp_path / "two.png"
    base = ["swap-image", "-t", str(astronaut_path), "-s", str(astronaut_path), "--color-method", "none", *neural(m)]
    assert main([*base, "-o", str(one)]) == 0
    assert main([*base, "-s", str(second), "-o", str(two)]) == 0
    assert not np.array_equal(cv2.imread(str(one)), cv2.imread(str(two)))


def _face_boxes(img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x0, y0, x1, y1) found by the test itself, independently of the command's run."""
    from obs_faceswap.vision.embedded import EmbeddedDetector

    return [tuple(int(v) for v in f.bbox) for f in EmbeddedDetector(provider="cpu").detect(img)]  # type: ignore[misc]


def _grown(boxes: list[tuple[int, int, int, int]], shape: tuple[int, ...], share: float) -> np.ndarray:
    """Union of the boxes, each grown by ``share`` of its width on every side."""
    region = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        d = int(share * (x1 - x0))
        region[max(0, y0 - d):max(0, y1 + d), max(0, x0 - d):max(0, x1 + d)] = True
    return region


def test_group_photo_with_embedded_detector(m: SimpleNamespace, astronaut_path: Path, group_photo_path: Path,
                                            group_bgr: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "group.png"  # lossless: unchanged pixels stay byte-identical
    rc = main(["swap-image", "-s", str(astronaut_path), "-t", str(group_photo_path), "-o", str(out),
               "--face-selection", "all", *neural(m, detector="embedded")])
    assert rc == 0
    result = cv2.imread(str(out))
    assert result.shape == group_bgr.shape
    changed = (result != group_bgr).any(-1)
    boxes = _face_boxes(group_bgr)
    assert len(boxes) == 6
    for x0, y0, x1, y1 in boxes:  # every face was swapped ...
        assert changed[max(0, y0):y1, max(0, x0):x1].mean() > 0.8
    # ... and nothing else: the 128 px swap crop reaches ~60 % of a face's width beyond its box
    assert not changed[~_grown(boxes, group_bgr.shape, 0.65)].any()


def test_embedded_default_swapper(astronaut_path: Path, group_photo_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "embedded.png"
    assert main(["swap-image", "-s", str(astronaut_path), "-t", str(group_photo_path), "-o", str(out), "-q"]) == 0
    before = cv2.imread(str(group_photo_path))
    after = cv2.imread(str(out))
    assert after.shape == before.shape
    changed = (after != before).any(-1)
    assert (np.abs(after.astype(int) - before).max(axis=2) > 12).sum() > 500  # a face was replaced, no download
    boxes = _face_boxes(before)
    largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    x0, y0, x1, y1 = largest
    assert changed[y0:y1, x0:x1].mean() > 0.4  # the largest face (the default selection) ...
    assert not changed[~_grown([largest], before.shape, 0.25)].any()  # ... and nothing outside it


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_unwritable_output_exits_2_and_leaves_nothing(astronaut_path: Path, tmp_path: Path, where: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # tests run as root, where a chmod 0o500 folder is still writable: a path under a regular file
    # and /proc fail for every user
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    out = blocker / "sub" / "out.png" if where == "under_a_file" else Path("/proc/obs-faceswap-out.png")
    rc = main(["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"cannot write {out}" in err and "Traceback" not in err
    if where == "under_a_file":
        assert "file.txt is a file, not a folder" in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["file.txt"]
    assert blocker.read_text() == "not a folder"


def test_atomic_output_leaves_no_folder_it_made(tmp_path: Path) -> None:
    from obs_faceswap.media import OutputWriteError, atomic_output

    dest = tmp_path / "new" / "deeper" / "out.png"
    with pytest.raises(RuntimeError), atomic_output(dest) as tmp:  # the work fails half way
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []  # neither the part file nor the folders made for it
    (tmp_path / "taken").mkdir()
    with pytest.raises(OutputWriteError, match="a folder of that name is in the way"), \
            atomic_output(tmp_path / "taken") as tmp:
        tmp.write_bytes(b"done")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"] and list((tmp_path / "taken").iterdir()) == []


def test_atomic_output_removes_its_folders_when_the_temp_file_cannot_be_made(tmp_path: Path) -> None:
    """A 254-character file name is fine, its part file's name is too long: the folders made for it go."""
    import errno

    from obs_faceswap.media import OutputWriteError, atomic_output

    dest = tmp_path / "new" / "deeper" / ("x" * 250 + ".png")
    with pytest.raises(OutputWriteError) as info, atomic_output(dest) as tmp:
        tmp.write_bytes(b"never")
    assert isinstance(info.value.__context__, OSError) and info.value.__context__.errno == errno.ENAMETOOLONG
    assert list(tmp_path.iterdir()) == []


def test_source_without_face_fails_and_writes_nothing(m: SimpleNamespace, astronaut_path: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 400, 3), 128, np.uint8))
    out = tmp_path / "out.png"
    rc = main(["swap-image", "-s", str(blank), "-t", str(astronaut_path), "-o", str(out),
               *neural(m, detector="embedded")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no face" in err and "blank.png" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["blank.png"]


@pytest.mark.parametrize("case", ["unreadable_target", "missing_source", "wrong_model", "bad_suffix"])
def test_errors_exit_2_and_leave_nothing(m: SimpleNamespace, astronaut_path: Path, tmp_path: Path, case: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")
    out = tmp_path / ("out.txt" if case == "bad_suffix" else "out.png")
    args = ["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(out), *neural(m)]
    expect = {"unreadable_target": "junk.jpg", "missing_source": "not found", "wrong_model": "target",
              "bad_suffix": "image type"}[case]
    if case == "unreadable_target":
        args[4] = str(junk)
    elif case == "missing_source":
        args[2] = str(tmp_path / "nope.jpg")
    elif case == "wrong_model":
        args[args.index("--swapper-model") + 1] = str(m.arcface)
    assert main(args) == 2
    assert expect in capsys.readouterr().err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["junk.jpg"]


def test_help_lists_every_look_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["swap-image", "--help"])
    text = capsys.readouterr().out
    from obs_faceswap.settings import FACE_SETTINGS

    for s in FACE_SETTINGS.settings:
        if s.name not in ("enabled", "source_image", "swapper", "enhancer_every", "smoothing", "detect_every"):
            assert "--" + s.name.replace("_", "-") in text
    assert "--swapper-model" in text and "--provider" in text


def test_add_setting_flag_makes_any_face_setting_a_flag() -> None:
    """The generator other commands (live) reuse: a switch, a list, a slider under any flag name."""
    import argparse

    from obs_faceswap.commands.flags import add_setting_flag, flag_help
    from obs_faceswap.settings import FACE_SETTINGS

    by_name = {s.name: s for s in FACE_SETTINGS.settings}
    parser = argparse.ArgumentParser()
    add_setting_flag(parser, by_name["enabled"], "--swap")
    add_setting_flag(parser, by_name["detect_every"])
    add_setting_flag(parser, by_name["color_method"])
    args = parser.parse_args(["--no-swap", "--detect-every", "4", "--color-method", "rct"])
    assert (args.setting_enabled, args.setting_detect_every, args.setting_color_method) == (False, 4, "rct")
    assert parser.parse_args([]).setting_detect_every is None  # unset: the setting keeps its value
    with pytest.raises(SystemExit):
        parser.parse_args(["--color-method", "purple"])
    assert "(default: " in flag_help(by_name["blend"])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, astronaut_path: Path) -> Path:
    """1.2 s of the astronaut at 10 fps with a 440 Hz AAC audio track."""
    out = tmp_path_factory.mktemp("video") / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(astronaut_path),
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=1.2", "-t", "1.2", "-r", "10",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(out)], check=True)
    return out


def test_swap_video_keeps_fps_size_frames_and_audio(m: SimpleNamespace, astronaut_path: Path, clip: Path,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "swapped.mp4"
    rc = main(["swap-video", "-s", str(astronaut_path), "-i", str(clip), "-o", str(out), "--color-method", "none",
               *neural(m)])
    assert rc == 0
    src, dst = probe_video(clip), probe_video(out)
    assert (dst.width, dst.height, dst.fps) == (src.width, src.height, src.fps) == (512, 512, 10)
    assert dst.frames == src.frames == 12
    assert dst.has_audio and dst.audio_codec == "aac"
    a = next(iter(read_video_frames(clip)))
    b = next(iter(read_video_frames(out)))
    face = (slice(90, 160), slice(190, 260))
    corner = (slice(0, 60), slice(0, 60))
    assert np.abs(b[face].astype(int) - a[face]).mean() > 4 * max(1.0, np.abs(b[corner].astype(int) - a[corner]).mean())
    assert [p.name for p in tmp_path.iterdir()] == ["swapped.mp4"]


def test_swap_video_rejects_a_non_video(m: SimpleNamespace, astronaut_path: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.mp4"
    assert main(["swap-video", "-s", str(astronaut_path), "-i", str(astronaut_path.with_suffix(".txt")),
                 "-o", str(out), *neural(m)]) == 2
    assert "not found" in capsys.readouterr().err
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"\x00" * 1000)
    assert main(["swap-video", "-s", str(astronaut_path), "-i", str(bogus), "-o", str(out), *neural(m)]) == 2
    assert "no video stream" in capsys.readouterr().err
    assert not out.exists()


def test_model_ids_resolve_through_the_registry(m: SimpleNamespace, astronaut_path: Path, astronaut_bgr: np.ndarray,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """--swapper inswapper_128 with detector 'auto': det_10g and w600k_r50 come from the models dir."""
    import shutil

    models = tmp_path / "models"
    models.mkdir()
    entries = {"inswapper_128": ("inswapper", m.inswapper), "det_10g": ("scrfd", m.det),
               "w600k_r50": ("arcface", m.arcface)}
    toml = []
    for mid, (family, path) in entries.items():
        shutil.copy(path, models / f"{mid}.onnx")
        toml.append(f'[[model]]\nid = "{mid}"\nfamily = "{family}"\nfile = "{mid}.onnx"\n'
                    f'description = "stand-in"\nlicence = "test"\nredistributable = false\n')
    manifest = tmp_path / "manifest.toml"
    manifest.write_text("\n".join(toml))
    monkeypatch.setenv("OBS_FACESWAP_MANIFEST", str(manifest))
    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(models))
    out = tmp_path / "out.png"
    args = ["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(out), "-q"]
    assert main([*args, "--swapper", "inswapper_128"]) == 0
    assert np.abs(cv2.imread(str(out)).astype(int) - astronaut_bgr).sum() > 0
    out.unlink()
    (models / "inswapper_128.onnx").unlink()
    assert main([*args, "--swapper", "inswapper_128"]) == 2
    err = capsys.readouterr().err
    assert "inswapper_128 is not installed" in err and "obs-faceswap models" in err and not out.exists()


def test_bench_paste_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["bench", "paste", "--json", "--repeat", "3"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["frame"] == "1280x720"
    assert result["ours_ms"] > 0 and result["insightface_ms"] > 0
    assert result["speedup"] == pytest.approx(result["insightface_ms"] / result["ours_ms"], rel=0.05)


def test_target_without_face_fails_and_writes_nothing(m: SimpleNamespace, astronaut_path: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    blank = tmp_path / "wall.jpg"
    cv2.imwrite(str(blank), np.full((360, 480, 3), 200, np.uint8))
    out = tmp_path / "out.png"
    assert main(["swap-image", "-s", str(astronaut_path), "-t", str(blank), "-o", str(out),
                 *neural(m, detector="embedded")]) == 2
    assert "no face to swap in wall.jpg" in capsys.readouterr().err
    assert not out.exists()


def test_interrupted_video_leaves_nothing(clip: Path, tmp_path: Path) -> None:
    from obs_faceswap.media import transform_video

    seen = []

    def fail_on_third(frame: np.ndarray) -> np.ndarray:
        seen.append(1)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return frame

    out = tmp_path / "partial.mp4"
    with pytest.raises(KeyboardInterrupt):
        transform_video(clip, out, fail_on_third, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_swap_video_to_an_unwritable_path_exits_2_before_decoding(m: SimpleNamespace, astronaut_path: Path,
                                                                  clip: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("")
    out = blocker / "out.mp4"
    assert main(["swap-video", "-s", str(astronaut_path), "-i", str(clip), "-o", str(out), *neural(m)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}" in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


# ---------------------------------------------------------------- round 3: a user's walkthrough


def _not_onnx(kind: str, m: SimpleNamespace, astronaut_path: Path, folder: Path) -> Path:
    path = folder / {"random": "random.onnx", "truncated": "cut.onnx", "photo": "face.jpg"}[kind]
    if kind == "random":
        path.write_bytes(np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        path.write_bytes(Path(m.inswapper).read_bytes()[:20000])
    else:
        path.write_bytes(astronaut_path.read_bytes())
    return path


@pytest.mark.parametrize("kind", ["random", "truncated", "photo"])
@pytest.mark.parametrize("flag", ["--swapper-model", "--swapper"])
def test_a_file_that_is_not_onnx_gives_one_clear_line(m: SimpleNamespace, astronaut_path: Path, tmp_path: Path,
                                                      kind: str, flag: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = _not_onnx(kind, m, astronaut_path, tmp_path)
    out = tmp_path / "out.png"
    args = ["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(out), flag, str(bad),
            "--embedder", str(m.arcface), "--detector", str(m.det)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"cannot load model {bad}: it is corrupt or not an ONNX model" in err
    assert "export it to ONNX again" in err and "models download" not in err  # the user's own file
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_corrupt_swapper_file_in_swap_video(m: SimpleNamespace, astronaut_path: Path, clip: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = _not_onnx("truncated", m, astronaut_path, tmp_path)
    out = tmp_path / "out.mp4"
    assert main(["swap-video", "-s", str(astronaut_path), "-i", str(clip), "-o", str(out), "-q",
                 "--swapper-model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cut.onnx: it is corrupt or not an ONNX model" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.onnx"]


def test_outputs_get_the_usual_permissions_and_missing_folders(m: SimpleNamespace, astronaut_path: Path,
                                                               clip: Path, tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        image = tmp_path / "new" / "deeper" / "out.png"
        video = tmp_path / "videos" / "out.mp4"
        assert main(["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(image),
                     *neural(m)]) == 0
        assert main(["swap-video", "-s", str(astronaut_path), "-i", str(clip), "-o", str(video), *neural(m)]) == 0
    finally:
        os.umask(old)
    assert image.stat().st_mode & 0o777 == 0o644 and video.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert [p.name for p in image.parent.iterdir()] == ["out.png"] and [p.name for p in video.parent.iterdir()] \
        == ["out.mp4"]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Path:
    """~60 s of video (the short clip looped), far longer than any signal test waits."""
    out = tmp_path_factory.mktemp("long") / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "60", "-i", str(clip), "-c", "copy", str(out)],
                   check=True)
    return out


@pytest.mark.parametrize(("sent", "code", "said"), [
    ("SIGINT", 130, "interrupted"),  # Ctrl-C
    ("SIGTERM", 143, "stopped by SIGTERM"),  # a process manager
    ("SIGHUP", 129, "stopped by SIGHUP"),  # the terminal closed
    ("nohup", 143, "stopped by SIGTERM"),  # started with SIGHUP ignored: a hang-up does not stop it
])
def test_a_signal_during_swap_video_leaves_nothing(m: SimpleNamespace, astronaut_path: Path, long_clip: Path,
                                                   tmp_path: Path, sent: str, code: int, said: str) -> None:
    """A long swap-video stopped by a signal: exit 128 + the signal number, a clear line, no part file."""
    import os
    import signal
    import sys
    import time

    def child_signals() -> None:  # what a shell gives a foreground job, or nohup
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN if sent == "nohup" else signal.SIG_DFL)

    outdir = tmp_path / "out"
    outdir.mkdir()
    cmd = [sys.executable, "-m", "obs_faceswap", "swap-video", "-s", str(astronaut_path), "-i", str(long_clip),
           "-o", str(outdir / "swapped.mp4"), *neural(m)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
                            preexec_fn=child_signals)
    try:
        deadline = time.monotonic() + 60
        while not list(outdir.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        parts = [p.name for p in outdir.iterdir()]
        assert parts and parts[0].startswith(".swapped.") and parts[0].endswith(".part.mp4"), parts
        time.sleep(0.5)  # frames are flowing through the encoder now
        assert proc.poll() is None, "swap-video ended before it could be stopped"
        if sent == "nohup":
            os.kill(proc.pid, signal.SIGHUP)
            time.sleep(0.5)
            assert proc.poll() is None, "a hang-up stopped swap-video started under nohup"
            assert [p.name for p in outdir.iterdir()] == parts  # still writing
        os.kill(proc.pid, getattr(signal, "SIGTERM" if sent == "nohup" else sent))
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert said in err and "Traceback" not in err
    assert list(outdir.iterdir()) == []


def test_several_source_photos_say_how_they_were_used(m: SimpleNamespace, astronaut_path: Path,
                                                      astronaut_bgr: np.ndarray, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    small = tmp_path / "small.jpg"  # the same face, smaller: the embedded swapper prefers the larger one
    cv2.imwrite(str(small), cv2.resize(astronaut_bgr, (256, 256)))
    out = tmp_path / "out.png"
    both = f"{small};{astronaut_path}"  # one ';'-separated value, as OBS and live take it
    assert main(["swap-image", "-s", both, "-t", str(astronaut_path), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"face shape averaged over 2 of 2 source photos; skin from {astronaut_path.name}" in err and out.exists()
    assert main(["swap-image", "-s", str(small), "-s", str(astronaut_path), "-t", str(astronaut_path),
                 "-o", str(out), "--swapper-model", str(m.inswapper), "--embedder", str(m.arcface),
                 "--detector", str(m.det)]) == 0
    assert "identity averaged over 2 source photos" in capsys.readouterr().err
    assert main(["swap-image", "-s", f"{small};{tmp_path / 'gone.jpg'}", "-t", str(astronaut_path),
                 "-o", str(out)]) == 2
    assert f"source photo not found: {tmp_path / 'gone.jpg'}" in capsys.readouterr().err


def test_reference_mode_asks_for_the_reference_photo_first(astronaut_path: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(tmp_path / "no-models"))  # w600k_r50 not installed
    out = tmp_path / "out.png"
    assert main(["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(out),
                 "--face-selection", "reference"]) == 2
    err = capsys.readouterr().err
    assert "give --reference-image PHOTO" in err and "not installed" not in err and not out.exists()
    from obs_faceswap.vision.pipeline import FacePipeline

    # OBS/live: choosing 'reference' before a photo loads nothing and says what is missing
    pipe = FacePipeline.from_settings({"source_image": str(astronaut_path), "face_selection": "reference"})
    frame = cv2.imread(str(astronaut_path))
    pipe.process(frame)
    assert "needs a reference photo" in pipe.last_error


def test_cli_help_names_cli_values_and_errors_show_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["swap-image", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "With --face-selection index" in text and "With --face-selection reference" in text
    assert "By position" not in text and "Matching a reference photo" not in text
    assert "needs the ArcFace model" in text and "Default:" not in text and "(default: largest)" in text
    for bench in ("pipeline", "transport", "voice", "paste"):
        with pytest.raises(SystemExit):
            main(["bench", bench, "--help"])
        text = capsys.readouterr().out
        assert "``" not in text and "(default " not in text and "obs-faceswap bench" in text
    for argv, usage in ((["swap-image", "-s", "a.jpg", "-t", "b.jpg", "-o", "c.png", "--bogus"],
                         "usage: obs-faceswap swap-image"),
                        (["bench", "paste", "--bogus"], "usage: obs-faceswap bench paste")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and usage in err and "unrecognized arguments: --bogus" in err


def test_inputs_are_never_overwritten(m: SimpleNamespace, astronaut_path: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    target = tmp_path / "t1.png"
    shutil.copy(astronaut_path, target)
    before = target.read_bytes()
    assert main(["swap-image", "-s", str(astronaut_path), "-t", str(target), "-o", str(target), *neural(m)]) == 2
    assert "the output" in capsys.readouterr().err and target.read_bytes() == before
    assert main(["swap-image", "-s", str(target), "-t", str(astronaut_path), "-o", str(target), *neural(m)]) == 2
    assert "is the source photo" in capsys.readouterr().err and target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t1.png"]


def test_swap_video_without_any_face_or_of_a_still_image(astronaut_path: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    wall = tmp_path / "wall.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=160x120:d=0.5:r=10",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(wall)], check=True)
    out = tmp_path / "out.mp4"
    assert main(["swap-video", "-s", str(astronaut_path), "-i", str(wall), "-o", str(out), "-q"]) == 2
    assert "no face found in any frame of wall.mp4" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["wall.mp4"]
    assert main(["swap-video", "-s", str(astronaut_path), "-i", str(astronaut_path), "-o", str(out), "-q"]) == 2
    assert "astronaut.png is a still image, not a video (use swap-image)" in capsys.readouterr().err
    assert not out.exists()


def test_a_provider_that_is_not_here_is_named(m: SimpleNamespace, astronaut_path: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from obs_faceswap.models.session import available_providers

    out = tmp_path / "out.png"
    args = ["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(out),
            "--swapper-model", str(m.inswapper), "--embedder", str(m.arcface), "--detector", str(m.det)]
    assert main([*args, "--provider", "cpu"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main([*args, "--provider", "cuda"]) == 0
    err = capsys.readouterr().err
    if "CUDAExecutionProvider" in available_providers():
        assert "note: CUDA" not in err
    else:
        assert "note: CUDA is not available here; ran on CPU" in err
