"""What each model family's ONNX file must look like: input/output names, dtypes, shapes.

``load_model(id, family)`` checks a file against ``family_signature(family)`` before anything
runs it, so a wrong file fails at load time with a message naming what was expected.

Conventions (see ``TensorSpec``): a shape entry that is ``None`` or a string is a dynamic axis and
matches any size; a spec with an empty ``name`` is matched by position instead of by name (used
where the public files carry meaningless generated names such as SCRFD's ``448``).

A family signature is the contract every file of that family meets. Sizes that differ between
members of a family (ReSwapper 128 vs 256, GPEN 256/512/1024, RVC v1 256-dim vs v2 768-dim
features) are dynamic here; a manifest entry can pin its exact shapes with ``inputs``/``outputs``.

Sources of the facts below:
- face models: the public ONNX files' own names (insightface
  buffalo_l and inswapper, facefusion's exports of GFPGAN/CodeFormer/GPEN/BiSeNet/XSeg/SimSwap);
- RVC synthesizer: RVC's ONNX exporter (RVC-Project/Retrieval-based-Voice-Conversion-WebUI,
  ``infer/modules/onnx/export.py``): ``input_names = ["phone", "phone_lengths", "pitch", "pitchf",
  "ds", "rnd"]``, ``output_names = ["audio"]``, dynamic axes ``phone: [1]``, ``pitch: [1]``,
  ``pitchf: [1]``, ``rnd: [2]``; dummy inputs phone f32[1,T,768] (256 for v1 models),
  phone_lengths i64[1], pitch i64[1,T] (coarse pitch 1..255), pitchf f32[1,T] (Hz), ds i64[1]
  (speaker id), rnd f32[1,192,T] (noise); ``audio`` is f32[1,1,samples];
- RMVPE: RVC's ``infer/lib/rmvpe.py`` ONNX path feeds the log-mel f32[1,128,frames] to the first
  input and reads the first output, the 360-bin pitch salience f32[1,frames,360];
- content encoder (ContentVec ``vec-768-layer-12.onnx``, as RVC's
  ``infer/lib/infer_pack/onnx_inference.py`` runs it): 16 kHz mono f32[1,1,samples] in, first
  output f32[1,frames,768] (layer-12 features, 20 ms hop), both used by position. RVC's
  ``ContentVec.forward`` transposes that output to [1,768,frames], repeats each frame twice along
  the last axis and transposes back to [1,2*frames,768], which only works when the file's own
  layout is frames-first (so-vits-svc's ONNX encoder wrapper transposes the same way);
- Wav2Lip: Rudrabha/Wav2Lip ``inference.py`` (96 px crop, ``img_masked[:, 96//2:] = 0``, masked and
  reference concatenated on channels, /255; mel chunks of 16 frames) and ``hparams.py``; input names
  ``source``/``target`` as the published ONNX exports use;
- embedded mediapipe models: the project's converter (``tools/convert_mediapipe.py``) fixes the
  names; the shapes are mediapipe's: BlazeFace short-range 128x128 NHWC -> 896 anchors x 16
  regressors + 896 scores; face mesh 192x192 NHWC -> 468 landmarks x 3 (1404 values) + face flag.
"""

from __future__ import annotations

import re

from obs_faceswap.errors import ModelError
from obs_faceswap.models.session import TensorSpec

F32 = "float32"
F64 = "float64"
I64 = "int64"
DTYPES = ("float32", "float16", "float64", "int64", "int32", "uint8", "bool")

Signature = tuple[list[TensorSpec], list[TensorSpec]]


def _t(name: str, dtype: str, *shape: int | str | None) -> TensorSpec:
    return TensorSpec(name, dtype, tuple(shape))


