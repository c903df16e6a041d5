"""Stand-in quality models: GFPGAN 1.4, CodeFormer, GPEN-BFR, BiSeNet face parser, XSeg occluder.

Each has the exact input/output names, dtypes and shapes of the public ONNX file and computes
something small, deterministic and *checkable*, so tests can tell whether the real pre- and
post-processing (channel order, normalisation, layout) is right:

- enhancers: per RGB channel ``output = gain_c * input`` (default gains -1, -1, -0.5: an inverted
  image whose blue channel is also halved, so swapping RGB/BGR or getting the normalisation wrong
  shows); CodeFormer multiplies by its f64 ``weight`` as well. :func:`enhancer_expected` gives the
  uint8 BGR result the real pipeline must produce.
- BiSeNet: classifies each pixel by its nearest colour in :data:`PARSER_PALETTE_BGR` (a 1x1
  convolution on the ImageNet-normalised RGB input), so a test paints a face layout with those
  colours and knows exactly which class every pixel gets.
- XSeg: 0 (occluded) on strongly blue pixels in BGR x/255 input (B - G - R > 0.3), 1 elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from obs_faceswap.models.standins import OPSET  # noqa: F401
from obs_faceswap.models.standins import init as _init
from obs_faceswap.models.standins import save as _save

ENHANCER_GAINS_RGB = (-1.0, -1.0, -0.5)

# BGR uint8 colour the stand-in parser maps to each of the 19 classes (all far apart in RGB).
PARSER_PALETTE_BGR: np.ndarray = np.array([
    (0, 0, 0),        # 0 background
    (150, 180, 230),  # 1 skin
    (20, 40, 60),     # 2 left brow
    (20, 60, 40),     # 3 right brow
    (255, 255, 255),  # 4 left eye
    (230, 255, 200),  # 5 right eye
    (120, 120, 0),    # 6 glasses
    (100, 140, 180),  # 7 left ear
    (60, 140, 200),   # 8 right ear
    (0, 200, 255),    # 9 earring
    (170, 200, 255),  # 10 nose
    (40, 0, 90),      # 11 mouth (inside)
    (80, 60, 220),    # 12 upper lip
    (120, 90, 250),   # 13 lower lip
    (110, 150, 190),  # 14 neck
    (0, 255, 255),    # 15 necklace
    (200, 60, 60),    # 16 cloth
    (30, 30, 90),     # 17 hair
    (255, 0, 255),    # 18 hat
], dtype=np.uint8)

OCCLUDER_BGR = (255, 40, 40)  # what the stand-in XSeg treats as "in front of the face"

_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


# ---------------------------------------------------------------- enhancers


def gfpgan(path: Path, *, size: int = 512, gains: tuple[float, float, float] = ENHANCER_GAINS_RGB,
           input_name: str = "input", output_name: str = "output") -> Path:
    """GFPGAN 1.4 / GPEN-BFR signature: ``input`` f32[1,3,S,S] -> ``output`` f32[1,3,S,S]."""
    g = helper.make_graph(
        [helper.make_node("Mul", [input_name, "gain"], [output_name])],
        "gfpgan_standin",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [1, 3, size, size])],
        [_init("gain", np.array(gains, np.float32).reshape(1, 3, 1, 1))],
    )
    return _save(g, path)


def gpen(path: Path, *, size: int = 512, gains: tuple[float, float, float] = ENHANCER_GAINS_RGB) -> Path:
    """GPEN-BFR-<size>: same I/O as GFPGAN, the file's size decides the crop."""
    return gfpgan(path, size=size, gains=gains)


def codeformer(path: Path, *, gains: tuple[float, float, float] = ENHANCER_GAINS_RGB,
               weight_dtype: int = TensorProto.DOUBLE) -> Path:
    """CodeFormer: ``input`` f32[1,3,512,512] + ``weight`` f64[1] -> ``output``; output = gain * input * weight."""
    g = helper.make_graph(
        [
            helper.make_node("Cast", ["weight"], ["w32"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["input", "gain"], ["scaled"]),
            helper.make_node("Mul", ["scaled", "w32"], ["output"]),
        ],
        "codeformer_standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 512, 512]),
         helper.make_tensor_value_info("weight", weight_dtype, [1])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 512, 512])],
        [_init("gain", np.array(gains, np.float32).reshape(1, 3, 1, 1))],
    )
    return _save(g, path)


def enhancer_expected(bgr: np.ndarray, gains: tuple[float, float, float] = ENHANCER_GAINS_RGB,
                      weight: float = 1.0) -> np.ndarray:
    """What a stand-in enhancer turns an aligned BGR uint8 face into (float32 BGR, before rounding)."""
    x = bgr[..., ::-1].astype(np.float32) / 127.5 - 1.0  # RGB, (x/255-0.5)/0.5
    y = np.clip(x * np.array(gains, np.float32) * np.float32(weight), -1.0, 1.0)
    return ((y + 1.0) * 127.5)[..., ::-1]


# ---------------------------------------------------------------- face parser


