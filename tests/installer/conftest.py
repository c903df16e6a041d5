from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def write_obs_config(base: Path, collection: str = "Streaming", others: tuple[str, ...] = ("Untitled",)) -> Path:
    """An OBS 29 config tree as OBS leaves it after a first run: global.ini + scene collections.

    ``base`` plays XDG_CONFIG_HOME; returns the obs-studio folder."""
    obs = base / "obs-studio"
    scenes = obs / "basic" / "scenes"
    scenes.mkdir(parents=True)
    (obs / "global.ini").write_text(
        "[General]\nFirstRun=true\nLastVersion=486539266\n\n"
        f"[Basic]\nProfile=Main\nProfileDir=Main\nSceneCollection={collection}\nSceneCollectionFile={collection}\n",
        encoding="utf-8")
    for name in (collection, *others):
        doc = {
            "current_scene": "Scene", "current_program_scene": "Scene", "name": name,
            "scene_order": [{"name": "Scene"}],
            "modules": {"auto-scene-switcher": {"active": False, "switches": []},
                        "scripts-tool": [{"path": "/usr/share/obs/scripts/clock.lua", "settings": {}}]},
            "sources": [{"id": "scene", "name": "Scene", "settings": {"id_counter": 0, "items": []}}],
        }
        (scenes / f"{name}.json").write_text(json.dumps(doc, indent=4), encoding="utf-8")
    return obs


@pytest.fixture
def obs_home(tmp_path: Path) -> Path:
    """A fresh XDG_CONFIG_HOME holding an OBS config."""
    base = tmp_path / "xdg"
    write_obs_config(base)
    return base


@pytest.fixture
def obs_script(tmp_path: Path) -> Path:
    p = tmp_path / "project" / "obs_faceswap_obs.py"
    p.parent.mkdir()
    p.write_text("def script_description():\n    return 'obs-faceswap'\n", encoding="utf-8")
    return p


@pytest.fixture
def fake_obs_process(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """Start a real process whose name is 'obs' (a copy of sleep), with a given XDG_CONFIG_HOME."""
    procs: list[subprocess.Popen[bytes]] = []
    exe = tmp_path / "bin" / "obs"
    exe.parent.mkdir()
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", exe)

    def start(xdg: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "XDG_CONFIG_HOME": str(xdg)}
        proc = subprocess.Popen([str(exe), "60"], env=env)
        procs.append(proc)
        for _ in range(100):  # wait until the kernel shows the new name
            try:
                if Path(f"/proc/{proc.pid}/comm").read_text().strip() == "obs":
                    break
            except OSError:
                pass
            time.sleep(0.01)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def python_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OBS_FACESWAP_CONFIG",)}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


PY = sys.executable
