"""Where OBS Studio is on this machine (standard library only): its executable, its per-user
config folder, and whether it is running. Shared by the installer's script registration
(``obs_register.py``) and ``obs-faceswap doctor``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from obs_faceswap.config import user_config_base

OBS_PROCESS_NAMES = ("obs", "OBS", "obs64.exe", "obs32.exe", "obs.exe")
FLATPAK_CONFIG = Path(".var/app/com.obsproject.Studio/config/obs-studio")


def find_obs() -> Path | None:
    """The OBS Studio executable: on PATH, or in its usual install folder."""
    for name in ("obs", "obs64", "obs64.exe"):
        found = shutil.which(name)
        if found:
            return Path(found)
    candidates = [
        Path("/Applications/OBS.app/Contents/MacOS/OBS"),
        Path(os.environ.get("ProgramFiles", r"C:\Program Files")) / "obs-studio" / "bin" / "64bit" / "obs64.exe",
        Path("/var/lib/flatpak/exports/bin/com.obsproject.Studio"),
        Path.home() / ".local/share/flatpak/exports/bin/com.obsproject.Studio",
    ]
    return next((p for p in candidates if p.exists()), None)


def obs_config_dir(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """OBS Studio's per-user config folder (the one holding ``basic/scenes``)."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    native = user_config_base(platform, env) / "obs-studio"
    if platform.startswith("win") or platform == "darwin":
        return native
    flatpak = Path(env.get("HOME") or os.path.expanduser("~")) / FLATPAK_CONFIG
    if not native.exists() and flatpak.exists():
        return flatpak
    return native


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    def norm(p: str | os.PathLike[str]) -> str:
        return os.path.normcase(os.path.realpath(os.path.expanduser(str(p))))

    return norm(a) == norm(b)


def _proc_environ(pid: str) -> dict[str, str] | None:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def running_obs(obs_dir: Path | None = None) -> list[int]:
    """PIDs of running OBS Studio processes that may rewrite ``obs_dir``'s scene collections.

    On Linux an OBS whose environment points at another config folder (another
    ``XDG_CONFIG_HOME``) is not counted; one whose environment cannot be read is.
    """
    if sys.platform.startswith("linux") and Path("/proc/self/comm").exists():
        pids: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm not in OBS_PROCESS_NAMES:
                continue
            if obs_dir is not None:
                env = _proc_environ(entry.name)
                if env is not None and not same_path(obs_config_dir("linux", env), obs_dir):
                    continue
            pids.append(int(entry.name))
        return sorted(pids)
    try:
        if sys.platform.startswith("win"):
            out = subprocess.run(["tasklist", "/FO", "CSV", "/NH"], capture_output=True, text=True,
                                 timeout=20).stdout
            pids = []
            for line in out.splitlines():
                cells = [c.strip('"') for c in line.split('","')]
                if len(cells) > 1 and cells[0].lower() in ("obs64.exe", "obs32.exe", "obs.exe"):
                    pids.append(int(cells[1].strip('"')))
            return pids
        out = subprocess.run(["ps", "-axo", "pid=,comm="], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    pids = []
    for line in out.splitlines():
        pid, _, comm = line.strip().partition(" ")
        if os.path.basename(comm.strip()) in OBS_PROCESS_NAMES and pid.isdigit():
            pids.append(int(pid))
    return pids