_FAMILIES: dict[str, Signature] = {
    # SCRFD det_10g: letterboxed BGR->RGB (x-127.5)/128; 9 outputs in the order
    # scores s8/s16/s32, boxes s8/s16/s32, key points s8/s16/s32 (rows = cells x 2 anchors).
    "scrfd": (
        [_t("input.1", F32, 1, 3, "height", "width")],
        [_t("", F32, None, 1)] * 3 + [_t("", F32, None, 4)] * 3 + [_t("", F32, None, 10)] * 3,
    ),
    # ArcFace w600k_r50: RGB (x-127.5)/127.5 aligned 112x112 -> 512-d embedding (L2-normalise it).
    "arcface": (
        [_t("input.1", F32, None, 3, 112, 112)],
        [_t("", F32, None, 512)],
    ),
    # inswapper_128 / ReSwapper 128/256: RGB x/255 crop, latent = normed emb @ emap -> RGB [0,1].
    "inswapper": (
        [_t("target", F32, 1, 3, "size", "size"), _t("source", F32, 1, 512)],
        [_t("output", F32, 1, 3, "size", "size")],
    ),
    # SimSwap: ImageNet-normalised RGB crop + ArcFace embedding -> RGB [0,1].
    "simswap": (
        [_t("target", F32, 1, 3, "size", "size"), _t("source", F32, 1, 512)],
        [_t("", F32, 1, 3, "size", "size")],
    ),
    # GFPGAN 1.4: RGB (x/255-0.5)/0.5 at 512 (ffhq_512 template) -> same range, clip [-1,1].
    "gfpgan": (
        [_t("input", F32, 1, 3, 512, 512)],
        [_t("", F32, 1, 3, 512, 512)],
    ),
    # CodeFormer: as GFPGAN plus the fidelity weight (float64 scalar in a [1] tensor).
    "codeformer": (
        [_t("input", F32, 1, 3, 512, 512), _t("weight", F64, 1)],
        [_t("", F32, 1, 3, 512, 512)],
    ),
    # GPEN-BFR-256/512/1024: as GFPGAN; the file's own size decides the crop.
    "gpen": (
        [_t("input", F32, 1, 3, "size", "size")],
        [_t("", F32, 1, 3, "size", "size")],
    ),
    # BiSeNet face parser: RGB ImageNet mean/std 512x512 -> 19 class logits.
    "bisenet": (
        [_t("input", F32, None, 3, 512, 512)],
        [_t("", F32, None, 19, 512, 512)],
    ),
    # XSeg occluder: NHWC BGR x/255 256x256 -> mask [0,1] (1 = face, 0 = occluder).
    "xseg": (
        [_t("input", F32, None, 256, 256, 3)],
        [_t("", F32, None, 256, 256, 1)],
    ),
    # RVC synthesizer (NSF, with pitch), as exported by RVC's export.py; feature dim 768 (v2) or
    # 256 (v1): read it from the session, do not assume it.
    "rvc_synth": (
        [
            _t("phone", F32, 1, "frames", "feature_dim"),
            _t("phone_lengths", I64, 1),
            _t("pitch", I64, 1, "frames"),
            _t("pitchf", F32, 1, "frames"),
            _t("ds", I64, 1),
            _t("rnd", F32, 1, 192, "frames"),
        ],
        [_t("audio", F32, 1, 1, "samples")],
    ),
    # ContentVec / HuBERT base (layer 12; 768-d for RVC v2, 256-d for v1): 16 kHz mono wave ->
    # features every 20 ms, frames first. Both axes may be dynamic in a file, so the layout is
    # also proved at load: voice/rvc.py runs the encoder once and names a channels-first file.
    "content_encoder": (
        [_t("", F32, 1, 1, "samples")],
        [_t("", F32, 1, "frames", "feature_dim")],
    ),
    # DeepFaceLive DFM (a .dfm file is ONNX, as DeepFaceLab exports it): BGR NHWC [0,1] at the
    # model's resolution (224/320 for the public ones), AMP models add morph_value:0 f32[1];
    # outputs in this order: face mask, celeb face (BGR [0,1]), celeb mask (both masks sigmoid).
    "dfm": (
        [_t("in_face:0", F32, None, "height", "width", 3)],
        [_t("", F32, None, "height", "width", 1), _t("", F32, None, "height", "width", 3),
         _t("", F32, None, "height", "width", 1)],
    ),
    # Embedding converter (facefusion's crossface_simswap): w600k_r50's RAW 512-d embedding ->
    # the same identity in SimSwap's ArcFace space (L2-normalise the output).
    "embedding_converter": (
        [_t("input", F32, None, 512)],
        [_t("", F32, None, 512)],
    ),
    # RMVPE: log-mel (128 bins, 16 kHz, hop 160) -> 360-bin pitch salience per frame.
    "rmvpe": (
        [_t("", F32, 1, 128, "frames")],
        [_t("", F32, 1, "frames", 360)],
    ),
    # Wav2Lip (and Wav2Lip-GAN) ONNX exports: mel chunk (80 bands x 16 frames, [-4, 4]) and the 96x96
    # BGR/255 face crop with its lower half zeroed, concatenated with the unmasked reference -> BGR [0,1].
    "wav2lip": (
        [_t("source", F32, 1, 1, 80, 16), _t("target", F32, 1, 6, 96, 96)],
        [_t("", F32, 1, 3, 96, 96)],
    ),
    # OpenVoice v2 tone-colour converter: a torch checkpoint ({"model": state_dict}), not ONNX; its keys
    # and shapes are checked by obs_faceswap/voice/openvoice_model.load_checkpoint instead.
    "openvoice_converter": ([], []),
    # --- embedded (models/embedded/, converted by tools/convert_mediapipe.py) ---
    # mediapipe BlazeFace short range: RGB NHWC 128x128 in [-1,1] -> 896 anchors x (16 regressors, 1 score).
    # Names as written by tools/convert_mediapipe.py (checked against models/embedded/face_detector.onnx).
    "embedded_face_detector": (
        [_t("input", F32, None, 128, 128, 3)],
        [_t("regressors", F32, None, 896, 16), _t("classificators", F32, None, 896, 1)],
    ),
    # mediapipe face mesh: RGB NHWC 192x192 in [0,1] -> 468 x (x, y, z) landmarks + face score logit.
    # Names kept from the tflite graph (checked against models/embedded/face_mesh.onnx).
    "embedded_face_mesh": (
        [_t("input_1", F32, None, 192, 192, 3)],
        [_t("conv2d_21", F32, None, 1, 1, 1404), _t("conv2d_31", F32, None, 1, 1, 1)],
    ),
}

