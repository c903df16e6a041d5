"""The real-OBS tests' headless OBS: ``obs_faceswap.bench.obs_host`` (one place starts OBS, for the
tests and ``bench obs`` alike), plus what only the tests need."""

from __future__ import annotations

from pathlib import Path

from obs_faceswap.bench.obs_host import (
    LOG_TAG,
    SCRIPT,
    HeadlessObs,
    free_port,
    missing_programs,
    write_config,
)

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["LOG_TAG", "ROOT", "SCRIPT", "HeadlessObs", "free_port", "have_tools", "write_config"]


def have_tools() -> str:
    """'' when OBS, Xvfb, espeak-ng and ffmpeg are installed, else what is missing."""
    return ", ".join(missing_programs("espeak-ng", "ffmpeg"))