def bisenet(path: Path, *, classes: int = 19) -> Path:
    """BiSeNet: ``input`` f32[1,3,512,512] RGB ImageNet-normalised -> ``output`` f32[1,19,512,512] logits.

    logit_c(x) = 2 x.p_c - |p_c|^2 (= -|x - p_c|^2 + |x|^2), p_c = the normalised palette colour, so
    the argmax is the nearest palette colour.
    """
    pal = PARSER_PALETTE_BGR[:classes, ::-1].astype(np.float32) / 255.0  # RGB 0..1
    pal = (pal - _MEAN) / _STD
    w = (2.0 * pal).reshape(classes, 3, 1, 1).astype(np.float32)
    b = -(pal ** 2).sum(axis=1).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["output"], kernel_shape=[1, 1])],
        "bisenet_standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 512, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, classes, 512, 512])],
        [_init("w", w), _init("b", b)],
    )
    return _save(g, path)


def paint_labels(labels: np.ndarray) -> np.ndarray:
    """A BGR image the stand-in parser reads back as ``labels`` (HxW class ids)."""
    return PARSER_PALETTE_BGR[labels]


# ---------------------------------------------------------------- occluder


def xseg(path: Path, *, size: int = 256) -> Path:
    """XSeg: ``input`` NHWC f32[1,256,256,3] BGR x/255 -> f32[1,256,256,1], 1 = face, 0 = occluder."""
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "w"], ["blue"]),  # B - G - R per pixel
            helper.make_node("Sub", ["thr", "blue"], ["d"]),
            helper.make_node("Mul", ["d", "k"], ["z"]),
            helper.make_node("Sigmoid", ["z"], ["output"]),
        ],
        "xseg_standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, size, size, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, size, size, 1])],
        [_init("w", np.array([[1.0], [-1.0], [-1.0]], np.float32)), _init("thr", np.array(0.3, np.float32)),
         _init("k", np.array(40.0, np.float32))],
    )
    return _save(g, path)


def all_models(folder: Path) -> dict[str, Path]:
    """Every quality stand-in in ``folder``, keyed by the manifest id it stands in for."""
    folder = Path(folder)
    return {
        "gfpgan_1.4": gfpgan(folder / "gfpgan_1.4.onnx"),
        "codeformer": codeformer(folder / "codeformer.onnx"),
        "gpen_512": gpen(folder / "gpen_bfr_512.onnx"),
        "bisenet": bisenet(folder / "bisenet.onnx"),
        "xseg": xseg(folder / "xseg.onnx"),
    }


# ---------------------------------------------------------------- a face layout the parser reads back


def face_layout(size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(labels, kps): a frontal face drawn with BiSeNet class ids in a ``size`` crop, and its 5 key points.

    Geometry (at 256, scaled with ``size``): hair cap, skin oval, neck, brows, eyes, nose, lips
    around a thin open mouth between the mouth corners at (98, 188) and (158, 188).
    """
    import cv2

    s = size / 256.0

    def p(x: float, y: float) -> tuple[int, int]:
        return int(round(x * s)), int(round(y * s))

    def ax(a: float, b: float) -> tuple[int, int]:
        return max(1, int(round(a * s))), max(1, int(round(b * s)))

    lab = np.zeros((size, size), np.uint8)
    cv2.rectangle(lab, p(96, 200), p(160, 256), 14, -1)  # neck
    cv2.ellipse(lab, p(128, 78), ax(98, 66), 0, 0, 360, 17, -1)  # hair
    cv2.ellipse(lab, p(128, 138), ax(78, 98), 0, 0, 360, 1, -1)  # skin
    cv2.rectangle(lab, p(75, 88), p(110, 96), 2, -1)  # brows
    cv2.rectangle(lab, p(146, 88), p(181, 96), 3, -1)
    cv2.ellipse(lab, p(95, 112), ax(16, 8), 0, 0, 360, 4, -1)  # eyes
    cv2.ellipse(lab, p(161, 112), ax(16, 8), 0, 0, 360, 5, -1)
    cv2.ellipse(lab, p(128, 145), ax(12, 22), 0, 0, 360, 10, -1)  # nose
    cv2.ellipse(lab, p(128, 185), ax(30, 8), 0, 180, 360, 12, -1)  # upper lip (top half)
    cv2.ellipse(lab, p(128, 188), ax(30, 11), 0, 0, 180, 13, -1)  # lower lip (bottom half)
    cv2.rectangle(lab, p(98, 185), p(158, 188), 12, -1)
    cv2.ellipse(lab, p(128, 187), ax(22, 3), 0, 0, 360, 11, -1)  # mouth opening
    kps = np.array([p(95, 112), p(161, 112), p(128, 150), p(98, 188), p(158, 188)], np.float32)
    return lab, kps


def mesh_with_lips(kps: np.ndarray) -> np.ndarray:
    """468 face-mesh points (x, y, z) whose outer-lip contour is an ellipse around the mouth corners."""
    from obs_faceswap.vision.masks import MESH_LIPS_OUTER

    pts = np.zeros((468, 3), np.float32)
    pts[:, :2] = kps.mean(axis=0)
    left, right = kps[3], kps[4]
    c = (left + right) / 2.0
    half_w = float(np.linalg.norm(right - left)) / 2.0
    ang = np.linspace(0, 2 * np.pi, len(MESH_LIPS_OUTER), endpoint=False)
    pts[list(MESH_LIPS_OUTER), 0] = c[0] + np.cos(ang) * half_w * 1.15
    pts[list(MESH_LIPS_OUTER), 1] = c[1] + np.sin(ang) * half_w * 0.6
    return pts
