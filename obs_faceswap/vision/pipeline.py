"""The face pipeline: detect -> select -> align -> swap -> enhance -> mask -> colour -> paste.

``FacePipeline(settings, live=...)`` assembles the stages from ``FACE_SETTINGS`` values and
``process(frame)`` runs them on one frame. Other owners' stages (embedded detector, classical
swapper, tracking, quality stages, colour transfer) are imported lazily so the neural path
works on its own. The stage builders (model loading, detector and swapper choice) are in
``pipeline_build``.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from obs_faceswap.errors import FaceSwapError, ModelError, NoFaceError
from obs_faceswap.settings import FACE_SETTINGS, split_paths
from obs_faceswap.vision.arcface import ArcFace, Embedding, largest_face, source_identity
from obs_faceswap.vision.paste import box_mask, paste_back
from obs_faceswap.vision.pipeline_build import (
    DEFAULT_DETECTOR_ID,
    DEFAULT_EMBEDDER_ID,
    NeuralSwapper,
    _construct,
    build_detector,
    build_neural_swapper,
    embedded_detector,
    is_installed,
    load_family,
    provider_note,
    wrap_tracking,
)
from obs_faceswap.vision.select import select_faces
from obs_faceswap.vision.types import Face, FaceDetector, Frame, Mask

__all__ = [  # the stage builders live in pipeline_build; importable from here as before
    "DEFAULT_DETECTOR_ID", "DEFAULT_EMBEDDER_ID", "FacePipeline", "NeuralSwapper", "build_detector",
    "build_neural_swapper", "embedded_detector", "is_installed", "load_family", "provider_note", "wrap_tracking",
]

# settings whose change means rebuilding a stage
_DETECTOR_KEYS = ("detector", "provider")
_TRACK_KEYS = ("detect_every", "smoothing")
_EMBEDDER_KEYS = ("embedder", "provider")
_SWAPPER_KEYS = ("swapper", "provider")
_SOURCE_KEYS = ("source_image",)
_REFERENCE_KEYS = ("reference_image", "face_selection")


@dataclass
class _Stages:
    detector: FaceDetector | None = None  # what process() calls (tracked in live mode)
    base_detector: FaceDetector | None = None  # untracked: for source/reference photos
    embedder: ArcFace | None = None
    neural: NeuralSwapper | None = None
    classical: Any = None
    quality: Any = None
    identity: Any = None  # Embedding (neural) or the classical swapper's prepared source
    latent: np.ndarray | None = None
    reference: Embedding | None = None


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], keys: Sequence[str]) -> bool:
    return any(old.get(k) != new.get(k) for k in keys)


class FacePipeline:
    """Swap faces in frames according to ``FACE_SETTINGS`` values.

    ``detector`` overrides the detector chosen by the settings (tests, callers that already
    track faces). ``quality_models`` maps quality-model ids (``bisenet``, ``xseg``, ``gfpgan_1.4``,
    ...) to files used instead of the installed ones. Constructor and ``update`` raise
    ``FaceSwapError`` for unusable settings.
    """

    def __init__(self, settings: Mapping[str, Any], *, live: bool = False,
                 detector: FaceDetector | None = None, quality_models: Mapping[str, Any] | None = None) -> None:
        self.live = live
        self._detector_override = detector
        self._quality_models = dict(quality_models or {})
        self.settings: dict[str, Any] = FACE_SETTINGS.validate(settings)
        self.last_error = ""
        self.stats: dict[str, Any] = {}
        self.source_note = ""  # with several source photos: how they were used (averaged / which one)
        self._s = _Stages()
        self._build(self.settings, None)

    # ------------------------------------------------------------ assembly

    def update(self, settings: Mapping[str, Any]) -> None:
        """Apply changed settings; reload models/sources only when their own setting changed."""
        new = FACE_SETTINGS.validate({**self.settings, **dict(settings)})
        old = self.settings
        self._build(new, old)
        self.settings = new

    def _build(self, new: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Build changed stages on a copy and commit only when all succeeded (a failed update keeps the old)."""
        s = dataclasses.replace(self._s)
        first = old is None
        o: Mapping[str, Any] = old or {}
        provider = str(new["provider"])
        if first or _changed(o, new, _DETECTOR_KEYS):
            s.base_detector = self._detector_override or build_detector(new)
            s.detector = None
        if s.detector is None or (self.live and _changed(o, new, _TRACK_KEYS)):
            assert s.base_detector is not None
            s.detector = wrap_tracking(s.base_detector, new) if self.live else s.base_detector
        swapper_choice = str(new["swapper"]).strip() or "embedded"
        if first or _changed(o, new, _SWAPPER_KEYS):
            s.neural, s.classical = None, None
            if swapper_choice == "embedded":
                s.classical = self._classical(s, new)
            else:
                s.neural = build_neural_swapper(swapper_choice, provider)
            s.identity = None
        elif s.classical is not None and hasattr(s.classical, "update"):
            s.classical = copy.copy(s.classical)  # the running swapper keeps its look until the commit below
            s.classical.update(new)
        # reference mode loads ArcFace only once a reference photo is chosen (until then process()
        # says that the photo is missing, rather than that a model is not installed)
        needs_embedder = s.neural is not None or (new["face_selection"] == "reference"
                                                  and bool(str(new["reference_image"]).strip()))
        if needs_embedder and (s.embedder is None or _changed(o, new, _EMBEDDER_KEYS)):
            choice = str(new.get("embedder") or "auto").strip()
            s.embedder = ArcFace(load_family(DEFAULT_EMBEDDER_ID if choice == "auto" else choice, "arcface",
                                             provider))
            s.identity = None
            s.reference = None
        if s.identity is None or _changed(o, new, _SOURCE_KEYS) or _changed(o, new, _DETECTOR_KEYS):
            s.identity, s.latent = self._load_identity(s, new)
        if new["face_selection"] != "reference":
            s.reference = None
        elif s.reference is None or _changed(o, new, _REFERENCE_KEYS) or _changed(o, new, _DETECTOR_KEYS):
            s.reference = self._load_reference(s, new)
        s.quality = self._quality(new, s.quality)
        self._s = s

    def _classical(self, s: _Stages, settings: Mapping[str, Any]) -> Any:
        try:
            from obs_faceswap.vision.classical import ClassicalSwapper
        except ImportError:
            raise ModelError("the embedded (classical) swapper is not available in this installation; "
                             "choose a neural swapper such as inswapper_128") from None
        base = s.base_detector
        shared = base if type(base).__name__ == "EmbeddedDetector" else None  # load the mesh model once
        return _construct(ClassicalSwapper, settings, live=self.live, detector=shared)

    def _quality(self, settings: Mapping[str, Any], current: Any) -> Any:
        try:
            from obs_faceswap.vision.quality import QualityStages
        except ImportError:
            return None
        if current is not None and hasattr(current, "updated"):
            return current.updated(settings)  # a new object: the running one is untouched until the commit
        return _construct(QualityStages, settings, live=self.live, provider=settings.get("provider", "auto"),
                          models=self._quality_models)

    def _read_photos(self, value: str) -> list[tuple[str, Frame]]:
        from obs_faceswap.media import read_image

        return [(Path(p).name, read_image(p)) for p in split_paths(value)]

    def _load_identity(self, s: _Stages, settings: Mapping[str, Any]) -> tuple[Any, np.ndarray | None]:
        photos = self._read_photos(str(settings["source_image"]))
        self.source_note = ""
        if not photos:
            return None, None
        assert s.base_detector is not None
        if s.neural is not None:
            assert s.embedder is not None
            identity = source_identity(photos, s.base_detector.detect, s.embedder)
            if len(photos) > 1:
                self.source_note = f"identity averaged over {len(photos)} source photos"
            return identity, s.neural.latent(identity)
        images, names = [img for _, img in photos], [name for name, _ in photos]
        if "names" in inspect.signature(s.classical.prepare_source).parameters:
            source = s.classical.prepare_source(images, names=names)
        else:
            source = s.classical.prepare_source(images)
        if len(photos) > 1:
            used = names[int(getattr(source, "photo_index", 0))]
            self.source_note = (f"used source photo {used}, the best of {len(photos)} (the embedded swapper "
                                "takes one photo; neural swappers average them)")
        return source, None

    def _load_reference(self, s: _Stages, settings: Mapping[str, Any]) -> Embedding | None:
        path = str(settings["reference_image"]).strip()
        if not path:
            return None
        name, img = self._read_photos(path)[0]
        assert s.base_detector is not None and s.embedder is not None
        face = largest_face(s.base_detector.detect(img))
        if face is None:
            raise NoFaceError(f"no face found in the reference photo {name}: use a clear, front-facing photo")
        return s.embedder.embed(img, face)

    def provider_note(self) -> str:
        """'' when the models run where the ``provider`` setting asked; else a line saying where they ran."""
        return provider_note(str(self.settings["provider"]), self.providers)

    @property
    def providers(self) -> list[str]:
        out: list[str] = []
        for obj in (self._s.base_detector, self._s.embedder, self._s.neural):
            for attr in ("session", "det", "mesh"):  # SCRFD/ArcFace/swappers; the embedded detector's two
                sess = getattr(obj, attr, None)
                for p in getattr(sess, "providers", None) or []:
                    if isinstance(p, str) and p not in out:
                        out.append(p)
        return out

    # ------------------------------------------------------------ per frame

    def process(self, frame: Frame) -> Frame:
        """The frame with the selected faces swapped; unchanged when off, no source, or no face."""
        t0 = time.perf_counter()
        stats: dict[str, Any] = {"faces": 0, "providers": self.providers}
        self.stats = stats
        s = self._s
        if not self.settings["enabled"]:
            return frame
        if s.identity is None:
            self.last_error = "no source face photo chosen"
            return frame
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4) or min(frame.shape[:2]) < 8:
            self.last_error = (f"unsupported frame {frame.shape} {frame.dtype}: expected an 8-bit BGR or BGRA "
                               "image at least 8x8 pixels")
            return frame
        if frame.ndim == 3 and frame.shape[2] == 4:  # BGRA: swap the colour planes, keep alpha
            bgr = self.process(np.ascontiguousarray(frame[:, :, :3]))
            if bgr is frame or not self.stats.get("faces"):
                return frame
            out4 = frame.copy()
            out4[:, :, :3] = bgr
            return out4
        try:
            assert s.detector is not None
            t = time.perf_counter()
            faces = s.detector.detect(frame)
            stats["detect_ms"] = (time.perf_counter() - t) * 1000.0
            out = self.swap_faces(frame, faces, stats)
        except Exception as exc:  # a live filter must keep running: report, pass the frame through
            self.last_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, FaceSwapError) else str(exc)
            stats["total_ms"] = (time.perf_counter() - t0) * 1000.0
            return frame
        self.last_error = ""
        if self.settings["face_selection"] == "reference" and s.reference is None:
            self.last_error = "face selection 'reference' needs a reference photo: choose one, or select faces another way"
        stats["total_ms"] = (time.perf_counter() - t0) * 1000.0
        return out

    def swap_faces(self, frame: Frame, faces: Sequence[Face], stats: dict[str, Any] | None = None) -> Frame:
        """Swap the selected ones among ``faces`` (already detected in ``frame``); returns a new frame."""
        stats = stats if stats is not None else {}
        s, cfg = self._s, self.settings
        t = time.perf_counter()
        embed: Callable[[Frame, Sequence[Face]], list[Embedding]] | None = (
            s.embedder.embed_faces if s.embedder is not None else None)
        chosen = select_faces(faces, str(cfg["face_selection"]), index=int(cfg["face_index"]), frame=frame,
                              reference=s.reference, threshold=float(cfg["reference_threshold"]), embed=embed)
        stats["select_ms"] = (time.perf_counter() - t) * 1000.0
        stats["faces"] = len(chosen)
        if not chosen or s.identity is None:
            return frame
        if s.neural is None:
            q = s.quality
            # face-parser regions and occlusion (keep_mouth: the swapper itself, from the mesh)
            t = time.perf_counter()
            if getattr(q, "has_model_masks", False):
                def extra(src: Frame, face: Face, roi: tuple[int, int, int, int]) -> Mask | None:
                    t_mask = time.perf_counter()
                    m = q.roi_mask(src, face, roi)
                    stats["mask_ms"] = stats.get("mask_ms", 0.0) + (time.perf_counter() - t_mask) * 1000.0
                    return m  # type: ignore[no-any-return]

                out = s.classical.swap(frame, chosen, s.identity, extra_mask=extra)
            else:
                out = s.classical.swap(frame, chosen, s.identity)  # applies the look settings itself
            stats["swap_ms"] = (time.perf_counter() - t) * 1000.0
            if q is not None and getattr(q, "enhancer", None) is not None and out is not frame:
                t = time.perf_counter()
                for face in chosen:  # the enhancer at frame resolution, on the swapped face
                    out = q.enhance_frame(out, face)
                stats["enhance_ms"] = (time.perf_counter() - t) * 1000.0
            return out  # type: ignore[no-any-return]
        out = frame.copy()
        for face in chosen:
            self._swap_one(frame, out, face, stats)
        return out

    def _swap_one(self, frame: Frame, out: Frame, face: Face, stats: dict[str, Any]) -> None:
        s, cfg = self._s, self.settings
        neural = s.neural
        assert neural is not None and s.latent is not None

        def lap(name: str, t: float) -> float:
            now = time.perf_counter()
            stats[name] = stats.get(name, 0.0) + (now - t) * 1000.0
            return now

        t = time.perf_counter()
        crop, m = neural.model.align(frame, face)
        t = lap("align_ms", t)
        swapped = neural.model.swap_crop(crop, s.latent)
        t = lap("swap_ms", t)
        q = s.quality
        if q is not None and hasattr(q, "enhance"):
            swapped = q.enhance(frame, face, swapped, m)
            t = lap("enhance_ms", t)
        mask: Mask = box_mask(neural.size, float(cfg["mask_blur"]) / 100.0, float(cfg["mask_padding"]) / 100.0)
        if q is not None and hasattr(q, "mask"):
            extra = q.mask(swapped, crop, face, m)
            if extra is not None:
                mask = np.minimum(mask, np.asarray(extra, dtype=np.float32))
            t = lap("mask_ms", t)
        method = str(cfg["color_method"])
        if method != "none" and int(cfg["color_strength"]) > 0:
            try:
                from obs_faceswap.vision.color import transfer_color
            except ImportError:
                pass
            else:
                swapped = transfer_color(swapped, crop, method, float(cfg["color_strength"]) / 100.0, mask)
                t = lap("color_ms", t)
        paste_back(out, swapped, m, mask, float(cfg["blend"]) / 100.0)
        lap("paste_ms", t)
