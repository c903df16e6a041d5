"""``obs-faceswap doctor``: check that everything obs-faceswap needs is here, and say how to fix what is not.

Exit code 0 when face swapping can run (live and in OBS), 1 when something essential is missing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from obs_faceswap.install.obs_discovery import find_obs, obs_config_dir

OK, WARN, FAIL = "ok", "warn", "FAIL"
SKIP_PROVIDERS = ("AzureExecutionProvider",)  # remote endpoints, not a device that runs our models


@dataclass
class Check:
    name: str
    status: str  # ok | warn | FAIL
    detail: str
    fix: str = ""
    essential: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def _run(cmd: list[str], timeout: float = 20.0) -> tuple[int, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")})
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, str(exc)
    return proc.returncode, (proc.stdout or "") + (proc.stderr or "")


def obs_version_text(exe: Path) -> str:
    """``obs --version`` (Linux); the app bundle's Info.plist (macOS) or the file version (Windows),
    where a GUI build prints nothing to a console."""
    if sys.platform == "darwin" and ".app/" in str(exe):
        import plistlib

        plist = Path(str(exe).split(".app/")[0] + ".app") / "Contents" / "Info.plist"
        try:
            return str(plistlib.loads(plist.read_bytes()).get("CFBundleShortVersionString", ""))
        except (OSError, ValueError):
            return ""
    _rc, out = _run([str(exe), "--version"])
    if not re.search(r"\d+\.\d+\.\d+", out) and sys.platform.startswith("win"):
        _rc, out = _run(["powershell", "-NoProfile", "-Command", f"(Get-Item '{exe}').VersionInfo.ProductVersion"])
    return out


def check_obs() -> Check:
    exe = find_obs()
    if exe is None:
        return Check("OBS Studio", WARN, "not found",
                     "install OBS Studio 29 or newer (https://obsproject.com; Debian/Ubuntu: sudo apt install "
                     "obs-studio); 'obs-faceswap live' works without it")
    out = obs_version_text(exe)
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    if not m:
        return Check("OBS Studio", WARN, f"{exe}: could not read its version ({out.strip()[:80]!r})",
                     "run 'obs --version' yourself; obs-faceswap needs OBS 29 or newer", data={"path": str(exe)})
    version = ".".join(m.groups())
    data = {"path": str(exe), "version": version}
    if int(m.group(1)) < 29:
        return Check("OBS Studio", WARN, f"{version} at {exe} is too old", "update OBS Studio to 29 or newer",
                     data=data)
    return Check("OBS Studio", OK, f"{version} ({exe})", data=data)


def obs_embedded_python(obs_exe: Path | None) -> tuple[str | None, str]:
    """(X.Y, where it came from) of the Python OBS's script plug-in loads, or (None, why)."""
    if sys.platform.startswith("linux") and obs_exe is not None and shutil.which("ldd"):
        rc, out = _run(["ldd", str(obs_exe.resolve())])
        m = re.search(r"(libpython(\d+\.\d+)\S*)\s*=>\s*(\S+)", out)
        if m:
            return m.group(2), f"{m.group(3)} (linked by libobs-scripting)"
        if "libobs-scripting" in out:
            return None, "libobs-scripting has no libpython: this OBS build has no Python scripting"
        return None, "OBS does not link libobs-scripting"

    ini = obs_config_dir() / "global.ini"
    try:
        text = ini.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return None, f"{ini} not found (start OBS once)"
    m = re.search(r"^\s*Path64bit\s*=\s*(.+)$", text, re.MULTILINE)
    if not m:
        return None, "no Python install path set in OBS (Tools → Scripts → Python Settings)"
    path = m.group(1).strip()
    v = re.search(r"[Pp]ython\D?(\d)\.?(\d+)", path)
    return (f"{v.group(1)}.{v.group(2)}" if v else "?"), f"{path} (OBS Python Settings)"


def check_obs_python() -> Check:
    exe = find_obs()
    if exe is None:
        return Check("OBS Python", WARN, "OBS not found", "install OBS Studio first")
    version, where = obs_embedded_python(exe)
    if version is None:
        return Check("OBS Python", WARN, where,
                     "Linux: install OBS with Python scripting (distribution or Flatpak package); Windows/macOS: "
                     "set Tools → Scripts → Python Settings to a python.org Python 3")
    return Check("OBS Python", OK, f"Python {version}: {where}", data={"version": version, "source": where})


