"""Adding the OBS script to a real-layout OBS config: once, after a backup, never while OBS runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from obs_faceswap.install import obs_register as reg
from tests.installer.conftest import PY, python_env, write_obs_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and XDG paths")


def scripts_of(collection: Path) -> list[str]:
    return [e["path"] for e in json.loads(collection.read_text())["modules"]["scripts-tool"]]


def backups(collection: Path) -> list[Path]:
    return sorted(collection.parent.glob(f"{collection.name}.{reg.BACKUP_TAG}-*"))


def run_cli(args: list[str], xdg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "obs_faceswap.install.obs_register", *args], capture_output=True, text=True,
                          env=python_env(XDG_CONFIG_HOME=str(xdg)), timeout=60)


def test_finds_the_current_collection_from_global_ini_and_user_ini(tmp_path: Path) -> None:
    obs = write_obs_config(tmp_path / "a", collection="Streaming", others=("Other",))
    assert reg.current_collection(obs) == obs / "basic/scenes/Streaming.json"
    # OBS 31+ keeps the current collection in user.ini
    (obs / "user.ini").write_text("[Basic]\nSceneCollectionFile=Other\n")
    assert reg.current_collection(obs) == obs / "basic/scenes/Other.json"
    assert reg.obs_config_dir("linux", {"HOME": "/h", "XDG_CONFIG_HOME": str(tmp_path / "a")}) == obs
    assert reg.obs_config_dir("darwin", {"HOME": "/h"}) == Path("/h/Library/Application Support/obs-studio")
    assert reg.obs_config_dir("win32", {"APPDATA": "C:/U/AppData/Roaming"}) == Path("C:/U/AppData/Roaming/obs-studio")


def test_adds_once_with_a_backup_and_a_second_run_changes_nothing(obs_home: Path, obs_script: Path) -> None:
    collection = obs_home / "obs-studio/basic/scenes/Streaming.json"
    before = collection.read_bytes()

    first = run_cli(["--script", str(obs_script)], obs_home)
    assert first.returncode == 0, first.stderr
    assert "registered" in first.stdout
    assert scripts_of(collection) == ["/usr/share/obs/scripts/clock.lua", str(obs_script)]
    doc = json.loads(collection.read_text())
    assert doc["modules"]["auto-scene-switcher"] == {"active": False, "switches": []}  # the rest is kept
    assert doc["sources"][0]["name"] == "Scene"
    [backup] = backups(collection)
    assert backup.read_bytes() == before
    other = obs_home / "obs-studio/basic/scenes/Untitled.json"
    assert scripts_of(other) == ["/usr/share/obs/scripts/clock.lua"]  # only the current collection

    after_first = collection.read_bytes()
    mtime = collection.stat().st_mtime_ns
    second = run_cli(["--script", str(obs_script)], obs_home)
    assert second.returncode == 0, second.stderr
    assert "already registered" in second.stdout
    assert collection.read_bytes() == after_first and collection.stat().st_mtime_ns == mtime
    assert len(backups(collection)) == 1


def test_refuses_while_obs_runs_on_that_config_and_prints_the_manual_steps(
        obs_home: Path, obs_script: Path, fake_obs_process) -> None:  # type: ignore[no-untyped-def]
    collection = obs_home / "obs-studio/basic/scenes/Streaming.json"
    before = collection.read_bytes()
    proc = fake_obs_process(obs_home)

    assert proc.pid in reg.running_obs(obs_home / "obs-studio")
    res = run_cli(["--script", str(obs_script)], obs_home)
    assert res.returncode == reg.EXIT_OBS_RUNNING
    assert "OBS Studio is running" in res.stderr and str(proc.pid) in res.stderr
    assert "Tools → Scripts" in res.stderr and str(obs_script) in res.stderr
    assert collection.read_bytes() == before
    assert backups(collection) == []

    proc.kill()
    proc.wait()
    res = run_cli(["--script", str(obs_script)], obs_home)
    assert res.returncode == 0 and scripts_of(collection)[-1] == str(obs_script)


def test_an_obs_on_another_config_folder_does_not_block(obs_home: Path, obs_script: Path, tmp_path: Path,
                                                        fake_obs_process) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path / "other-xdg"
    write_obs_config(other)
    proc = fake_obs_process(other)
    assert proc.pid not in reg.running_obs(obs_home / "obs-studio")
    assert proc.pid in reg.running_obs(other / "obs-studio")
    collection = obs_home / "obs-studio/basic/scenes/Streaming.json"
    result = reg.register_script(collection, obs_script)
    assert result.status == "added"


def test_dry_run_and_remove(obs_home: Path, obs_script: Path) -> None:
    collection = obs_home / "obs-studio/basic/scenes/Streaming.json"
    before = collection.read_bytes()
    dry = run_cli(["--script", str(obs_script), "--dry-run"], obs_home)
    assert dry.returncode == 0 and "would add" in dry.stdout
    assert collection.read_bytes() == before and backups(collection) == []

    assert reg.register_script(collection, obs_script).status == "added"
    removed = reg.register_script(collection, obs_script, remove=True)
    assert removed.status == "removed" and removed.backup is not None
    assert scripts_of(collection) == ["/usr/share/obs/scripts/clock.lua"]
    assert reg.register_script(collection, obs_script, remove=True).status == "absent"


def test_no_collection_yet_says_to_start_obs_once(tmp_path: Path, obs_script: Path) -> None:
    (tmp_path / "empty" / "obs-studio").mkdir(parents=True)
    res = run_cli(["--script", str(obs_script)], tmp_path / "empty")
    assert res.returncode == reg.EXIT_NO_COLLECTION
    assert "start OBS once" in res.stderr and "Tools → Scripts" in res.stderr


def test_a_broken_collection_is_left_alone(obs_home: Path, obs_script: Path) -> None:
    collection = obs_home / "obs-studio/basic/scenes/Streaming.json"
    collection.write_text("{ not json")
    res = run_cli(["--script", str(obs_script)], obs_home)
    assert res.returncode != 0 and "cannot read OBS scene collection" in res.stderr
    assert collection.read_text() == "{ not json" and backups(collection) == []