FAMILIES: tuple[str, ...] = tuple(_FAMILIES)
# families whose files are torch checkpoints, not ONNX (loaded and checked by their own loaders)
TORCH_FAMILIES: tuple[str, ...] = ("openvoice_converter",)


def family_signature(family: str) -> Signature:
    """The inputs and outputs every model of ``family`` has (copies: callers may modify them)."""
    try:
        inputs, outputs = _FAMILIES[family]
    except KeyError:
        raise ModelError(f"unknown model family {family!r}; known families: {', '.join(FAMILIES)}") from None
    return list(inputs), list(outputs)


def parse_spec(text: str) -> TensorSpec:
    """Parse ``'name dtype[d0,d1,...]'`` (the form ``TensorSpec.describe`` prints; ``?`` or a word =
    dynamic, a leading ``_`` name or an empty name = match by position) into a ``TensorSpec``."""
    text = text.strip()
    m = re.fullmatch(r"(?:(\S+)\s+)?([a-z0-9]+)\[([^\[\]]*)\]", text)
    if m is None or m.group(2) not in DTYPES:
        raise ModelError(f"bad tensor spec {text!r}: expected 'name dtype[d0,d1,...]' with dtype one of "
                         f"{', '.join(DTYPES)}")
    name, dtype, dims = m.group(1) or "", m.group(2), m.group(3)
    shape: list[int | str | None] = []
    for d in (x.strip() for x in dims.split(",") if x.strip()):
        shape.append(None if d == "?" else int(d) if d.isdigit() else d)
    if name == "_":
        name = ""
    return TensorSpec(name, dtype, tuple(shape))


def describe_signature(inputs: list[TensorSpec], outputs: list[TensorSpec]) -> str:
    def one(t: TensorSpec) -> str:
        return t.describe() if t.name else "_" + t.describe()

    return f"{', '.join(one(t) for t in inputs)} -> {', '.join(one(t) for t in outputs)}"
