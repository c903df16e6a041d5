"""The quality stages of the face pipeline, assembled from the face settings.

The face pipeline calls, per swapped face, in crop space (``M`` = the 2x3 affine
frame -> crop of the swap crop):

    crop = stages.enhance(frame, face, crop, M)                  # enhancer (no-op when 'none')
    mask = stages.mask(swapped_crop, target_crop, face, M)       # parser/occlusion/mouth, or None

``add_masks(frame, record)`` puts that mask into a ``FaceRecord``; the merge stage combines it
with the swapper's masks by element-wise minimum (and owns the colour transfer).
The embedded (classical) swapper works in the face's ROI instead: ``stages.roi_mask(frame, face,
roi)`` aligns the target face to a crop from its 5 key points, runs the parser/occlusion there
and warps the crop mask back into the ROI (the swapper keeps the mouth itself, from the mesh).
``enhance_frame(frame, face)`` is the enhancer applied to the frame after paste-back, at the
enhancer's own resolution: what the merge stage's ``swap_all`` runs for every swapper (the crop
hook ``enhance`` stays for benches and callers that hold only a crop). ``timings`` holds the
milliseconds of the last call of each stage (``bench/quality.py`` measures every stage).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from obs_faceswap.models.session import Session
from obs_faceswap.vision.align import transform_points, warp_face
from obs_faceswap.vision.enhance import ENHANCER_FAMILIES, FaceEnhancer
from obs_faceswap.vision.masks import FaceParser, Occluder, combine, mouth_mask, mouth_region, parse_regions
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.record import FaceRecord
from obs_faceswap.vision.types import Face, Frame, Mask

PARSER_MODEL = "bisenet"  # manifest ids
OCCLUDER_MODEL = "xseg"

ModelPaths = Mapping[str, "str | os.PathLike[str]"]
# roi_mask's crop: the FFHQ template holds the whole head (the mesh ROI fits inside); the parser
# resizes to 512 and XSeg to 256 anyway, and the mask is smooth, so 256 px is enough
ROI_TEMPLATE = "ffhq_512"
ROI_CROP = 256


def _load(model_id: str, family: str, provider: str, paths: ModelPaths) -> Session:
    from obs_faceswap.models.registry import load_model

    return load_model(str(paths.get(model_id, model_id)), family, provider)


class QualityStages:
    """Enhancer, masks and colour transfer configured by ``FACE_SETTINGS``.

    ``models`` maps a manifest id (``gfpgan_1.4``, ``codeformer``, ``gpen_512``, ``bisenet``,
    ``xseg``) to a file to use instead of the installed one. With ``live`` the enhancer runs on
    every ``enhancer_every``-th frame per face (files: every frame). Models load only for enabled
    stages and reload only when the model or provider changes. A missing model or a bad region
    name raises a ``FaceSwapError`` from the constructor/``update`` (the old state is kept).
    """

    def __init__(self, options: FaceOptions, provider: str = "auto", *,
                 models: ModelPaths | None = None, live: bool = False) -> None:
        self._provider_arg = provider
        self.live = live
        self._paths: dict[str, Any] = dict(models or {})
        self.options = options
        self.enhancer: FaceEnhancer | None = None
        self.parser: FaceParser | None = None
        self.occluder: Occluder | None = None
        self.regions: tuple[int, ...] = ()
        self.timings: dict[str, float] = {}
        self._loaded: dict[str, tuple[str, str]] = {}  # stage -> (model id, provider)
        self.update(options)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], provider: str = "auto", **kw: Any) -> QualityStages:
        """Validate raw setting values (a boundary: tests, benches) and build the stages."""
        return cls(FaceOptions.from_settings(settings), provider, **kw)

    # ------------------------------------------------------------ settings

    @property
    def provider(self) -> str:
        """The constructor's provider, unless 'auto': then the options'."""
        return self._provider_arg if self._provider_arg not in ("", "auto") else self.options.provider

    def update(self, options: FaceOptions) -> None:
        """Apply new options live; loads/unloads models only when that changes."""
        new = options
        regions = parse_regions(new.mask_regions)
        provider = self._provider_arg if self._provider_arg not in ("", "auto") else new.provider

        want: dict[str, tuple[str, str] | None] = {
            "enhancer": (new.enhancer, ENHANCER_FAMILIES[new.enhancer]) if new.enhancer != "none" else None,
            "parser": (PARSER_MODEL, "bisenet") if regions else None,
            "occluder": (OCCLUDER_MODEL, "xseg") if new.occlusion_mask else None,
        }
        loaded: dict[str, Session | None] = {}
        for stage, spec in want.items():
            if spec is None:
                loaded[stage] = None
            elif self._loaded.get(stage) != (spec[0], provider):
                loaded[stage] = _load(spec[0], spec[1], provider, self._paths)  # may raise: nothing changed yet
        # commit
        self.options = new
        self.regions = regions
        for stage, sess in loaded.items():
            spec = want[stage]
            if sess is None and spec is None:
                setattr(self, stage, None)
                self._loaded.pop(stage, None)
            elif sess is not None and spec is not None:
                if stage == "enhancer":
                    self.enhancer = FaceEnhancer(sess, spec[1])
                elif stage == "parser":
                    self.parser = FaceParser(sess)
                else:
                    self.occluder = Occluder(sess)
                self._loaded[stage] = (spec[0], provider)
        if self.enhancer is not None:
            self.enhancer.fidelity = new.codeformer_fidelity
            every = new.enhancer_every if self.live else 1
            if every != self.enhancer.every:
                self.enhancer.every = every
                self.enhancer.reset()

    def updated(self, options: FaceOptions) -> QualityStages:
        """A new ``QualityStages`` with ``options`` applied; this one is left exactly as it was.

        Loaded models are shared, nothing else: the pipeline builds the new look on a copy and
        switches to it only once every stage of an update succeeded.
        """
        new = copy.copy(self)
        new.timings = {}
        new._loaded = dict(self._loaded)
        if self.enhancer is not None:
            new.enhancer = self.enhancer.clone()
        new.update(options)
        return new

    @property
    def providers(self) -> dict[str, list[str]]:
        """ONNX Runtime providers actually in use, per loaded stage."""
        out: dict[str, list[str]] = {}
        for stage in ("enhancer", "parser", "occluder"):
            obj = getattr(self, stage)
            if obj is not None:
                out[stage] = list(obj.session.providers)
        return out

    # ------------------------------------------------------------ hooks

    def enhance(self, frame: Frame, face: Face, crop: Frame, M: np.ndarray) -> Frame:  # noqa: N803
        """The swap ``crop`` with the face restored and blended by ``enhancer_blend``.

        Returns ``crop`` itself when the enhancer is 'none' or the blend is 0. ``frame`` is not
        read (kept for the hook's signature); ``face.kps`` are frame coordinates, mapped by ``M``.
        """
        amount = self.options.enhancer_blend
        if self.enhancer is None or amount <= 0.0:
            self.timings.pop("enhance", None)
            return crop
        t = time.perf_counter()
        kps = transform_points(face.kps, M)
        out = self.enhancer.enhance(crop, kps, amount, key=face.center)
        self.timings["enhance"] = (time.perf_counter() - t) * 1000.0
        return out

    def enhance_frame(self, frame: Frame, face: Face) -> Frame:
        """Enhance ``face`` directly in ``frame`` (in place, ROI only; after paste-back); returns it."""
        amount = self.options.enhancer_blend
        if self.enhancer is None or amount <= 0.0:
            return frame
        t = time.perf_counter()
        self.enhancer.enhance(frame, face.kps, amount, key=face.center, in_place=True)
        self.timings["enhance"] = (time.perf_counter() - t) * 1000.0
        return frame

    @property
    def has_model_masks(self) -> bool:
        """True when a face-parser or occlusion mask is enabled (what ``roi_mask`` computes)."""
        return self.parser is not None or self.occluder is not None

    def roi_mask(self, frame: Frame, face: Face, roi: tuple[int, int, int, int]) -> Mask | None:
        """The face-parser / occlusion mask of ``face`` in its frame ROI (x0, y0, x1, y1): float32
        (y1-y0, x1-x0) in [0, 1], or ``None`` when neither is enabled. For swappers that paste in
        frame space (the embedded one): the target face is aligned to ``ROI_TEMPLATE`` from its 5
        key points, masked there (``mask`` without the mouth, which such a swapper keeps from its
        own mesh) and the crop mask is warped back; outside the crop nothing is taken away (1).
        """
        if not self.has_model_masks:
            return None
        crop, m = warp_face(frame, face.kps, ROI_TEMPLATE, ROI_CROP)
        cm = self.mask(crop, crop, face, m, mouth=False)
        if cm is None:
            return None
        t = time.perf_counter()
        x0, y0, x1, y1 = roi
        to_crop = m.copy()  # ROI pixel -> crop pixel
        to_crop[:, 2] += to_crop[:, :2] @ np.array([x0, y0], np.float64)
        out = cv2.warpAffine(cm, to_crop, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=1.0)
        self.timings["warp_back"] = (time.perf_counter() - t) * 1000.0
        return out  # type: ignore[no-any-return]

    def mask(self, swapped_crop: Frame, target_crop: Frame, face: Face, M: np.ndarray,  # noqa: N803
             *, mouth: bool = True) -> Mask | None:
        """Crop-space float32 mask in [0, 1] from the enabled stages (face-parser regions, occlusion,
        keep-original-mouth unless ``mouth`` is False), combined by minimum; ``None`` when none is enabled.

        The parser and the occluder look at ``target_crop`` (the camera's face: where its regions
        are, what covers it). ``M`` maps ``face``'s frame coordinates into the crop.
        """
        for k in ("parser", "occlusion", "mouth", "warp_back"):
            self.timings.pop(k, None)
        size = target_crop.shape[0]
        parts: list[Mask] = []
        labels = None
        if self.parser is not None:
            t = time.perf_counter()
            labels = self.parser.labels(target_crop)
            if self.regions:
                parts.append(FaceParser.region_mask(labels, self.regions))
            self.timings["parser"] = (time.perf_counter() - t) * 1000.0
        if self.occluder is not None:
            t = time.perf_counter()
            parts.append(self.occluder.mask(target_crop))
            self.timings["occlusion"] = (time.perf_counter() - t) * 1000.0
        if mouth and self.options.keep_mouth:
            t = time.perf_counter()
            landmarks = None
            if face.landmarks is not None and len(face.landmarks) >= 468:
                landmarks = transform_points(np.asarray(face.landmarks)[:, :2], M)
            region = mouth_region(size, labels=labels, landmarks=landmarks, kps=transform_points(face.kps, M),
                                  scale=self.options.mouth_size)
            parts.append(mouth_mask(region))
            self.timings["mouth"] = (time.perf_counter() - t) * 1000.0
        return combine(parts)

    def add_masks(self, frame: Frame, record: FaceRecord) -> None:
        """Add the enabled model masks (face-parser regions, occlusion; the mouth for crop records)
        to ``record.masks`` as ``"model"``, in the record's space; nothing when none is enabled.

        A frame-space record (the classical swapper's) gets :meth:`roi_mask`: its swapper keeps
        the mouth itself, from the mesh.
        """
        if record.in_frame:
            extra = self.roi_mask(frame, record.face, record.roi)
        else:
            extra = self.mask(record.swapped, record.crop, record.face, record.affine)
        if extra is not None:
            record.masks["model"] = np.asarray(extra, dtype=np.float32)
