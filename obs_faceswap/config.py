"""The user's obs-faceswap config file (standard library only: the OBS script imports it).

The installer writes it; the OBS script reads ``python`` from it to start the worker (inside
OBS ``sys.executable`` is meaningless), and ``doctor`` reports it.

Location: ``$OBS_FACESWAP_CONFIG`` when set, else
``~/.config/obs-faceswap/config.json`` (Linux, honouring ``$XDG_CONFIG_HOME``),
``%APPDATA%\\obs-faceswap\\config.json`` (Windows),
``~/Library/Application Support/obs-faceswap/config.json`` (macOS).

Command line (used by the installers)::

    python -m obs_faceswap.config --path
    python -m obs_faceswap.config --show
    python -m obs_faceswap.config --write python=/path/.venv/bin/python project_root=/path
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ENV_VAR = "OBS_FACESWAP_CONFIG"
APP_DIR = "obs-faceswap"
FILE_NAME = "config.json"

# Keys the project knows. Unknown keys found in the file are kept (newer versions may add some).
KEYS: dict[str, str] = {
    "python": "interpreter of the worker's virtual environment (the OBS script starts the worker with it)",
    "project_root": "folder of the obs-faceswap checkout the worker runs from",
    "models_dir": "folder holding downloaded model weights",
    "version": "obs-faceswap version that wrote this file",
}


def user_config_base(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The per-user folder where applications keep their config on this (or the given) platform:
    %APPDATA% on Windows, ~/Library/Application Support on macOS, $XDG_CONFIG_HOME or ~/.config."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~"))
    if platform.startswith("win"):
        base = env.get("APPDATA")
        return Path(base) if base else home / "AppData" / "Roaming"
    if platform == "darwin":
        return home / "Library" / "Application Support"
    xdg = env.get("XDG_CONFIG_HOME")
    return Path(xdg) if xdg else home / ".config"


def user_data_dir(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The per-user folder of obs-faceswap's data (downloaded models of a non-checkout install):
    %LOCALAPPDATA% on Windows, ~/Library/Application Support on macOS, $XDG_DATA_HOME or ~/.local/share."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~"))
    if platform.startswith("win"):
        base = env.get("LOCALAPPDATA")
        return (Path(base) if base else home / "AppData" / "Local") / APP_DIR
    if platform == "darwin":
        return home / "Library" / "Application Support" / APP_DIR
    xdg = env.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else home / ".local" / "share") / APP_DIR


def config_dir(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The per-user folder of obs-faceswap's config on this (or the given) platform."""
    return user_config_base(platform, env) / APP_DIR


def config_path(platform: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Path of the config file: ``$OBS_FACESWAP_CONFIG`` or the platform default."""
    env = os.environ if env is None else env
    override = env.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    return config_dir(platform, env) / FILE_NAME


def load_config(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read the config; a missing file is an empty config.

    Raises ``ValueError`` naming the file when it exists but is not a JSON object.
    """
    p = Path(path) if path is not None else config_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc}); fix it or delete it and run the installer again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object, found {type(data).__name__}")
    return data


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` atomically: a temp file in the same folder, fsync, rename. Returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p


def save_config(values: Mapping[str, Any], path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``values`` atomically (temp file in the same folder, fsync, rename). Returns the path."""
    p = Path(path) if path is not None else config_path()
    return write_text_atomic(p, json.dumps(dict(values), indent=2, sort_keys=True) + "\n")


def update_config(changes: Mapping[str, Any], path: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """Merge ``changes`` into the stored config. Returns (path, changed); nothing is written when
    every value is already stored (so a second install run leaves the file untouched)."""
    p = Path(path) if path is not None else config_path()
    current = load_config(p)
    merged = {**current, **changes}
    if merged == current and p.exists():
        return p, False
    return save_config(merged, p), True


def backup_if_elsewhere(changes: Mapping[str, Any], path: str | os.PathLike[str] | None = None) -> Path | None:
    """Before ``changes`` replace a config that belongs to another installation (another checkout or
    worker interpreter), copy it aside; the backup's path, or None when nothing of that kind changes."""
    p = Path(path) if path is not None else config_path()
    current = load_config(p)
    moved = [k for k in ("project_root", "python") if k in changes and current.get(k) not in (None, "", changes[k])]
    if not moved:
        return None
    backup = p.with_name(f"{p.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    write_text_atomic(backup, p.read_text(encoding="utf-8"))
    return backup


def worker_python(config: Mapping[str, Any] | None = None) -> str | None:
    """The worker interpreter named in the config, or None when the installer has not run."""
    cfg = load_config() if config is None else config
    value = cfg.get("python")
    return str(value) if value else None


def _parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m obs_faceswap.config",
                                     description="Show or write the obs-faceswap user config.")
    parser.add_argument("--config", help=f"config file (default: ${ENV_VAR} or {config_path()})")
    parser.add_argument("--path", action="store_true", help="print the config file's path")
    parser.add_argument("--show", action="store_true", help="print the config as JSON")
    parser.add_argument("--get", metavar="KEY", help="print one value (empty when unset)")
    parser.add_argument("--write", nargs="+", metavar="KEY=VALUE",
                        help="store values (known keys: " + ", ".join(KEYS) + ")")
    args = parser.parse_args(argv)
    path = Path(args.config).expanduser() if args.config else config_path()
    try:
        if args.write:
            changes = _parse_assignments(args.write)
            previous = load_config(path)
            backup = backup_if_elsewhere(changes, path)
            p, changed = update_config(changes, path)
            print(f"{'wrote' if changed else 'unchanged'} {p}")
            if backup is not None:
                print(f"note: the config pointed at another installation ({previous.get('project_root') or previous.get('python')}); "
                      f"kept a copy in {backup}")
        if args.path:
            print(path)
        if args.get:
            value = load_config(path).get(args.get, "")
            print(value)
        if args.show or not (args.write or args.path or args.get):
            print(json.dumps(load_config(path), indent=2, sort_keys=True))
    except (OSError, ValueError) as exc:
        print(f"obs-faceswap config: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