def check_config() -> Check:
    from obs_faceswap.config import config_path, load_config

    path = config_path()
    try:
        cfg = load_config(path)
    except ValueError as exc:
        return Check("worker config", FAIL, str(exc), "run installer/install.sh (or install.ps1) again",
                     essential=True)
    python = cfg.get("python")
    if not python:
        return Check("worker config", FAIL, f"{path}: no worker interpreter recorded",
                     "run installer/install.sh (Windows: installer\\install.ps1), or: python -m obs_faceswap.config "
                     f"--write python={sys.executable}", essential=True, data={"path": str(path)})
    rc, out = _run([python, "-c", "import obs_faceswap, onnxruntime, numpy, cv2, sys; "
                    "print('%d.%d.%d' % sys.version_info[:3], obs_faceswap.__version__)"], timeout=60)
    if rc != 0:
        return Check("worker config", FAIL, f"worker python {python} cannot import obs-faceswap: "
                     f"{out.strip().splitlines()[-1] if out.strip() else 'exit ' + str(rc)}",
                     "run installer/install.sh again (it repairs the virtual environment)", essential=True,
                     data={"path": str(path), "python": python})
    pyver, version = out.split()[-2:]
    return Check("worker config", OK, f"{python} (Python {pyver}, obs-faceswap {version}) from {path}",
                 data={"path": str(path), "python": python, "python_version": pyver, **cfg})


