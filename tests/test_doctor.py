"""``obs-faceswap doctor`` run for real on this machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def doctor(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OBS_FACESWAP_CONFIG": str(cfg)}
    return subprocess.run([sys.executable, "-m", "obs_faceswap", "doctor", *extra], capture_output=True,
                          text=True, env=env, timeout=120, cwd=str(ROOT))


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def test_json_report_of_this_machine(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"python": sys.executable, "project_root": str(ROOT)}))
    res = doctor(cfg, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["usable"] is True
    checks = by_name(report)

    ort = checks["onnxruntime"]
    assert "CPUExecutionProvider" in ort["data"]["usable"]  # it really ran a model on the CPU
    worker = checks["worker config"]
    assert worker["status"] == "ok" and worker["data"]["python"] == sys.executable
    # what decides the exit code is marked as such even when it passes
    assert {name for name, c in checks.items() if c["essential"]} == {"python packages", "onnxruntime",
                                                                      "worker config"}
    assert worker["data"]["python_version"] == ".".join(map(str, sys.version_info[:3]))

    if shutil.which("ffmpeg"):
        ff = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split()[2]
        assert checks["ffmpeg"]["status"] == "ok" and checks["ffmpeg"]["data"]["version"] == ff
    else:
        assert checks["ffmpeg"]["status"] == "warn" and "apt install ffmpeg" in checks["ffmpeg"]["fix"]

    obs = shutil.which("obs")
    if obs:
        version = subprocess.run([obs, "--version"], capture_output=True, text=True, timeout=60).stdout
        assert checks["OBS Studio"]["data"]["version"] in version  # e.g. 29.0.2 on Debian 12
        py = checks["OBS Python"]
        assert py["status"] == "ok" and py["data"]["version"].startswith("3.")
        assert "libpython" in py["data"]["source"]
    else:
        assert checks["OBS Studio"]["status"] == "warn" and "obsproject.com" in checks["OBS Studio"]["fix"]

    try:
        import sounddevice as sd
    except OSError:
        assert checks["PortAudio"]["status"] == "warn" and "libportaudio2" in checks["PortAudio"]["fix"]
    else:
        assert checks["PortAudio"]["data"]["version"] == sd.get_portaudio_version()[1].split(", revision")[0]


def test_missing_worker_config_is_essential_and_says_how_to_fix(tmp_path: Path) -> None:
    res = doctor(tmp_path / "absent.json")
    assert res.returncode == 1
    line = next(ln for ln in res.stdout.splitlines() if "worker config" in ln)
    assert line.split()[0] == "FAIL"
    assert "install.sh" in res.stdout and "NOT usable" in res.stdout


def test_a_worker_python_that_cannot_import_the_project(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"python": str(tmp_path / "gone" / "python")}))
    report = json.loads(doctor(cfg, "--json").stdout)
    worker = by_name(report)["worker config"]
    assert worker["status"] == "FAIL" and "cannot import" in worker["detail"]
    assert report["usable"] is False
