"""Register the obs-faceswap OBS script in the user's current OBS scene collection (stdlib only).

OBS keeps the scripts of the Tools → Scripts dialog in the scene collection JSON, under
``"modules": {"scripts-tool": [{"path": ..., "settings": {}}]}``, and rewrites that file when it
exits. So the entry is added only while no OBS using that config folder runs, after a
timestamped backup of the file; when the script is already listed nothing is touched.

    python -m obs_faceswap.install.obs_register --script PATH [--obs-config DIR] [--dry-run] [--remove]

Exit codes: 0 registered (or already), 3 OBS is running, 4 no scene collection found,
2 bad input. In the 3 and 4 cases the manual Tools → Scripts steps are printed.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obs_faceswap.config import write_text_atomic
from obs_faceswap.install.obs_discovery import obs_config_dir, running_obs, same_path

SCRIPTS_KEY = "scripts-tool"
BACKUP_TAG = "obs-faceswap-backup"
# Process names of OBS Studio: Linux (also Flatpak), macOS app binary, Windows 64/32-bit.
# The OBS script shipped at the project root (it re-exports obs_faceswap.obs.script).
SCRIPT_CANDIDATES = ("obs_faceswap_obs.py",)

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_OBS_RUNNING = 3
EXIT_NO_COLLECTION = 4


class RegisterError(Exception):
    """Something the user must fix before the script can be registered automatically."""


@dataclass(frozen=True)
class RegisterResult:
    status: str  # added | already | removed | absent | would-add | would-remove
    collection: Path
    backup: Path | None = None

    @property
    def changed(self) -> bool:
        return self.status in ("added", "removed")


def current_collection(obs_dir: Path) -> Path:
    """The scene collection file OBS opens next: ``[Basic] SceneCollectionFile`` of
    ``user.ini`` (OBS 31+) or ``global.ini``; else the only collection there is."""
    scenes = obs_dir / "basic" / "scenes"
    for ini_name in ("user.ini", "global.ini"):
        ini = obs_dir / ini_name
        if not ini.is_file():
            continue
        parser = configparser.RawConfigParser(strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(ini.read_text(encoding="utf-8-sig", errors="replace"))
        except configparser.Error:
            continue
        name = parser.get("Basic", "SceneCollectionFile", fallback="").strip()
        if name:
            path = scenes / f"{name}.json"
            if path.is_file():
                return path
    found = sorted(scenes.glob("*.json")) if scenes.is_dir() else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise RegisterError(f"no OBS scene collection in {scenes} (start OBS once, then close it)")
    names = ", ".join(p.stem for p in found)
    raise RegisterError(f"cannot tell which OBS scene collection is current in {scenes} ({names})")


def find_obs_script(root: Path) -> Path | None:
    """The OBS script shipped in the project checkout ``root``, if any."""
    for rel in SCRIPT_CANDIDATES:
        p = root / rel
        if p.is_file():
            return p.resolve()
    return None


def _entries(doc: dict[str, Any]) -> list[Any]:
    modules = doc.get("modules")
    if not isinstance(modules, dict):
        return []
    scripts = modules.get(SCRIPTS_KEY)
    return scripts if isinstance(scripts, list) else []


def is_registered(doc: dict[str, Any], script: Path) -> bool:
    return any(isinstance(e, dict) and e.get("path") and same_path(e["path"], script) for e in _entries(doc))


def _backup(collection: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = collection.with_name(f"{collection.name}.{BACKUP_TAG}-{stamp}")
    n = 1
    while backup.exists():
        backup = collection.with_name(f"{collection.name}.{BACKUP_TAG}-{stamp}-{n}")
        n += 1
    shutil.copy2(collection, backup)
    return backup


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(doc, indent=4, ensure_ascii=False))


def _load(collection: Path) -> dict[str, Any]:
    try:
        doc = json.loads(collection.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise RegisterError(f"cannot read OBS scene collection {collection}: {exc}") from None
    if not isinstance(doc, dict):
        raise RegisterError(f"{collection} is not an OBS scene collection (expected a JSON object)")
    return doc


def register_script(collection: Path, script: Path, *, dry_run: bool = False, remove: bool = False,
                    check_running: bool = True, obs_dir: Path | None = None) -> RegisterResult:
    """Add (or with ``remove`` take out) ``script`` in ``collection``'s Tools → Scripts list.

    Refuses with ``RegisterError`` while OBS runs; backs the file up before changing it;
    changes nothing when there is nothing to change.
    """
    script = Path(script).resolve()
    doc = _load(collection)
    present = is_registered(doc, script)
    if present != remove:  # nothing to do
        return RegisterResult("already" if present else "absent", collection)
    if dry_run:
        return RegisterResult("would-remove" if remove else "would-add", collection)
    if check_running:
        pids = running_obs(obs_dir if obs_dir is not None else collection.parents[2])
        if pids:
            raise RegisterError(f"OBS Studio is running (pid {', '.join(map(str, pids))}); it rewrites the "
                                "scene collection when it exits, so close OBS and run this again")
    modules = doc.get("modules")
    if not isinstance(modules, dict):
        modules = {}
        doc["modules"] = modules
    scripts = modules.get(SCRIPTS_KEY)
    if not isinstance(scripts, list):
        scripts = []
        modules[SCRIPTS_KEY] = scripts
    backup = _backup(collection)
    if remove:
        scripts[:] = [e for e in scripts if not (isinstance(e, dict) and e.get("path")
                                                 and same_path(e["path"], script))]
    else:
        scripts.append({"path": str(script), "settings": {}})
    _write_json(collection, doc)
    return RegisterResult("removed" if remove else "added", collection, backup)


def manual_steps(script: Path | None, python: str | None = None) -> str:
    """What to click in OBS to load the script by hand."""
    lines = [
        "To load the script in OBS by hand:",
        "  1. Open OBS Studio and choose Tools → Scripts.",
    ]
    step = 2
    if not sys.platform.startswith("linux"):
        lines.append(f"  {step}. On the 'Python Settings' tab, set the Python install path to a Python 3 that "
                     "matches your OBS (see 'obs-faceswap doctor').")
        step += 1
    lines.append(f"  {step}. On the 'Scripts' tab press '+' and choose:")
    lines.append(f"       {script if script else '<project>/obs_faceswap_obs.py'}")
    lines.append(f"  {step + 1}. Add the 'Face Swap' filter to your camera (right-click the source → Filters).")
    if python:
        lines.append(f"  The worker will run with {python} (from the obs-faceswap config).")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m obs_faceswap.install.obs_register",
                                     description="Add the obs-faceswap script to OBS's current scene collection.")
    parser.add_argument("--script", help="the OBS script file (default: found in the project checkout)")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="project checkout")
    parser.add_argument("--obs-config", help=f"OBS config folder (default: {obs_config_dir()})")
    parser.add_argument("--collection", help="scene collection file or name (default: the current one)")
    parser.add_argument("--remove", action="store_true", help="take the script out again")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    args = parser.parse_args(argv)

    script = Path(args.script).expanduser().resolve() if args.script else find_obs_script(Path(args.root))
    if script is None or not script.is_file():
        print(f"obs-faceswap: OBS script not found ({args.script or 'looked in ' + args.root}); "
              "pass --script PATH", file=sys.stderr)
        print(manual_steps(None), file=sys.stderr)
        return EXIT_BAD_INPUT
    obs_dir = Path(args.obs_config).expanduser() if args.obs_config else obs_config_dir()
    try:
        if args.collection and (args.collection.endswith(".json") or os.sep in args.collection):
            collection = Path(args.collection).expanduser()
        elif args.collection:
            collection = obs_dir / "basic" / "scenes" / f"{args.collection}.json"
        else:
            collection = current_collection(obs_dir)
        result = register_script(collection, script, dry_run=args.dry_run, remove=args.remove, obs_dir=obs_dir)
    except RegisterError as exc:
        print(f"obs-faceswap: cannot register the OBS script automatically: {exc}", file=sys.stderr)
        print(manual_steps(script), file=sys.stderr)
        return EXIT_OBS_RUNNING if "running" in str(exc) else EXIT_NO_COLLECTION
    messages = {
        "added": f"registered {script} in OBS scene collection {collection} (backup: {result.backup})",
        "already": f"already registered in {collection}: nothing changed",
        "removed": f"removed {script} from {collection} (backup: {result.backup})",
        "absent": f"not registered in {collection}: nothing changed",
        "would-add": f"would add {script} to {collection} (after a backup; OBS must be closed)",
        "would-remove": f"would remove {script} from {collection} (after a backup)",
    }
    print(messages[result.status])
    if result.status.startswith("would") and running_obs(obs_dir):
        print("note: OBS Studio is running now; close it before the real run")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