def _tiny_model(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "doctor", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def usable_providers() -> tuple[list[str], dict[str, str]]:
    """Providers that really ran a tiny model (not just listed), and why the others did not."""
    import numpy as np
    import onnxruntime as ort

    usable: list[str] = []
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "relu.onnx"
        _tiny_model(model)
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        for provider in ort.get_available_providers():
            if provider in SKIP_PROVIDERS:
                continue
            try:
                sess = ort.InferenceSession(str(model), sess_options=opts, providers=[provider])
                active = sess.get_providers()
                sess.run(None, {"x": np.ones((1, 4), np.float32)})
            except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
                failed[provider] = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
                continue
            if active and active[0] == provider:
                usable.append(provider)
            else:
                failed[provider] = f"fell back to {', '.join(active)}"
    return usable, failed


def check_onnxruntime() -> Check:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return Check("onnxruntime", FAIL, f"not importable ({exc})", "run installer/install.sh", essential=True)
    try:
        usable, failed = usable_providers()
    except Exception as exc:  # noqa: BLE001
        return Check("onnxruntime", FAIL, f"{ort.__version__}: a test session failed ({exc})",
                     "reinstall: installer/install.sh --cpu", essential=True)
    data = {"version": ort.__version__, "usable": usable, "failed": failed}
    if not usable:
        return Check("onnxruntime", FAIL, f"{ort.__version__}: no provider could run a model",
                     "reinstall: installer/install.sh --cpu", essential=True, data=data)
    detail = f"{ort.__version__}, usable: {', '.join(usable)}"
    if failed:
        detail += "; listed but unusable: " + "; ".join(f"{k} ({v})" for k, v in failed.items())
        fix = ("CUDA needs the CUDA 12 and cuDNN 9 libraries onnxruntime-gpu was built for "
               "(pip install 'onnxruntime-gpu[cuda,cudnn]' or the NVIDIA installers)"
               if "CUDAExecutionProvider" in failed else "")
        return Check("onnxruntime", WARN, detail, fix, data=data)
    hint = ""
    if usable == ["CPUExecutionProvider"] and shutil.which("nvidia-smi"):
        hint = "an NVIDIA GPU is present: installer/install.sh --gpu installs onnxruntime-gpu"
        return Check("onnxruntime", WARN, detail + " (GPU not used)", hint, data=data)
    return Check("onnxruntime", OK, detail, data=data)


def check_models() -> Check:
    try:
        registry = importlib.import_module("obs_faceswap.models.registry")
        known = dict(registry.entries())
    except Exception as exc:  # noqa: BLE001 - registry absent or manifest unreadable
        return Check("models", WARN, f"model registry not available ({exc})",
                     "reinstall obs-faceswap; the embedded swap needs no download")
    installed: list[str] = []
    verified: list[str] = []
    embedded_missing: list[str] = []
    for mid, entry in sorted(known.items()):
        try:
            present = bool(registry.is_installed(mid))
        except Exception:  # noqa: BLE001
            present = False
        if present:
            installed.append(mid)
            if registry.is_verified(entry):
                verified.append(mid)
        elif entry.embedded:
            embedded_missing.append(mid)
    data = {"models_dir": str(registry.models_dir()), "known": sorted(known), "installed": installed,
            "verified": verified}
    detail = (f"{len(installed)} of {len(known)} installed, {len(verified)} verified"
              + (f" ({', '.join(installed)})" if installed else "") + f"; folder {registry.models_dir()}")
    if embedded_missing:
        return Check("models", WARN, detail + f"; embedded model(s) missing: {', '.join(embedded_missing)}",
                     "reinstall obs-faceswap (the embedded models ship with it)", data=data)
    unverified = [m for m in installed if m not in verified and not known[m].embedded]
    if unverified:
        return Check("models", OK, detail, f"check them: obs-faceswap models verify {' '.join(unverified)}",
                     data=data)
    fix = "" if installed else "optional: 'obs-faceswap models download ID' for the neural swapper/enhancers"
    return Check("models", OK, detail, fix, data=data)


def check_portaudio() -> Check:
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        return Check("PortAudio", WARN, f"sounddevice cannot load PortAudio ({exc})",
                     "Debian/Ubuntu: sudo apt install libportaudio2; macOS: brew install portaudio; "
                     "needed only for live voice outside OBS")
    try:
        devices = list(sd.query_devices())
    except Exception as exc:  # noqa: BLE001
        return Check("PortAudio", WARN, f"{sd.get_portaudio_version()[1]}: cannot list devices ({exc})",
                     "check your audio system (PulseAudio/PipeWire)")
    inputs = [d["name"] for d in devices if d.get("max_input_channels", 0) > 0]
    outputs = [d["name"] for d in devices if d.get("max_output_channels", 0) > 0]
    version = sd.get_portaudio_version()[1].split(", revision")[0]
    data = {"version": version, "inputs": inputs, "outputs": outputs}
    detail = f"{version}; {len(inputs)} input and {len(outputs)} output device(s)"
    if not inputs:
        return Check("PortAudio", WARN, detail, "no microphone found: plug one in for live voice", data=data)
    return Check("PortAudio", OK, detail, data=data)


def check_tool(name: str) -> Check:
    exe = shutil.which(name)
    if exe is None:
        return Check(name, WARN, "not found",
                     "Debian/Ubuntu: sudo apt install ffmpeg; macOS: brew install ffmpeg; Windows: winget install "
                     "ffmpeg; needed for video files (swap-video, live --input/--output with audio)")
    rc, out = _run([exe, "-version"])
    first = out.strip().splitlines()[0] if out.strip() else ""
    m = re.search(r"version\s+(\S+)", first)
    version = m.group(1) if m else "?"
    return Check(name, OK if rc == 0 else WARN, f"{version} ({exe})", data={"path": exe, "version": version})


def check_python_packages() -> Check:
    missing = []
    versions = {}
    for mod in ("numpy", "cv2", "onnx"):
        try:
            versions[mod] = importlib.import_module(mod).__version__
        except ImportError:
            missing.append(mod)
    if missing:
        return Check("python packages", FAIL, f"missing: {', '.join(missing)}", "run installer/install.sh",
                     essential=True)
    return Check("python packages", OK, ", ".join(f"{k} {v}" for k, v in versions.items()), data=versions)


def check_cameras() -> Check:
    if sys.platform.startswith("linux"):
        devs = sorted(str(p) for p in Path("/dev").glob("video*"))
        if not devs:
            return Check("cameras", WARN, "no /dev/video* device",
                         "plug in a webcam (or use 'live --screen' / '--input FILE')", data={"devices": []})
        return Check("cameras", OK, ", ".join(devs), data={"devices": devs})
    return Check("cameras", OK, "not listed on this OS (try 'obs-faceswap live --camera 0')")


def check_virtual_camera() -> Check:
    try:
        import pyvirtualcam  # noqa: F401
    except ImportError:
        return Check("virtual camera", WARN, "pyvirtualcam not installed",
                     "optional for 'live --virtual-camera': pip install 'obs-faceswap[camera]'")
    except Exception as exc:  # noqa: BLE001
        return Check("virtual camera", WARN, f"pyvirtualcam failed to load ({exc})", "")
    return Check("virtual camera", OK, "pyvirtualcam importable")


CHECKS: tuple[Callable[[], Check], ...] = (
    check_python_packages, check_onnxruntime, check_config, check_obs, check_obs_python, check_models,
    lambda: check_tool("ffmpeg"), lambda: check_tool("ffprobe"), check_portaudio, check_cameras,
    check_virtual_camera,
)


# without these nothing runs; the others only limit what can be used (exit code 1 only for these)
ESSENTIAL: tuple[Callable[[], Check], ...] = (check_python_packages, check_onnxruntime, check_config)


def run_checks() -> list[Check]:
    out: list[Check] = []
    for fn in CHECKS:
        try:
            check = fn()
        except Exception as exc:  # noqa: BLE001 - a broken check must not hide the others
            check = Check(getattr(fn, "__name__", "check"), WARN, f"check crashed: {exc!r}")
        check.essential = fn in ESSENTIAL  # whatever its status, so --json readers can tell
        out.append(check)
    return out


def usable(checks: list[Check]) -> bool:
    return not any(c.status == FAIL and c.essential for c in checks)


def _print(checks: list[Check]) -> None:
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"  {c.status:<4}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != OK:
            print(f"  {'':<4}  {'':<{width}}  fix: {c.fix}")
        elif c.fix:
            print(f"  {'':<4}  {'':<{width}}  note: {c.fix}")


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks()
    ok = usable(checks)
    if args.json:
        print(json.dumps({"usable": ok, "checks": [asdict(c) for c in checks]}, indent=2, default=str))
    else:
        print("obs-faceswap doctor")
        _print(checks)
        problems = sum(c.status != OK for c in checks)
        if ok:
            print(f"usable{f' ({problems} warning(s) above)' if problems else ''}")
        else:
            print("NOT usable: fix the FAIL lines above")
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("doctor", help="check the installation and say how to fix problems",
                            description="Check OBS, its Python, the worker interpreter, onnxruntime providers, "
                            "models, PortAudio and ffmpeg. Exit 0 when usable, 1 when something essential is "
                            "missing.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=cmd_doctor)
