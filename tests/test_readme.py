"""The README is part of the interface: its commands and its settings table must stay true."""

from __future__ import annotations

import re
from pathlib import Path

from obs_faceswap.cli import build_parser
from obs_faceswap.obs.settings_table import BEGIN, END, tables

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_table_is_the_generated_one() -> None:
    inside = README.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert inside == tables().strip(), "run: python -m obs_faceswap.obs.settings_table README.md"


def test_ci_runs_the_readme_test_and_install_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    tests = README.split("## Tests", 1)[1]
    test_cmd = re.search(r"^(\.venv/bin/python -m pytest.*)$", tests, re.M)
    install_cmd = re.search(r"^(installer/install\.sh [^#\n]*?)\s*(#.*)?$", tests, re.M)
    assert test_cmd and install_cmd
    assert test_cmd.group(1).strip() in ci
    assert install_cmd.group(1).strip() in ci
    assert (ROOT / "installer" / "install.sh").is_file()


def test_every_command_the_readme_shows_exists() -> None:
    shown = set(re.findall(r"obs-faceswap ([a-z][a-z-]+)", README))
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    known = set(sub.choices)  # type: ignore[arg-type]
    assert shown - known == set(), f"README shows commands that do not exist: {shown - known}"
    assert {"swap-image", "swap-video", "live", "voice", "models", "bench", "doctor"} <= known
