"""Photos, folders and videos -> an aligned face set (``obs-faceswap extract``).

Each kept face is one image (PNG or JPG, ``size`` px, cut by a face type of
``vision/face_types.py``, the cut a DFM model sees) plus a JSON sidecar of the same name: the
source file and frame, the frame -> crop affine, the 468 mesh landmarks and 5 key points in crop
pixels, the face box in the frame and the sharpness score. Faces that are too small, blurred,
or near-copies of a face already kept are skipped and counted. No torch here: the embedded
detector runs through ONNX Runtime.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.errors import FaceSwapError, ImageReadError
from obs_faceswap.media import IMAGE_SUFFIXES, probe_video, read_image, read_video_frames, write_image
from obs_faceswap.vision.align import transform_points
from obs_faceswap.vision.face_types import DEFAULT_FACE_TYPE, cut_face, face_type
from obs_faceswap.vision.types import Face, FaceDetector, Frame

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
SIDECAR_VERSION = 1


@dataclass
class ExtractOptions:
    size: int = 256
    face_type: str = DEFAULT_FACE_TYPE
    image_format: str = "png"  # png | jpg
    min_face: int = 48  # smallest face box side kept, frame pixels
    blur_threshold: float = 40.0  # variance of the Laplacian of the 128 px grey crop; below = blurred
    duplicate_threshold: float = 0.97  # correlation of 16 px thumbnails; above = duplicate
    every: int = 1  # video: look at every N-th frame
    max_faces: int = 0  # per image/frame, largest first; 0 = all

    def __post_init__(self) -> None:
        face_type(self.face_type)  # a clear error for an unknown name
        if not 64 <= self.size <= 1024:
            raise FaceSwapError("--size must be between 64 and 1024 px")
        if self.image_format not in ("png", "jpg"):
            raise FaceSwapError("--format must be png or jpg")
        if self.every < 1:
            raise FaceSwapError("--every must be 1 or more")


@dataclass
class ExtractReport:
    kept: int = 0
    inputs: int = 0
    frames: int = 0
    too_small: int = 0
    blurred: int = 0
    duplicates: int = 0
    no_face: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sharpness(crop: Frame) -> float:
    """Variance of the Laplacian of the crop's grey image at 128 px (size-independent blur score)."""
    grey = cv2.cvtColor(cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def thumbnail(crop: Frame) -> npt.NDArray[np.float32]:
    """16 x 16 grey thumbnail, zero mean and unit norm: dot products of two are their correlation."""
    t = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
    t = t.reshape(-1) - t.mean()
    return t / max(float(np.linalg.norm(t)), 1e-6)


def collect_inputs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Image and video files named, and those inside named folders (recursively, sorted)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise ImageReadError(f"input not found: {p}")
    if not out:
        raise ImageReadError("no photos or videos found in the inputs given")
    return out


def _frames(path: Path, every: int) -> Iterator[tuple[int, Frame]]:
    if path.suffix.lower() in VIDEO_SUFFIXES:
        for i, frame in enumerate(read_video_frames(path)):
            if i % every == 0:
                yield i, frame
    else:
        yield 0, read_image(path)


def _next_index(folder: Path) -> int:
    taken = [int(p.stem.split("_")[0]) for p in folder.glob("*.json") if p.stem.split("_")[0].isdigit()]
    return max(taken, default=-1) + 1


class FaceSetWriter:
    """Filters faces (size, sharpness, duplicates) and writes the kept ones with their sidecars."""

    def __init__(self, folder: str | os.PathLike[str], options: ExtractOptions) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.opt = options
        self.report = ExtractReport()
        self._thumbs = np.zeros((64, 256), np.float32)  # rows 0.._count: kept faces (grown by doubling)
        self._count = 0
        self._index = _next_index(self.folder)
        for img in sorted(self.folder.glob("*.png")) + sorted(self.folder.glob("*.jpg")):  # a set being added to
            if img.with_suffix(".json").is_file():
                try:
                    self._remember(thumbnail(read_image(img)))
                except ImageReadError:
                    pass

    def _remember(self, thumb: npt.NDArray[np.float32]) -> None:
        if self._count == len(self._thumbs):
            self._thumbs = np.concatenate([self._thumbs, np.zeros_like(self._thumbs)])
        self._thumbs[self._count] = thumb
        self._count += 1

    def _is_duplicate(self, thumb: npt.NDArray[np.float32]) -> bool:
        return self._count > 0 and float(np.max(self._thumbs[: self._count] @ thumb)) > self.opt.duplicate_threshold

    def add(self, frame: Frame, faces: Sequence[Face], source: Path, frame_index: int) -> int:
        """Write the usable ones of ``faces`` found in ``frame``; return how many were kept."""
        kept = 0
        faces = sorted(faces, key=lambda f: -f.area)
        if self.opt.max_faces:
            faces = faces[: self.opt.max_faces]
        for k, face in enumerate(faces):
            x1, y1, x2, y2 = (float(v) for v in face.bbox)
            if min(x2 - x1, y2 - y1) < self.opt.min_face or face.landmarks is None:
                self.report.too_small += 1
                continue
            crop, m = cut_face(frame, face.landmarks, self.opt.face_type, self.opt.size)
            sharp = sharpness(crop)
            if sharp < self.opt.blur_threshold:
                self.report.blurred += 1
                continue
            thumb = thumbnail(crop)
            if self._is_duplicate(thumb):
                self.report.duplicates += 1
                continue
            self._remember(thumb)
            self._write(crop, m, face, source, frame_index, k, sharp)
            kept += 1
        self.report.kept += kept
        return kept

    def _write(self, crop: Frame, m: npt.NDArray[np.float64], face: Face, source: Path, frame_index: int,
               k: int, sharp: float) -> None:
        stem = f"{self._index:06d}_{k}"
        self._index += 1
        assert face.landmarks is not None
        meta = {
            "version": SIDECAR_VERSION, "source": str(source), "frame": frame_index, "face": k,
            "face_type": self.opt.face_type, "size": self.opt.size, "affine": m.round(6).tolist(),
            "landmarks": transform_points(face.landmarks, m).round(2).tolist(),
            "kps": transform_points(face.kps, m).round(3).tolist(),
            "bbox": [round(float(v), 2) for v in face.bbox], "score": round(float(face.score), 4),
            "sharpness": round(sharp, 2),
        }
        write_image(self.folder / f"{stem}.{self.opt.image_format}", crop)
        tmp = self.folder / f".{stem}.json.part"
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, self.folder / f"{stem}.json")


