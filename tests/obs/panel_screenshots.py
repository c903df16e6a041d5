"""Screenshots of the Face Swap and Voice Clone property panels from a real OBS under Xvfb.

    python -m tests.obs.panel_screenshots [OUT_DIR]     (default: docs/img; needs xdotool, imagemagick)

Starts the same headless OBS as the tests, adds one filter of each kind, opens each source's
Filters dialog over obs-websocket, makes it tall enough to show the whole panel and grabs it.
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

SIZE = (900, 2700)


def grab_dialog(obs: HeadlessObs, title: str, out: Path) -> None:
    env = {"DISPLAY": obs.display}
    ids: list[str] = []
    for _ in range(40):
        found = subprocess.run(["xdotool", "search", "--name", title], env=env, capture_output=True, text=True)
        ids = found.stdout.split()
        if ids:
            break
        time.sleep(0.25)
    assert ids, f"no window named {title!r}"
    win = ids[-1]
    subprocess.run(["xdotool", "windowsize", win, str(SIZE[0]), str(SIZE[1])], env=env, check=True)
    subprocess.run(["xdotool", "windowmove", win, "0", "0"], env=env, check=True)
    subprocess.run(["xdotool", "windowraise", win], env=env, check=True)
    time.sleep(4.0)
    subprocess.run(["import", "-display", obs.display, "-window", "root", "-crop", f"{SIZE[0]}x{SIZE[1]}+0+0",
                    str(out)], check=True)
    cv2.imwrite(str(out), collapse_blank_rows(cv2.imread(str(out))))


def collapse_blank_rows(img: np.ndarray, keep: int = 16) -> np.ndarray:
    """Shorten runs of rows that show nothing (the dialog's empty preview area) to ``keep`` rows."""
    same = np.abs(np.diff(img.astype(np.int16), axis=0)).max(axis=(1, 2)) <= 2  # row repeats the one above
    flat = np.concatenate([[False], same])
    rows, run = [], 0
    for y, blank in enumerate(flat):
        run = run + 1 if blank else 0
        if run <= keep:
            rows.append(y)
    return img[rows]


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else ROOT / "docs" / "img"
    out_dir.mkdir(parents=True, exist_ok=True)
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photo = work / "camera.png"
        cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
        import insightface  # its wheel ships a group photo: a face that is not the camera's

        source_face = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
        wav = work / "voice.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), "Hello, this is my new voice."], check=True)
        reference = work / "reference voice.wav"  # the voice to sound like (an espeak-ng female variant)
        subprocess.run(["espeak-ng", "-v", "en-us+f3", "-w", str(reference), "When the sunlight strikes raindrops "
                        "in the air, they act as a prism and form a rainbow of many beautiful colours."], check=True)
        cfg = work / "ofs.json"
        cfg.write_text(json.dumps({"python": sys.executable}))
        obs = HeadlessObs(work, [
            {"id": "image_source", "name": "Camera", "settings": {"file": str(photo)}},
            {"id": "ffmpeg_source", "name": "Microphone",
             "settings": {"local_file": str(wav), "looping": True, "is_local_file": True}},
        ], {"OBS_FACESWAP_CONFIG": str(cfg), "XDG_DATA_HOME": str(work / "data")}, screen=f"{SIZE[0] + 200}x{SIZE[1] + 100}x24")
        obs.start()
        try:
            obs.add_filter("Camera", "Face Swap", "obs_faceswap_video",
                           {"source_image": [{"value": str(source_face), "selected": False, "hidden": False}]})
            obs.add_filter("Microphone", "Voice Clone", "obs_faceswap_audio", {"reference_voice": str(reference)})
            time.sleep(4)  # let the status lines fill in
            for source, name in (("Camera", "obs-face-swap-panel.png"), ("Microphone", "obs-voice-clone-panel.png")):
                obs.call("OpenInputFiltersDialog", {"inputName": source})
                grab_dialog(obs, f"Filters for '{source}'", out_dir / name)
                print(out_dir / name)
        finally:
            obs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
