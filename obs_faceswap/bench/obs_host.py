"""A real OBS Studio under Xvfb with software GL, driven over obs-websocket 5 (obsws-python).

The one place that starts a headless OBS: ``obs-faceswap bench obs`` and the real-OBS tests
(``tests/obs/harness.py``) both use :class:`HeadlessObs`. Each instance gets a fresh
XDG_CONFIG_HOME (global.ini + a profile with the canvas size + a scene collection that lists our
OBS script under modules/scripts-tool), a free X display and a free websocket port. It is judged
by log lines and websocket answers, never by OBS's exit code (29.0.2 sometimes segfaults in Qt at
exit under Xvfb, after the filters' destroy ran).

Ready means more than "the port answers": obs-websocket accepts connections while OBS is still
loading (requests then fail with "NotReady", 207), so :meth:`HeadlessObs.start` waits until the
scene lists every configured source and, when the collection lists our script, until the script
has registered its filter kinds.
"""

from __future__ import annotations

import base64
import json
import logging
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

import obs_faceswap

# the OBS script at the project root (it re-exports obs_faceswap.obs.script)
SCRIPT = Path(obs_faceswap.__file__).resolve().parents[1] / "obs_faceswap_obs.py"
LOG_TAG = "[obs-faceswap]"
SCENE = "Scene"
# our filter kinds, as the script logs them once registered ("registered filter <id> (<name>)")
FILTER_KINDS = ("obs_faceswap_video", "obs_faceswap_video_async", "obs_faceswap_audio")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_programs(*extra: str) -> list[str]:
    """The programs a headless OBS needs (``obs``, ``Xvfb``, plus ``extra``) that are not installed."""
    return [t for t in ("obs", "Xvfb", *extra) if shutil.which(t) is None]


def write_config(root: Path, *, port: int, sources: list[dict[str, Any]], record_dir: Path,
                 width: int = 640, height: int = 360, script: Path | None = SCRIPT) -> None:
    """OBS's config under ``root`` (its XDG_CONFIG_HOME): websocket on ``port`` without auth, a
    ``width`` x ``height`` canvas at 30 fps, and one scene holding ``sources`` (each an OBS source
    dict: id, name, settings), every item at the top left, unscaled; ``script`` loaded as a script."""
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
        "name": "Test", "current_scene": SCENE, "current_program_scene": SCENE,
        "scene_order": [{"name": SCENE}], "groups": [], "transitions": [],
        "current_transition": "Fade", "transition_duration": 300, "quick_transitions": [],
        "modules": {"scripts-tool": [{"path": str(script), "settings": {}}] if script else []},
        "sources": [
            *({"versioned_id": s["id"], "enabled": True, "volume": 1.0, "muted": False, "filters": [], **s}
              for s in sources),
            {"id": "scene", "versioned_id": "scene", "name": SCENE, "enabled": True,
             "settings": {"id_counter": len(sources), "custom_size": False, "items": items}},
        ],
    }
    (base / "basic" / "scenes" / "Test.json").write_text(json.dumps(collection, indent=1))


