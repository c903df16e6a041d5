"""``obs-faceswap bench lipsync``: lip sync cost per 1280x720 frame, embedded and Wav2Lip-path.

Every comparison runs its sides in turn, round after round, so they see the same background load.
Embedded: one frame of a still photo (deform the mesh, one remap of the lower face, paint the
mouth), and one frame of a video (track the mesh, build the rig, the same); baseline in the same
run: the classical swap of the same face (``swap_all``: the same triangle warp plus masks,
colour and blend). Wav2Lip path with the stand-in model (exact signature, near-free to run): the
mel front end per second of speech beside librosa's (Wav2Lip's own recipe, when librosa is
installed), the per-frame pre-processing (crop, mask, tensors) and post-processing (paste-back).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from obs_faceswap.bench import p50, p99, report, time_ms
from obs_faceswap.bench.photos import astronaut_frame


def interleaved(fns: dict[str, Any], repeat: int, warmup: int = 3) -> dict[str, list[float]]:
    """Milliseconds per call of each function, called in turn round after round (same load for all)."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(warmup + repeat):
        for k, fn in fns.items():
            t = time_ms(fn, repeat=1, warmup=0)[0]
            if r >= warmup:
                out[k].append(t)
    return out


def measure(repeat: int = 40) -> dict[str, Any]:
    from obs_faceswap.lipsync.embedded import EmbeddedLipSync
    from obs_faceswap.lipsync.mel import mel_chunks, melspectrogram
    from obs_faceswap.lipsync.motion import MouthShape
    from obs_faceswap.lipsync.wav2lip import (
        Wav2LipSync,
        crop_matrix,
        face_box,
        face_crop,
        output_crop,
        source_tensor,
        target_tensor,
    )
    from obs_faceswap.models.standins.lipsync import wav2lip
    from obs_faceswap.vision.merge import swap_all
    from obs_faceswap.vision.options import FaceOptions
    from obs_faceswap.vision.paste import paste_back
    from obs_faceswap.vision.swappers.classical import ClassicalSwapper

    frame, _ = astronaut_frame(1280, 720, 720)
    sync = EmbeddedLipSync()
    face = sync.face(frame)
    assert face is not None, "the bench photo has no detectable face"
    rig = sync.rig(frame, face)
    shapes = [MouthShape(0.5 + 0.5 * np.sin(k / 3.0), 0.6 * np.cos(k / 5.0)) for k in range(64)]
    k = [0]

    def photo_frame() -> None:
        k[0] += 1
        sync.render(frame, rig, shapes[k[0] % 64])

    def video_frame() -> None:
        k[0] += 1
        tracked = sync.face(frame, face)
        sync.render(frame, sync.rig(frame, tracked), shapes[k[0] % 64])

    swapper = ClassicalSwapper(detector=sync.detector)
    source = swapper.prepare_source([("astronaut", frame)]).value
    options = FaceOptions.from_settings({})

    def classical_swap() -> None:
        swap_all(frame, [face], swapper, source, options)

    timed = interleaved({"photo": photo_frame, "video": video_frame, "classical": classical_swap}, repeat)
    emb, vid, base = timed["photo"], timed["video"], timed["classical"]

    speech = (np.random.default_rng(0).standard_normal(16000 * 5) * 0.1).astype(np.float32)
    mel_fns: dict[str, Any] = {"ours": lambda: melspectrogram(speech)}
    out: dict[str, Any] = {
        "frame": "1280x720", "face_px": int(face.bbox[3] - face.bbox[1]),
        "embedded_photo_ms_p50": round(p50(emb), 2), "embedded_photo_ms_p99": round(p99(emb), 2),
        "embedded_video_ms_p50": round(p50(vid), 2),
        "baseline_classical_swap_ms_p50": round(p50(base), 2),
    }
    try:
        import librosa
        from scipy.signal import lfilter

        def mel_librosa() -> None:
            y = lfilter([1, -0.97], [1], speech)
            d = librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800, pad_mode="reflect")
            s = 20 * np.log10(np.maximum(1e-5, librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55,
                                                                   fmax=7600) @ np.abs(d))) - 20
            np.clip(8 * ((s + 100) / 100) - 4, -4, 4)

        mel_fns["librosa"] = mel_librosa
    except ImportError:
        pass
    mel = interleaved(mel_fns, 10)
    out["mel_ms_per_s_ours"] = round(p50(mel["ours"]) / 5, 3)
    out["baseline_mel_ms_per_s_librosa"] = round(p50(mel["librosa"]) / 5, 3) if "librosa" in mel else None
    chunk = mel_chunks(melspectrogram(speech), 25.0, 1)[0]
    with tempfile.TemporaryDirectory() as d:
        w2l = Wav2LipSync.load(str(wav2lip(Path(d) / "wav2lip.onnx")), "cpu")
        box = face_box(face, frame.shape)
        m = crop_matrix(box)
        crop = face_crop(frame, box)
        src, tgt = source_tensor(chunk), target_tensor(crop)
        pred = output_crop(w2l.session.run({"source": src, "target": tgt})[0])
        w = interleaved({"pre": lambda: (source_tensor(chunk), target_tensor(face_crop(frame, box))),
                         "model": lambda: w2l.session.run({"source": src, "target": tgt}),
                         "post": lambda: paste_back(frame.copy(), pred, m, w2l.mask),
                         "copy": lambda: frame.copy()}, repeat)
        pre, model, post, copy = w["pre"], w["model"], w["post"], w["copy"]
    out.update({"standin_pre_ms_p50": round(p50(pre), 3), "standin_model_ms_p50": round(p50(model), 3),
                "standin_post_ms_p50": round(p50(post), 3),
                "frame_copy_ms_p50": round(p50(copy), 3)})
    return out


def run(args: argparse.Namespace) -> int:
    report(measure(args.repeat), as_json=args.json, title="lip sync, 1280x720 frame (ms)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("lipsync", help="lip sync per frame: embedded and Wav2Lip pre/post",
                            description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=40, help="timed frames per measurement (default: 40)")
    parser.set_defaults(func=run)
