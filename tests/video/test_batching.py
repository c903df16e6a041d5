"""Detection stacked across frames gives the faces of frame-by-frame detection, and the models load
once per process that swaps frames (never in the parent of a ``--jobs N`` pool)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.models.session import sessions_created
from obs_faceswap.video.codec import EncodeOptions
from obs_faceswap.video.local import LocalRunner
from obs_faceswap.video.probe import probe_stream
from obs_faceswap.video.segments import plan_segments, segments_for
from obs_faceswap.video.worker import SegmentWorker
from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.types import Face
from tests.video.conftest import frames


def _same_faces(a: list[Face], b: list[Face]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.bbox, y.bbox) and np.array_equal(x.kps, y.kps) and np.array_equal(x.landmarks, y.landmarks)
        and x.score == y.score for x, y in zip(a, b, strict=True))


def test_stacked_detection_finds_the_faces_of_frame_by_frame(moving_clip: Path, group_bgr: np.ndarray) -> None:
    clip = list(frames(moving_clip)[:6])
    blank = np.full_like(clip[0], 90)  # no face in it
    tiny = clip[0][:10, :10]  # too small to hold one
    group = np.ascontiguousarray(group_bgr[:480, :720])  # several faces in one frame
    batch = [clip[0], blank, group, tiny, *clip[1:]]
    det = EmbeddedDetector()
    one = [det.detect(f) for f in batch]
    many = det.detect_many(batch)
    assert [len(f) for f in one] == [len(f) for f in many]
    assert len(one[0]) == 1 and one[1] == [] and len(one[2]) >= 3 and one[3] == []  # what the frames hold
    assert all(_same_faces(a, b) for a, b in zip(one, many, strict=True))


def test_untracked_video_is_the_same_batched_or_frame_by_frame(moving_clip: Path, source_photo: Path,
                                                               tmp_path: Path) -> None:
    options = FaceOptions.from_settings({"source_image": str(source_photo), "color_method": "none"})
    stream = probe_stream(moving_clip)
    seg = plan_segments(stream, 12, 4)[1]  # starts mid-file, with warm-up frames
    worker = SegmentWorker(options, track=False)
    assert not worker.stack_frames  # on the CPU frames are detected one by one (measured the better choice)
    opts = EncodeOptions(crf=0)
    worker.stack_frames = True  # as on a GPU
    batched = worker.run(stream, seg, tmp_path / "batched.mp4", opts, tmp_path / "out.mp4")
    worker.stack_frames = False
    single = worker.run(stream, seg, tmp_path / "single.mp4", opts, tmp_path / "out.mp4")
    assert batched.frames == single.frames == seg.frames and batched.swapped == seg.frames
    a, b = (frames(tmp_path / r.pieces[0]) for r in (batched, single))
    assert a.shape[0] == seg.frames and np.array_equal(a, b)
    assert batched.timings["detect"] > 0 and batched.timings["ffmpeg_cpu"] > 0  # the profile is filled in


def test_jobs_2_loads_the_models_once_in_each_worker_and_never_in_the_parent(moving_clip: Path,
                                                                            source_photo: Path,
                                                                            tmp_path: Path) -> None:
    options = FaceOptions.from_settings({"source_image": str(source_photo), "color_method": "none"})
    stream = probe_stream(moving_clip)
    segments = segments_for(stream, 2, 6, 2)  # 4 segments for 2 processes: each runs several
    parent = sessions_created()
    runner = LocalRunner(options, jobs=2)
    try:
        pids = {r.pid for r in runner.ready}
        assert len(pids) == 2 and os.getpid() not in pids
        fresh = {r.pid: r.sessions for r in runner.ready}
        assert len(set(fresh.values())) == 1 and min(fresh.values()) >= 2  # detector + mesh, the same in each
        results = runner.run(stream, segments, tmp_path, EncodeOptions(crf=0), tmp_path / "out.mp4",
                             lambda i, n: None)
    finally:
        runner.close()
    assert sessions_created() == parent  # the parent only hands out segments
    assert {r.pid for r in results} <= pids and len(results) == len(segments)
    # every segment after the first of a process reused the models that process loaded at start,
    # and the face pipeline it built then (one per process, whatever it ran)
    assert all(r.sessions == fresh[r.pid] for r in results), [(r.pid, r.sessions) for r in results]
    assert [r.pipelines for r in results] == [1] * len(segments)


def test_one_segment_with_tracking_restarts_writes_the_frames_and_bits_of_its_chunks_run_apart(
        moving_clip: Path, source_photo: Path, tmp_path: Path) -> None:
    """--jobs 1 runs the whole video as one segment and restarts tracking inside it (warm-up on frames
    it already decoded); --jobs N runs the chunks apart: the same frames, encoded to the same bytes
    (default, lossy settings), and one pipeline built for all."""
    from obs_faceswap.vision.pipeline import pipelines_built

    options = FaceOptions.from_settings({"source_image": str(source_photo)})
    stream = probe_stream(moving_clip)
    chunks = plan_segments(stream, 6, 4)
    (whole,) = segments_for(stream, 1, 6, 4)
    assert len(whole.restarts) == len(chunks) - 1 == 3 and whole.warm_start == 0
    built = pipelines_built()
    worker = SegmentWorker(options)
    opts, out = EncodeOptions(), tmp_path / "out.mp4"
    one = worker.run(stream, whole, tmp_path / "whole.mp4", opts, out)
    apart = [worker.run(stream, c, tmp_path / f"{c.index}.mp4", opts, out) for c in reversed(chunks)][::-1]
    assert pipelines_built() == built + 1  # built with the worker, reused by every segment
    assert one.frames == stream.frames == sum(r.frames for r in apart) and one.swapped == stream.frames
    assert len(one.pieces) == len(chunks) and all(len(r.pieces) == 1 for r in apart)
    for mine, theirs in zip(one.pieces, apart, strict=True):  # each chunk encoded on its own
        assert (tmp_path / mine).read_bytes() == (tmp_path / theirs.pieces[0]).read_bytes()
    a = np.concatenate([frames(tmp_path / p) for p in one.pieces])
    assert len(a) == stream.frames and np.abs(a.astype(int) - frames(moving_clip)).mean() > 1.0  # swapped


def test_a_pool_process_uses_its_share_of_the_cores() -> None:
    """--jobs N: each process's ONNX Runtime sessions (those that do not ask for a number) and OpenCV
    use cores / N threads, so N processes do not run N x cores threads."""
    import subprocess
    import sys

    code = ("import cv2\nfrom obs_faceswap.models.session import create_session\n"
            "from obs_faceswap.video.worker import SegmentWorker\n"
            "from obs_faceswap.vision.embedded import MESH_FILE, embedded_model_path\n"
            "from obs_faceswap.vision.options import FaceOptions\n"
            "SegmentWorker(FaceOptions.from_settings({}), threads=1)\n"
            "s = create_session(embedded_model_path(MESH_FILE), 'cpu')\n"
            "print(cv2.getNumThreads(), s.inner.get_session_options().intra_op_num_threads)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.stdout.split() == ["1", "1"], res.stderr


def _ffmpeg_children() -> list[int]:
    me = str(os.getpid())
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if fields[1] == me and comm == "ffmpeg":
            kids.append(int(stat.parent.name))
    return kids


def test_an_encoder_that_stops_says_why_and_leaves_no_ffmpeg_running(moving_clip: Path, source_photo: Path,
                                                                     tmp_path: Path) -> None:
    from obs_faceswap.errors import FaceSwapError

    worker = SegmentWorker(FaceOptions.from_settings({"source_image": str(source_photo)}))
    stream = probe_stream(moving_clip)
    seg = plan_segments(stream, 24, 0)[0]
    with pytest.raises(FaceSwapError, match=r"ffmpeg could not encode segment 1 .*crf"):
        worker.run(stream, seg, tmp_path / "s.mp4", EncodeOptions(crf=-5), tmp_path / "out.mp4")  # out of range
    assert _ffmpeg_children() == []  # the decoder was stopped too
