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
    *sorted((PKG / "install").glob("*.py")),
    ROOT / "obs_faceswap_obs.py",
]


OBS_SIDE_PARTS = {"obs", "ipc", "settings", "config", "install", "errors"}


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, as absolute dotted names (``from x import y`` gives ``x.y``
    as well as ``x``, since ``y`` may be a submodule)."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):  # function-level imports too
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_obs_side_code_imports_only_the_standard_library() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__", "obspython"}
    problems: list[str] = []
    for p in OBS_SIDE:
        for name in _imports(p):
            root, _, rest = name.partition(".")
            if root == "obs_faceswap":
                part = rest.split(".")[0]
                # package names and what they export are fine; modules outside the OBS side are not
                if part and part not in OBS_SIDE_PARTS and (PKG / part).exists() | (PKG / f"{part}.py").exists():
                    problems.append(f"{p.relative_to(ROOT)} imports {name}")
            elif root not in stdlib:
                problems.append(f"{p.relative_to(ROOT)} imports {name}")
    assert not problems, "OBS-side modules must be stdlib-only:\n" + "\n".join(problems)


def test_ruff_is_clean() -> None:
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
