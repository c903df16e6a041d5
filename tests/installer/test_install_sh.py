"""installer/install.sh under bash: the dry-run plan, and a real offline run that is idempotent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installer.conftest import ROOT, python_env

INSTALL = ROOT / "installer" / "install.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None or sys.platform.startswith("win"),
                                reason="install.sh is the Linux/macOS installer")


def run_install(args: list[str], xdg: Path, cfg: Path) -> subprocess.CompletedProcess[str]:
    env = python_env(XDG_CONFIG_HOME=str(xdg), OBS_FACESWAP_CONFIG=str(cfg), PYTHON=sys.executable)
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(xdg.parent))


def test_help() -> None:
    res = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0
    for flag in ("--venv", "--dry-run", "--gpu", "--cpu", "--no-obs"):
        assert flag in res.stdout
    bad = subprocess.run(["bash", str(INSTALL), "--bogus"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unknown option: --bogus" in bad.stderr


def test_dry_run_prints_the_plan_and_changes_nothing(obs_home: Path, obs_script: Path, tmp_path: Path) -> None:
    venv = tmp_path / "newvenv"
    cfg = tmp_path / "cfg" / "config.json"
    collection = obs_home / "obs-studio/basic/scenes/Streaming.json"
    before = collection.read_bytes()
    res = run_install(["--dry-run", "--venv", str(venv), "--script", str(obs_script)], obs_home, cfg)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "dry run: nothing will be changed" in out
    assert f"-m venv {venv}" in out
    assert "pip install -e" in out
    assert "-m obs_faceswap.config --write" in out and f"python={venv}/bin/python" in out
    assert "would add" in out and str(obs_script) in out
    expected_build = "gpu" if shutil.which("nvidia-smi") and sys.platform.startswith("linux") else "cpu"
    assert f"onnxruntime:  {expected_build}" in out
    assert not venv.exists() and not cfg.exists()
    assert collection.read_bytes() == before
    forced = run_install(["--dry-run", "--gpu", "--venv", str(venv), "--no-obs", "--no-doctor"], obs_home, cfg)
    assert forced.returncode == 0 and "onnxruntime:  gpu" in forced.stdout
    assert "pip uninstall -y onnxruntime" in forced.stdout and "onnxruntime-gpu" in forced.stdout


def test_real_run_twice_writes_config_registers_once(obs_home: Path, tmp_path: Path) -> None:
    """The venv running these tests stands in for the worker's venv (--no-install: no network);
    the script registered is the project's own OBS script, found by the installer."""
    obs_script = ROOT / "obs_faceswap_obs.py"
    assert obs_script.is_file()
    venv = Path(sys.prefix)
    if not (venv / "bin" / "python").exists():
        msg = "tests are not running inside a virtual environment"
        if os.environ.get("CI"):  # CI runs them in .venv (.ci/run): anything else is a broken CI
            pytest.fail(msg)
        pytest.skip(msg)
    cfg = tmp_path / "cfg" / "config.json"
    collection = obs_home / "obs-studio/basic/scenes/Streaming.json"
    args = ["--venv", str(venv), "--no-install", "--no-doctor"]

    first = run_install(args, obs_home, cfg)
    assert first.returncode == 0, first.stdout + first.stderr
    stored = json.loads(cfg.read_text())
    assert stored["python"] == f"{venv}/bin/python" and stored["project_root"] == str(ROOT)
    assert stored["version"] and stored["models_dir"]
    assert [e["path"] for e in json.loads(collection.read_text())["modules"]["scripts-tool"]].count(
        str(obs_script)) == 1
    state = (collection.read_bytes(), cfg.read_bytes(), sorted(os.listdir(collection.parent)),
             cfg.stat().st_mtime_ns, collection.stat().st_mtime_ns)

    second = run_install(args, obs_home, cfg)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "unchanged" in second.stdout and "already registered" in second.stdout
    assert (collection.read_bytes(), cfg.read_bytes(), sorted(os.listdir(collection.parent)),
            cfg.stat().st_mtime_ns, collection.stat().st_mtime_ns) == state
