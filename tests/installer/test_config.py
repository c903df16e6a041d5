"""The user config the installer writes and the OBS script reads."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from obs_faceswap import config
from tests.installer.conftest import PY, python_env


def test_default_locations_per_os() -> None:
    assert config.config_path("linux", {"HOME": "/home/u"}) == Path("/home/u/.config/obs-faceswap/config.json")
    assert config.config_path("linux", {"HOME": "/home/u", "XDG_CONFIG_HOME": "/x"}) == Path(
        "/x/obs-faceswap/config.json")
    assert config.config_path("darwin", {"HOME": "/Users/u"}) == Path(
        "/Users/u/Library/Application Support/obs-faceswap/config.json")
    assert config.config_path("win32", {"APPDATA": "C:/Users/u/AppData/Roaming"}) == Path(
        "C:/Users/u/AppData/Roaming/obs-faceswap/config.json")
    assert config.config_path("linux", {"HOME": "/h", "OBS_FACESWAP_CONFIG": "/tmp/c.json"}) == Path("/tmp/c.json")


def test_save_load_and_update_only_write_on_change(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.json"
    assert config.load_config(path) == {}
    config.save_config({"python": "/v/bin/python", "future_key": [1, 2]}, path)
    assert config.load_config(path) == {"python": "/v/bin/python", "future_key": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp file left behind
    mtime = path.stat().st_mtime_ns
    _, changed = config.update_config({"python": "/v/bin/python"}, path)
    assert not changed and path.stat().st_mtime_ns == mtime
    _, changed = config.update_config({"version": "0.1.0"}, path)
    assert changed and config.load_config(path)["future_key"] == [1, 2]  # unknown keys survive
    assert config.worker_python(config.load_config(path)) == "/v/bin/python"


def test_a_broken_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("[1, 2")
    with pytest.raises(ValueError, match="config.json"):
        config.load_config(path)


def test_command_line_write_and_get(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    env = python_env(OBS_FACESWAP_CONFIG=str(path))
    out = subprocess.run([PY, "-m", "obs_faceswap.config", "--write", "python=/a b/python", "project_root=/p"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert out.startswith("wrote")
    assert json.loads(path.read_text()) == {"python": "/a b/python", "project_root": "/p"}
    again = subprocess.run([PY, "-m", "obs_faceswap.config", "--write", "python=/a b/python"],
                           capture_output=True, text=True, env=env, check=True).stdout
    assert again.startswith("unchanged")
    got = subprocess.run([PY, "-m", "obs_faceswap.config", "--get", "python"], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert got.strip() == "/a b/python"
    bad = subprocess.run([PY, "-m", "obs_faceswap.config", "--write", "novalue"], capture_output=True, text=True,
                         env=env)
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
    assert os.access(path, os.R_OK)


def test_a_config_of_another_checkout_is_backed_up_before_it_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    config.save_config({"python": "/old/.venv/bin/python", "project_root": "/old"}, path)
    write = [PY, "-m", "obs_faceswap.config", "--config", str(path), "--write", "python=/new/.venv/bin/python",
             "project_root=/new"]
    res = subprocess.run(write, capture_output=True, text=True, env=python_env(), check=True)
    (backup,) = tmp_path.glob("config.json.*.bak")
    assert "another installation (/old)" in res.stdout and str(backup) in res.stdout
    assert json.loads(backup.read_text())["project_root"] == "/old"
    assert config.load_config(path)["project_root"] == "/new"
    again = subprocess.run(write, capture_output=True, text=True, env=python_env(), check=True)
    assert "unchanged" in again.stdout and "another installation" not in again.stdout  # a re-run backs nothing up
    assert len(list(tmp_path.glob("config.json.*.bak"))) == 1


def test_user_data_folder_per_os() -> None:
    assert config.user_data_dir("linux", {"HOME": "/h"}) == Path("/h/.local/share/obs-faceswap")
    assert config.user_data_dir("linux", {"HOME": "/h", "XDG_DATA_HOME": "/d"}) == Path("/d/obs-faceswap")
    assert config.user_data_dir("darwin", {"HOME": "/U"}) == Path("/U/Library/Application Support/obs-faceswap")
    assert config.user_data_dir("win32", {"LOCALAPPDATA": "C:/L"}) == Path("C:/L/obs-faceswap")
