"""The face pipeline: detect -> select (and ``source_map``) -> swap step -> masks -> merge -> enhance.

``FacePipeline(options, live=...)`` assembles the stages from a validated ``FaceOptions``
(``FacePipeline.from_settings`` validates raw values: for callers at a boundary) and ``process``
runs them on one frame. Per face, the swapper's swap step makes a ``FaceRecord`` that the
quality stages enhance and mask and the merge stage pastes (``vision/merge.py``); every swapper
goes the same way. The stage builders are in ``pipeline_build``; models come from the session
cache, so a stage rebuilt with the same file and provider reuses its sessions and a look change
(blend, colour, masks) touches no model at all.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from obs_faceswap.errors import FaceSwapError, NoFaceError
from obs_faceswap.media import read_image
from obs_faceswap.models.registry import load_family
from obs_faceswap.models.session import Session
from obs_faceswap.settings import split_paths
from obs_faceswap.vision.arcface import ArcFace, Embedding, largest_face
from obs_faceswap.vision.merge import swap_all
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.pipeline_build import (
    DEFAULT_EMBEDDER_ID,
    build_detector,
    build_swapper,
    provider_note,
    wrap_tracking,
)
from obs_faceswap.vision.quality import ModelPaths, QualityStages
from obs_faceswap.vision.select import select_faces
from obs_faceswap.vision.source_map import MapEntry, MappedSource, assign_sources, parse_source_map
from obs_faceswap.vision.swappers.base import PreparedSource, SourceTools, Swapper
from obs_faceswap.vision.types import Face, FaceDetector, Frame

# options whose change means rebuilding a stage
_DETECTOR_KEYS = ("detector", "provider")
_TRACK_KEYS = ("detect_every", "smoothing")
_EMBEDDER_KEYS = ("embedder", "provider")
_SWAPPER_KEYS = ("swapper", "provider", "dfm_model")
_SOURCE_KEYS = ("source_image",)
_REFERENCE_KEYS = ("reference_image", "face_selection")
_MAP_KEYS = ("source_map",)


@runtime_checkable
class ModelStage(Protocol):
    """A stage that runs ONNX sessions (detectors, the recogniser, swappers)."""

    def sessions(self) -> list[Session]: ...


@dataclass
class _Stages:
    detector: FaceDetector | None = None  # what process() calls (tracked in live mode)
    base_detector: FaceDetector | None = None  # untracked: for source/reference photos
    embedder: ArcFace | None = None
    swapper: Swapper | None = None
    quality: QualityStages | None = None
    source: PreparedSource | None = None
    reference: Embedding | None = None
    mapped: list[MappedSource] = dataclasses.field(default_factory=list)  # source_map, parsed and prepared


class FacePipeline:
    """Swap faces in frames according to ``options``.

    ``detector`` overrides the detector chosen by the options (tests, callers that already
    track faces). ``quality_models`` maps quality-model ids (``bisenet``, ``xseg``, ``gfpgan_1.4``,
    ...) to files used instead of the installed ones. Constructor and ``update`` raise
    ``FaceSwapError`` for unusable options (an update that fails keeps the running stages).
    """

    def __init__(self, options: FaceOptions, *, live: bool = False, detector: FaceDetector | None = None,
                 quality_models: ModelPaths | None = None) -> None:
        self.live = live
        self._detector_override = detector
        self._quality_models = dict(quality_models or {})
        self.options = options
        self.last_error = ""
        self.stats: dict[str, Any] = {}
        self.swapped: list[Face] = []  # the faces the last frame swapped (in that frame's coordinates)
        self._s = _Stages()
        self._build(options, None)
        global _BUILT
        _BUILT += 1

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **kw: Any) -> FacePipeline:
        """Validate raw setting values (a boundary: CLI, tests) and build the pipeline."""
        return cls(FaceOptions.from_settings(settings), **kw)

    @property
    def settings(self) -> dict[str, Any]:
        """The current options as raw setting values."""
        return self.options.as_settings()

    @property
    def source_note(self) -> str:
        """With several source photos: how they were used (averaged / which one)."""
        return self._s.source.note if self._s.source is not None else ""

    def forget_frames(self) -> None:
        """Drop what earlier frames left behind (a source's reused morph triangulation, the enhancer's
        cache): the next frame is swapped as by a freshly built pipeline, models and sources kept."""
        s = self._s
        for value in [s.source.value if s.source is not None else None, *(m.source for m in s.mapped)]:
            forget = getattr(value, "forget_frames", None)
            if forget is not None:
                forget()
        if s.quality is not None and s.quality.enhancer is not None:
            s.quality.enhancer.reset()

    # ------------------------------------------------------------ assembly

    def update(self, options: FaceOptions) -> None:
        """Apply changed options; reload models/sources only when their own options changed."""
        self._build(options, self.options)
        self.options = options

    def _build(self, new: FaceOptions, old: FaceOptions | None) -> None:
        """Build changed stages on a copy and commit only when all succeeded (a failed update keeps the old)."""
        s = dataclasses.replace(self._s)
        if new.differs(old, _DETECTOR_KEYS):
            s.base_detector = self._detector_override or build_detector(new)
            s.detector = None
        if s.detector is None or (self.live and new.differs(old, _TRACK_KEYS)):
            assert s.base_detector is not None
            s.detector = wrap_tracking(s.base_detector, new) if self.live else s.base_detector
        if new.differs(old, _SWAPPER_KEYS):
            assert s.base_detector is not None
            s.swapper = build_swapper(new, s.base_detector)
            s.source = None
            s.mapped = []
        assert s.swapper is not None
        # reference mode loads ArcFace only once a reference photo is chosen (until then process()
        # says that the photo is missing, rather than that a model is not installed)
        entries = parse_source_map(new.source_map)
        needs_embedder = s.swapper.needs_embedder or (new.face_selection == "reference"
                                                      and bool(new.reference_image.strip())) or any(
            e.index is None for e in entries)
        if needs_embedder and (s.embedder is None or new.differs(old, _EMBEDDER_KEYS)):
            choice = new.embedder.strip() or "auto"
            s.embedder = ArcFace(load_family(DEFAULT_EMBEDDER_ID if choice == "auto" else choice, "arcface",
                                             new.provider))
            s.source = None
            s.reference = None
            s.mapped = []
        if s.source is None or new.differs(old, _SOURCE_KEYS) or new.differs(old, _DETECTOR_KEYS):
            s.source = self._load_source(s, new)
        if new.differs(old, _DETECTOR_KEYS):
            s.mapped = []
        if entries and (not s.mapped or new.differs(old, _MAP_KEYS)):
            s.mapped = self._load_mapped(s, entries)
        elif not entries:
            s.mapped = []
        if new.face_selection != "reference":
            s.reference = None
        elif s.reference is None or new.differs(old, _REFERENCE_KEYS) or new.differs(old, _DETECTOR_KEYS):
            s.reference = self._load_reference(s, new)
        s.quality = (QualityStages(new, live=self.live, models=self._quality_models)
                     if s.quality is None else s.quality.updated(new))
        self._s = s

    def _load_source(self, s: _Stages, options: FaceOptions) -> PreparedSource | None:
        photos = [(Path(p).name, read_image(p)) for p in split_paths(options.source_image)]
        assert s.base_detector is not None and s.swapper is not None
        if not photos and s.swapper.needs_photos:
            return None
        return s.swapper.prepare_source(photos, SourceTools(s.base_detector.detect, s.embedder))

    def _load_mapped(self, s: _Stages, entries: list[MapEntry]) -> list[MappedSource]:
        """Each ``source_map`` entry's prepared source (and reference person)."""
        assert s.base_detector is not None and s.swapper is not None
        tools = SourceTools(s.base_detector.detect, s.embedder)
        out = []
        for e in entries:
            photos = [(Path(p).name, read_image(p)) for p in e.photos]
            reference = None
            if e.index is None:
                reference = self._embed_reference(s, e.key, "source_map reference photo")
            out.append(MappedSource(e, s.swapper.prepare_source(photos, tools).value, reference))
        return out

    def _embed_reference(self, s: _Stages, path: str, what: str) -> Embedding:
        img = read_image(path)
        assert s.base_detector is not None and s.embedder is not None
        face = largest_face(s.base_detector.detect(img))
        if face is None:
            raise NoFaceError(f"no face found in the {what} {Path(path).name}: use a clear, front-facing photo")
        return s.embedder.embed(img, face)

    def _load_reference(self, s: _Stages, options: FaceOptions) -> Embedding | None:
        path = options.reference_image.strip()
        if not path:
            return None
        return self._embed_reference(s, path, "reference photo")

    def provider_note(self) -> str:
        """'' when the models run where the ``provider`` option asked; else a line saying where they ran."""
        return provider_note(self.options.provider, self.providers)

    def sessions(self) -> list[Session]:
        """The ONNX sessions of the detector, recogniser and swapper."""
        out: list[Session] = []
        for stage in (self._s.base_detector, self._s.embedder, self._s.swapper):
            if isinstance(stage, ModelStage):
                out.extend(stage.sessions())
        return out

    @property
    def providers(self) -> list[str]:
        out: list[str] = []
        for sess in self.sessions():
            for p in sess.providers:
                if p not in out:
                    out.append(p)
        return out

    # ------------------------------------------------------------ per frame

    def _ready(self) -> bool:
        """Start a frame's stats; False when there is nothing to swap with (off, no source photo)."""
        self.stats = {"faces": 0, "providers": self.providers}
        self.swapped = []
        if not self.options.enabled:
            return False
        if self._s.source is None and not self._s.mapped:
            self.last_error = "no source face photo chosen"
            return False
        return True

    def process(self, frame: Frame) -> Frame:
        """The frame with the selected faces swapped; unchanged when off, no source, or no face."""
        t0 = time.perf_counter()
        if not self._ready():
            return frame
        stats, s = self.stats, self._s
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4) or min(frame.shape[:2]) < 8:
            self.last_error = (f"unsupported frame {frame.shape} {frame.dtype}: expected an 8-bit BGR or BGRA "
                               "image at least 8x8 pixels")
            return frame
        if frame.shape[2] == 4:  # BGRA: swap the colour planes, keep alpha
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
            return self._failed(exc, frame, t0)
        self._done(t0)
        return out

    def _failed(self, exc: Exception, frame: Frame, t0: float) -> Frame:
        self.last_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, FaceSwapError) else str(exc)
        self.stats["total_ms"] = (time.perf_counter() - t0) * 1000.0
        self.swapped = []
        return frame

    def _done(self, t0: float) -> None:
        self.last_error = ""
        if self.options.face_selection == "reference" and self._s.reference is None:
            self.last_error = "face selection 'reference' needs a reference photo: choose one, or select faces another way"
        self.stats["total_ms"] = (time.perf_counter() - t0) * 1000.0

    def process_region(self, frame: Frame, crop: Frame | None, crop_xy: tuple[int, int]
                       ) -> tuple[Frame | None, list[Face]]:
        """A region frame (``obs_faceswap/ipc/regions.py``): faces are detected and tracked on ``frame``
        (the whole frame, possibly scaled up from a downscaled copy outside the crop) and swapped on
        ``crop`` (full resolution, its top-left corner at ``crop_xy`` in the frame; None: not sent).
        Returns the swapped crop (None when nothing was swapped) and the selected faces in frame
        coordinates (what to read back next)."""
        t0 = time.perf_counter()
        if not self._ready():
            return None, []
        stats, s = self.stats, self._s
        try:
            assert s.detector is not None
            t = time.perf_counter()
            faces = s.detector.detect(frame)
            stats["detect_ms"] = (time.perf_counter() - t) * 1000.0
            if crop is None:
                chosen = [f for f, _ in self._pairs(frame, faces)]
                out = None
            else:
                dx, dy = crop_xy
                out = self.swap_faces(crop, [shift_face(f, -dx, -dy) for f in faces], stats)
                chosen = [shift_face(f, dx, dy) for f in self.swapped]
                out = None if out is crop else out
        except Exception as exc:
            self._failed(exc, frame, t0)
            return None, []
        self._done(t0)
        return out, chosen

    def _pairs(self, frame: Frame, faces: Sequence[Face]) -> list[tuple[Face, object]]:
        """The faces to swap among ``faces`` (selection, source map), each with its prepared source."""
        s, o = self._s, self.options
        embed: Callable[[Frame, Sequence[Face]], list[Embedding]] | None = (
            s.embedder.embed_faces if s.embedder is not None else None)
        chosen = select_faces(faces, o.face_selection, index=o.face_index, frame=frame, reference=s.reference,
                              threshold=o.reference_threshold, embed=embed)
        default = s.source.value if s.source is not None else None
        if s.mapped:
            return assign_sources(faces, chosen, s.mapped, default, frame=frame, threshold=o.reference_threshold,
                                  embed=embed)
        return [(f, default) for f in chosen] if default is not None else []

    def swap_faces(self, frame: Frame, faces: Sequence[Face], stats: dict[str, Any] | None = None) -> Frame:
        """Swap the selected ones among ``faces`` (already detected in ``frame``); returns a new frame."""
        stats = stats if stats is not None else {}
        s, o = self._s, self.options
        t = time.perf_counter()
        pairs = self._pairs(frame, faces)
        default = s.source.value if s.source is not None else None
        stats["select_ms"] = (time.perf_counter() - t) * 1000.0
        stats["faces"] = len(pairs)
        stats["detected"] = len(faces)
        self.swapped = [f for f, _ in pairs]
        if not pairs:
            return frame
        assert s.swapper is not None
        return swap_all(frame, [f for f, _ in pairs], s.swapper, default, o, stages=s.quality, stats=stats,
                        sources=[src for _, src in pairs])


_BUILT = 0  # FacePipeline objects built in this process


def pipelines_built() -> int:
    """How many ``FacePipeline`` objects this process has built (each loads or shares models and
    prepares its source photos)."""
    return _BUILT


def shift_face(face: Face, dx: float, dy: float) -> Face:
    """``face`` with its coordinates moved by (dx, dy) (the frame's to a crop's and back)."""
    if not dx and not dy:
        return face
    d = np.float32([dx, dy])
    return Face(bbox=(face.bbox.reshape(2, 2) + d).reshape(4).astype(np.float32), score=face.score,
                kps=(face.kps + d).astype(np.float32),
                landmarks=None if face.landmarks is None else (face.landmarks + d).astype(np.float32),
                embedding=face.embedding, extra={k: v for k, v in face.extra.items() if k != "track_mesh"})