def extract(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], detector: FaceDetector,
            options: ExtractOptions | None = None, progress: bool = True) -> ExtractReport:
    """Extract every usable face of ``inputs`` into the face-set folder ``output``."""
    from tqdm import tqdm

    opt = options or ExtractOptions()
    files = collect_inputs(inputs)
    writer = FaceSetWriter(output, opt)
    rep = writer.report
    total = 0
    for f in files:
        if f.suffix.lower() in VIDEO_SUFFIXES:
            try:
                total += max(1, -(-probe_video(f).frames // opt.every))
            except FaceSwapError:
                total += 1
        else:
            total += 1
    with tqdm(total=total, unit="frame", desc="extract", disable=not progress) as bar:
        for f in files:
            rep.inputs += 1
            found = 0
            try:
                for idx, frame in _frames(f, opt.every):
                    rep.frames += 1
                    faces = detector.detect(frame)
                    found += len(faces)
                    writer.add(frame, faces, f, idx)
                    bar.update(1)
                    bar.set_postfix(kept=rep.kept)
            except ImageReadError as exc:
                rep.unreadable.append(f"{f}: {exc}")
                bar.update(1)
                continue
            if not found:
                rep.no_face.append(str(f))
    return rep


# ---------------------------------------------------------------- reading a face set


@dataclass
class FaceRecord:
    """One face of a face set: its image path and sidecar."""

    image: Path
    meta: dict[str, Any]

    @property
    def landmarks(self) -> npt.NDArray[np.float32]:
        return np.asarray(self.meta["landmarks"], np.float32)

    @property
    def kps(self) -> npt.NDArray[np.float32]:
        return np.asarray(self.meta["kps"], np.float32)


def read_faceset(folder: str | os.PathLike[str], min_faces: int = 1) -> list[FaceRecord]:
    """The faces of a face set folder written by :func:`extract` (sorted by name)."""
    p = Path(folder).expanduser()
    if not p.is_dir():
        raise FaceSwapError(f"face set not found: {p} (make one with 'obs-faceswap extract PHOTOS -o {p}')")
    out = []
    for js in sorted(p.glob("*.json")):
        img = next((js.with_suffix(s) for s in (".png", ".jpg") if js.with_suffix(s).is_file()), None)
        if img is None:
            continue
        try:
            meta = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("version") == SIDECAR_VERSION and "landmarks" in meta:
            out.append(FaceRecord(img, meta))
    if len(out) < min_faces:
        raise FaceSwapError(f"{p} holds {len(out)} extracted face(s); this needs at least {min_faces} "
                            "(make a face set with 'obs-faceswap extract')")
    return out

