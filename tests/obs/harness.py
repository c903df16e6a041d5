"""A real OBS Studio under Xvfb with software GL, driven over obs-websocket (obsws-python).

One OBS per test session: a fresh XDG_CONFIG_HOME (global.ini + profile + a scene collection
that lists our script under modules/scripts-tool), a free X display and a free websocket port.
Judged by log lines and websocket answers, never by OBS's exit code (29.0.2 sometimes segfaults
in Qt at exit under Xvfb, after the filters' destroy ran).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "obs_faceswap_obs.py"
LOG_TAG = "[obs-faceswap]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(root: Path, *, port: int, sources: list[dict[str, Any]], record_dir: Path,
                 width: int = 640, height: int = 360) -> None:
    base = root / "obs-studio"
    (base / "basic" / "profiles" / "Test").mkdir(parents=True, exist_ok=True)
    (base / "basic" / "scenes").mkdir(parents=True, exist_ok=True)
    (base / "global.ini").write_text(
        "[General]\nFirstRun=true\nLastVersion=486539266\nEnableAutoUpdates=false\n"
        "[Basic]\nProfile=Test\nProfileDir=Test\nSceneCollection=Test\nSceneCollectionFile=Test\n"
        "ConfigOnNewProfile=false\n"
        f"[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\nServerPort={port}\nAlertsEnabled=false\n"
        "AuthRequired=false\nServerPassword=\n")
    (base / "basic" / "profiles" / "Test" / "basic.ini").write_text(
        f"[General]\nName=Test\n[Video]\nBaseCX={width}\nBaseCY={height}\nOutputCX={width}\nOutputCY={height}\n"
        "FPSType=0\nFPSCommon=30\n[Audio]\nSampleRate=48000\nChannelSetup=Mono\n"
        "[Output]\nMode=Simple\n"
        f"[SimpleOutput]\nFilePath={record_dir}\nRecFormat=mkv\nRecQuality=Stream\nRecEncoder=x264\n"
        "VBitrate=300\nABitrate=128\nPreset=ultrafast\nFileNameWithoutSpace=true\n")
    items = [{"name": s["name"], "id": i + 1, "visible": True, "locked": False, "rot": 0.0,
              "pos": {"x": 0.0, "y": 0.0}, "scale": {"x": 1.0, "y": 1.0}, "align": 5,
              "bounds_type": 0, "bounds_align": 0, "bounds": {"x": 0.0, "y": 0.0}}
             for i, s in enumerate(sources)]
    collection = {
        "name": "Test", "current_scene": "Scene", "current_program_scene": "Scene",
        "scene_order": [{"name": "Scene"}], "groups": [], "transitions": [],
        "current_transition": "Fade", "transition_duration": 300, "quick_transitions": [],
        "modules": {"scripts-tool": [{"path": str(SCRIPT), "settings": {}}]},
        "sources": [
            *({"versioned_id": s["id"], "enabled": True, "volume": 1.0, "muted": False, "filters": [], **s}
              for s in sources),
            {"id": "scene", "versioned_id": "scene", "name": "Scene", "enabled": True,
             "settings": {"id_counter": len(sources), "custom_size": False, "items": items}},
        ],
    }
    (base / "basic" / "scenes" / "Test.json").write_text(json.dumps(collection, indent=1))


class HeadlessObs:
    """Start/stop Xvfb + OBS; websocket helpers; the OBS log."""

    def __init__(self, workdir: Path, sources: list[dict[str, Any]], env: dict[str, str],
                 screen: str = "1280x800x24") -> None:
        self.screen = screen
        self.workdir = workdir
        self.cfg = workdir / "xdg"
        self.record_dir = workdir / "recordings"
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        write_config(self.cfg, port=self.port, sources=sources, record_dir=self.record_dir)
        self.extra_env = env
        self.xvfb: subprocess.Popen[bytes] | None = None
        self.obs: subprocess.Popen[bytes] | None = None
        self.display = ""
        self.client: Any = None

    # -------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 60.0) -> None:
        r, w = os.pipe()
        self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", self.screen,
                                      "-nolisten", "tcp"], pass_fds=(w,), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            self.display = ":" + f.readline().strip()
        # opencv-python points Qt at its own plugins when imported: OBS must not inherit that
        env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
        env.update(DISPLAY=self.display, LIBGL_ALWAYS_SOFTWARE="1", XDG_CONFIG_HOME=str(self.cfg), **self.extra_env)
        self.obs = subprocess.Popen(
            ["obs", "--multi", "--disable-updater", "--disable-missing-files-check", "--collection", "Test",
             "--profile", "Test", "--scene", "Scene"],
            cwd="/usr/bin", env=env, stdout=open(self.workdir / "obs_stdout.log", "wb"), stderr=subprocess.STDOUT)
        import obsws_python as obsws

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.obs.poll() is not None:
                raise RuntimeError(f"OBS exited with {self.obs.returncode}; log:\n{self.log_text()[-3000:]}")
            try:
                self.client = obsws.ReqClient(host="127.0.0.1", port=self.port, password="", timeout=15)
                return
            except Exception as exc:  # noqa: BLE001  (not listening yet)
                last = exc
                time.sleep(0.5)
        raise RuntimeError(f"obs-websocket did not answer within {timeout:.0f} s: {last}")

    def stop(self) -> None:
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception:  # noqa: BLE001
                pass
            self.client = None
        for proc, grace in ((self.obs, 20.0), (self.xvfb, 5.0)):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGINT if proc is self.obs else signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def worker_pids(self, *, spares: bool = False) -> list[int]:
        """Processes started by OBS whose command line runs the obs-faceswap worker: the serving ones
        (connected: they hold a socket), with ``spares`` also the warm spare waiting for its key."""
        assert self.obs is not None
        out = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.obs.pid and "obs_faceswap.worker" in cmd and (spares or _has_socket(d)):
                out.append(int(d.name))
        return out

    def shared_memory(self) -> list[str]:
        """Names of the /dev/shm segments OBS has mapped (ours start with 'ofs_')."""
        assert self.obs is not None
        try:
            maps = Path(f"/proc/{self.obs.pid}/maps").read_text()
        except OSError:
            return []
        return sorted({line.rsplit("/", 1)[1].split()[0] for line in maps.splitlines() if "/dev/shm/ofs_" in line})

    # -------------------------------------------------------------- log
    def log_path(self) -> Path | None:
        logs = sorted((self.cfg / "obs-studio" / "logs").glob("*.txt"), key=lambda p: p.stat().st_mtime)
        return logs[-1] if logs else None

    def log_text(self) -> str:
        p = self.log_path()
        return p.read_text(errors="replace") if p else ""

    def our_log(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if LOG_TAG in line]

    def wait_log(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_text().splitlines():
                if needle in line:
                    return line
            time.sleep(0.25)
        raise AssertionError(f"{needle!r} not in the OBS log within {timeout} s; ours:\n" + "\n".join(self.our_log()))

    # -------------------------------------------------------------- websocket helpers
    def call(self, request: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.client.send(request, data, raw=True) or {}

    def screenshot(self, source: str, attempts: int = 5) -> np.ndarray:
        """The source's own output (native size), BGR uint8. OBS answers "Failed to render
        screenshot" now and then when its render thread is late (a loaded machine): only that
        answer is retried, up to ``attempts`` times; every other error is raised at once."""
        for attempt in range(attempts):
            try:
                r = self.call("GetSourceScreenshot", {"sourceName": source, "imageFormat": "png"})
                break
            except Exception as exc:
                if "Failed to render screenshot" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.2)
        png = base64.b64decode(r["imageData"].split(",", 1)[1])
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None, "undecodable screenshot"
        return img

    def add_filter(self, source: str, name: str, kind: str, settings: dict[str, Any] | None = None) -> None:
        self.call("CreateSourceFilter", {"sourceName": source, "filterName": name, "filterKind": kind,
                                         "filterSettings": settings or {}})

    def filter_settings(self, source: str, name: str) -> dict[str, Any]:
        return self.call("GetSourceFilter", {"sourceName": source, "filterName": name})["filterSettings"]

    def set_filter_settings(self, source: str, name: str, settings: dict[str, Any]) -> None:
        self.call("SetSourceFilterSettings", {"sourceName": source, "filterName": name,
                                              "filterSettings": settings, "overlay": True})

    def set_filter_enabled(self, source: str, name: str, enabled: bool) -> None:
        self.call("SetSourceFilterEnabled", {"sourceName": source, "filterName": name, "filterEnabled": enabled})

    def wait_status(self, source: str, name: str, predicate: Any, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        status = ""
        while time.monotonic() < deadline:
            status = str(self.filter_settings(source, name).get("status", ""))
            if predicate(status):
                return status
            time.sleep(0.3)
        raise AssertionError(f"filter {name!r} status never matched; last: {status!r}")


def _has_socket(proc_dir: Path) -> bool:
    try:
        return any(os.readlink(fd).startswith("socket:") for fd in (proc_dir / "fd").iterdir())
    except OSError:
        return False


def have_tools() -> str:
    """'' when OBS, Xvfb and espeak-ng are installed, else what is missing."""
    missing = [t for t in ("obs", "Xvfb", "espeak-ng", "ffmpeg") if shutil.which(t) is None]
    return ", ".join(missing)
