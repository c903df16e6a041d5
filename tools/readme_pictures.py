"""Regenerate the README's pictures of the embedded swap (docs/img/before-after.jpg, docs/img/shape-strength.jpg).

Run from the repository root: ``python tools/readme_pictures.py``. Source: scikit-image's astronaut;
target: insightface's bundled group photo t1.jpg; the embedded default on the CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def _height(img: np.ndarray, h: int) -> np.ndarray:
    return cv2.resize(img, (round(img.shape[1] * h / img.shape[0]), h), interpolation=cv2.INTER_AREA)


def main() -> None:
    import insightface
    from skimage import data

    from obs_faceswap.vision.embedded import EmbeddedDetector
    from obs_faceswap.vision.merge import swap_all
    from obs_faceswap.vision.options import FaceOptions
    from obs_faceswap.vision.swappers.classical import ClassicalSwapper

    astro = np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    group = cv2.imread(os.path.join(os.path.dirname(insightface.__file__), "data", "images", "t1.jpg"))
    det = EmbeddedDetector(provider="cpu")
    faces = det.detect(group)
    swapper = ClassicalSwapper(detector=det)
    source = swapper.prepare_source([("astronaut", astro)]).value
    out = swap_all(group, faces, swapper, source, FaceOptions.from_settings({}))
    h = 358
    cv2.imwrite(str(OUT / "before-after.jpg"), np.hstack([_height(astro, h), _height(group, h), _height(out, h)]),
                [cv2.IMWRITE_JPEG_QUALITY, 88])
    # shape strength 0 / 50 / 100 % on three faces (rows), the source photo's face on the left
    tiles = []
    for face in sorted(faces, key=lambda f: float(f.bbox[0]))[1:4]:
        x0, y0, x1, y1 = (int(v) for v in face.bbox)
        m = int(0.35 * (x1 - x0))
        row = [group[y0 - m:y1 + m, x0 - m:x1 + m]]
        for strength in (0, 50, 100):
            options = FaceOptions.from_settings({"shape_strength": strength})
            row.append(swap_all(group, [face], swapper, source, options)[y0 - m:y1 + m, x0 - m:x1 + m])
        tiles.append(np.hstack([_height(t, 200) for t in row]))
    x0, y0, x1, y1 = (int(v) for v in det.detect(astro)[0].bbox)
    m = int(0.35 * (x1 - x0))
    src_tile = _height(astro[y0 - m:y1 + m, x0 - m:x1 + m], 200 * len(tiles))
    w = max(t.shape[1] for t in tiles)
    grid = np.vstack([np.pad(t, ((0, 0), (0, w - t.shape[1]), (0, 0))) for t in tiles])
    cv2.imwrite(str(OUT / "shape-strength.jpg"), np.hstack([src_tile, grid]), [cv2.IMWRITE_JPEG_QUALITY, 88])


if __name__ == "__main__":
    main()
