"""Screenshots of the Face Swap and Voice Clone property panels from a real OBS under Xvfb.

    python -m tests.obs.panel_screenshots [OUT_DIR]     (default: docs/img)

Starts the same headless OBS as the tests, adds one filter of each kind, opens each source's
Filters dialog over obs-websocket and grabs the X screen with ImageMagick's ``import``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from .harness import ROOT, HeadlessObs


def grab(obs: HeadlessObs, out: Path) -> None:
    subprocess.run(["import", "-display", obs.display, "-window", "root", str(out)], check=True)
    img = cv2.imread(str(out))
    mask = (img.max(axis=2) > 0).astype(np.uint8)  # crop to what is drawn (Xvfb's root is black)
    x, y, w, h = cv2.boundingRect(mask)
    cv2.imwrite(str(out), img[y:y + h, x:x + w])


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else ROOT / "docs" / "img"
    out_dir.mkdir(parents=True, exist_ok=True)
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photo = work / "astronaut.png"
        cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
        wav = work / "tone.wav"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=220:d=2", "-ar", "48000", str(wav)],
                       check=True)
        cfg = work / "ofs.json"
        cfg.write_text(json.dumps({"python": sys.executable}))
        obs = HeadlessObs(work, [
            {"id": "image_source", "name": "Camera", "settings": {"file": str(photo)}},
            {"id": "ffmpeg_source", "name": "Microphone",
             "settings": {"local_file": str(wav), "looping": True, "is_local_file": True}},
        ], {"OBS_FACESWAP_CONFIG": str(cfg)})
        obs.start()
        try:
            obs.add_filter("Camera", "Face Swap", "obs_faceswap_video", {"source_image": str(photo)})
            obs.add_filter("Microphone", "Voice Clone", "obs_faceswap_audio", {"pitch": 4.0})
            time.sleep(3)
            for source, name in (("Camera", "obs-face-swap-panel.png"), ("Microphone", "obs-voice-clone-panel.png")):
                obs.call("OpenInputFiltersDialog", {"inputName": source})
                time.sleep(3)
                grab(obs, out_dir / name)
                print(out_dir / name)
                # close the dialog: Escape via a fresh dialog is not possible over websocket; the
                # next dialog opens on top, so grab the top-most window only
        finally:
            obs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