class HeadlessObs:
    """Start/stop Xvfb + OBS; websocket helpers; the OBS log."""

    def __init__(self, workdir: Path, sources: list[dict[str, Any]], env: dict[str, str],
                 screen: str = "1280x800x24", canvas: tuple[int, int] = (640, 360),
                 script: Path | None = SCRIPT) -> None:
        self.screen = screen
        self.workdir = workdir
        self.cfg = workdir / "xdg"
        self.record_dir = workdir / "recordings"
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.sources = [str(s["name"]) for s in sources]
        self.script = script
        write_config(self.cfg, port=self.port, sources=sources, record_dir=self.record_dir,
                     width=canvas[0], height=canvas[1], script=script)
        self.extra_env = env
        self.xvfb: subprocess.Popen[bytes] | None = None
        self.obs: subprocess.Popen[bytes] | None = None
        self.display = ""
        self.client: Any = None

    # -------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 120.0) -> None:
        """Start Xvfb and OBS and return once OBS is ready (see the module docstring); raises
        ``RuntimeError`` with the reason (OBS exited, or what was still missing at ``timeout``)."""
        r, w = os.pipe()
        self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", self.screen,
                                      "-nolisten", "tcp"], pass_fds=(w,), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            number = f.readline().strip()
        if not number.isdigit():
            raise RuntimeError("Xvfb did not start (no display number)")
        self.display = ":" + number
        # opencv-python points Qt at its own plugins when imported: OBS must not inherit that
        env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
        env.update(DISPLAY=self.display, LIBGL_ALWAYS_SOFTWARE="1", XDG_CONFIG_HOME=str(self.cfg), **self.extra_env)
        with open(self.workdir / "obs_stdout.log", "wb") as out:
            self.obs = subprocess.Popen(
                ["obs", "--multi", "--disable-updater", "--disable-missing-files-check", "--collection", "Test",
                 "--profile", "Test", "--scene", SCENE],
                cwd="/usr/bin", env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        self.client = self._connect(deadline)
        self._wait_loaded(deadline)

    def _alive(self) -> None:
        assert self.obs is not None
        if self.obs.poll() is not None:
            raise RuntimeError(f"OBS exited with {self.obs.returncode}; log:\n{self.log_text()[-3000:]}")

    def _connect(self, deadline: float) -> Any:
        """An identified obs-websocket client; retried while the port does not answer yet or the
        handshake times out (OBS busy loading), until ``deadline``."""
        import obsws_python as obsws

        last: Exception | None = None
        quiet = logging.getLogger("obsws_python")  # it logs a traceback for every refused attempt
        was, quiet.disabled = quiet.disabled, True
        try:
            while time.monotonic() < deadline:
                self._alive()
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=2.0):
                        pass  # listening: now the websocket handshake
                    return obsws.ReqClient(host="127.0.0.1", port=self.port, password="",
                                           timeout=max(5.0, min(30.0, deadline - time.monotonic())))
                except Exception as exc:  # noqa: BLE001  (not listening yet, or no Hello in time)
                    last = exc
                    time.sleep(0.25)
        finally:
            quiet.disabled = was
        raise RuntimeError(f"obs-websocket on port {self.port} did not answer in time: {last}")

    def _wait_loaded(self, deadline: float) -> None:
        """Until the scene lists every configured source (requests answer "NotReady" while OBS
        loads) and our script, when listed, registered its filter kinds."""
        missing: list[str] = ["the scene"]
        while time.monotonic() < deadline:
            self._alive()
            try:
                items = self.call("GetSceneItemList", {"sceneName": SCENE})["sceneItems"]
            except Exception as exc:  # noqa: BLE001  (207 NotReady / 600 scene not loaded yet)
                missing = [f"the scene ({exc})"]
            else:
                shown = {str(i.get("sourceName")) for i in items}
                missing = [f"source {n!r}" for n in self.sources if n not in shown]
                if self.script is not None:
                    log = self.log_text()
                    if "Traceback" in log:  # the script failed: waiting longer would only hide why
                        raise RuntimeError(f"Python traceback in the OBS log while loading:\n{log[-3000:]}")
                    missing += [f"our filter {k}" for k in FILTER_KINDS if f"registered filter {k} " not in log]
                if not missing:
                    return
            time.sleep(0.25)
        raise RuntimeError(f"OBS not ready in time: still waiting for {', '.join(missing)}; "
                           f"ours in the log: {self.our_log()[-5:]}")

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

    def __enter__(self) -> HeadlessObs:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

    def screenshot(self, source: str, attempts: int = 5, width: int | None = None) -> np.ndarray:
        """The source's own output, BGR uint8: at its native size, or scaled by OBS to ``width``
        (then sent as BMP: quick to encode). OBS answers "Failed to render screenshot" now and
        then when its render thread is late (a loaded machine): only that answer is retried, up
        to ``attempts`` times; every other error is raised at once."""
        request: dict[str, Any] = {"sourceName": source, "imageFormat": "png"}
        if width is not None:
            request.update(imageFormat="bmp", imageWidth=int(width))
        for attempt in range(attempts):
            try:
                r = self.call("GetSourceScreenshot", request)
                break
            except Exception as exc:
                if "Failed to render screenshot" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.2)
        png = base64.b64decode(r["imageData"].split(",", 1)[1])
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise RuntimeError(f"undecodable screenshot of {source!r}")
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
