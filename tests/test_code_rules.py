"""Project rules that are cheap to check on every run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "obs_faceswap"

# everything OBS's embedded Python imports: it has no numpy, cv2 or onnxruntime
OBS_SIDE = [
    *sorted((PKG / "obs").glob("*.py")),
    *sorted((PKG / "ipc").glob("*.py")),
    PKG / "__init__.py",
    PKG / "errors.py",
    PKG / "settings.py",
    PKG / "config.py",
    PKG / "obs_register.py",
    ROOT / "obs_faceswap_obs.py",
]


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_obs_side_code_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"obs_faceswap", "obspython", "__future__"}
    offenders = {str(p.relative_to(ROOT)): sorted(_imported_roots(p) - allowed) for p in OBS_SIDE}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"OBS-side modules must be stdlib-only: {offenders}"
    # and what they import from the package is OBS-side too
    for p in OBS_SIDE:
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 0 and node.module and node.module.startswith("obs_faceswap."):
                target = node.module.split(".")[1]
            elif node.level == 2 or (node.level == 1 and p.parent == PKG):  # from ..x / from .x at top level
                target = (node.module or node.names[0].name).split(".")[0]
            else:
                continue  # a sibling inside obs/ or ipc/
            assert target in {"obs", "ipc", "settings", "config", "obs_register", "errors"}, (str(p), target)


def test_ruff_is_clean() -> None:
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
