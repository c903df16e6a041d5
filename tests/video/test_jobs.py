"""The batched pipeline on this machine: ``--jobs N`` gives ``--jobs 1``'s frames, colours and
rotation kept, many inputs with resume and a summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.cli import main
from obs_faceswap.video.probe import probe_stream
from tests.video.conftest import EXACT, assert_same_timing_and_audio, frames, make_clip


def test_jobs_2_writes_the_frames_of_jobs_1(jobs1: Path, source_photo: Path, moving_clip: Path,
                                            tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert main(["swap-video", "-s", str(source_photo), "-i", str(moving_clip), "-o", str(out), "--jobs", "2",
                 *EXACT]) == 0
    one, two, src = frames(jobs1), frames(out), frames(moving_clip)
    assert one.shape == two.shape == src.shape
    assert np.array_equal(one, two)
    # the face was swapped in every frame, the background left alone
    changed = np.abs(one.astype(int) - src).mean(axis=(1, 2, 3))
    assert (changed > 1.0).all(), changed
    assert np.abs(one[:, :40, :40].astype(int) - src[:, :40, :40]).mean() < 1.0
    assert_same_timing_and_audio(moving_clip, out)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no segments or part files left


def test_colour_range_matrix_and_rotation_are_kept(astronaut_path: Path, source_photo: Path, tmp_path: Path) -> None:
    # a phone held upright: the sensor stores the frames sideways and the display rotation turns them back
    clip = make_clip(astronaut_path, tmp_path / "phone.mp4", seconds=1.2,
                     vf="scale=480:360:out_range=full:out_color_matrix=bt709,format=yuvj420p,transpose=2",
                     extra=["-color_range", "pc", "-colorspace", "bt709", "-color_primaries", "bt709",
                            "-color_trc", "bt709"])
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-metadata:s:v:0", "rotate=270",
                    str(tmp_path / "phone_rotated.mp4")], check=True)
    clip = tmp_path / "phone_rotated.mp4"
    src = probe_stream(clip)
    assert (src.rotation, src.color_range, src.color_space) == (270, "pc", "bt709")  # what a phone writes
    assert (src.info.width, src.info.height) == (480, 360)  # the size as shown
    out = tmp_path / "out.mp4"
    assert main(["swap-video", "-s", str(source_photo), "-i", str(clip), "-o", str(out), "--jobs", "1", "-q"]) == 0
    got = probe_stream(out)
    # the face was found upright and swapped; the output is stored upright, so it needs no display rotation
    assert (got.rotation, got.color_range, got.color_space, got.color_primaries, got.color_transfer) == \
        (0, "pc", "bt709", "bt709", "bt709")
    a, b = frames(clip), frames(out)
    assert a.shape == b.shape  # shown the same way up
    corner = (slice(None), slice(0, 60), slice(0, 60))
    assert np.abs(a[corner].astype(float).mean(axis=(0, 1, 2)) - b[corner].mean(axis=(0, 1, 2))).max() < 2.0
    assert np.abs(a.astype(float) - b).mean(axis=(1, 2, 3)).min() > 1.0  # the face changed in every frame


def test_a_folder_of_videos_resumes_and_sums_up(moving_clip: Path, source_photo: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder, outdir = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    short = ["-t", "0.6", "-c", "copy"]
    for name in ("a.mp4", "b.mkv"):
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(moving_clip), *short, str(folder / name)], check=True)
    (folder / "notes.txt").write_text("not a video")
    (folder / "broken.mov").write_bytes(b"\0" * 1000)
    args = ["swap-video", "-s", str(source_photo), "-i", str(folder), "-o", str(outdir), "--jobs", "1", "-q"]
    assert main(args) == 1  # broken.mov failed; the others were written
    err = capsys.readouterr().err
    assert sorted(p.name for p in outdir.iterdir()) == ["a.mp4", "b.mkv"]
    assert "2 written, 0 skipped (already done), 1 failed" in err and "broken.mov  failed" in err
    (outdir / "b.mkv").unlink()  # as if Ctrl-C had stopped the run during b.mkv
    (folder / "broken.mov").unlink()
    listing = tmp_path / "list.txt"
    listing.write_text("# clips\nin/a.mp4\nin/b.mkv\n")
    assert main([*args[:4], str(listing), *args[5:]]) == 0
    err = capsys.readouterr().err
    assert "1 written, 1 skipped (already done), 0 failed" in err
    assert probe_stream(outdir / "b.mkv").frames == probe_stream(folder / "b.mkv").frames


def test_ray_without_ray_installed_says_how_to_get_it(moving_clip: Path, source_photo: Path, tmp_path: Path) -> None:
    code = ("import sys; sys.modules['ray'] = None\nfrom obs_faceswap.cli import main\n"
            f"sys.exit(main(['swap-video', '-s', {str(source_photo)!r}, '-i', {str(moving_clip)!r}, "
            f"'-o', {str(tmp_path / 'o.mp4')!r}, '--ray']))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 2
    assert "pip install 'obs-faceswap[ray]'" in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []
