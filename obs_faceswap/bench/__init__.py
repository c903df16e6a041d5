"""Benchmarks: ``obs-faceswap bench NAME``.

Each benchmark lives in ``obs_faceswap/bench/<name>.py`` and exposes
``register(subparsers)`` adding its own parser under ``bench``; its ``func(args)`` measures
ours beside a named baseline *in the same run* and reports with ``report()``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any


def time_ms(fn: Callable[[], Any], *, repeat: int = 50, warmup: int = 5) -> list[float]:
    """Wall-clock milliseconds of ``fn()`` for ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def cpu_ms(fn: Callable[[], Any], *, repeat: int = 30, warmup: int = 3) -> float:
    """Mean process CPU milliseconds (all threads) of ``fn()`` over ``repeat`` runs after ``warmup``:
    steadier than wall clock on a machine shared with other jobs."""
    for _ in range(warmup):
        fn()
    t0 = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - t0) * 1000.0 / max(repeat, 1)


def p50(samples: list[float]) -> float:
    return float(statistics.median(samples))


def p99(samples: list[float]) -> float:
    s = sorted(samples)
    return float(s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))])


def report(result: Mapping[str, Any], *, as_json: bool, title: str = "") -> None:
    """Print ``result`` as one JSON object (``--json``) or as an aligned two-column table."""
    if as_json:
        print(json.dumps(result, sort_keys=False))
        return
    if title:
        print(title)
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {key.ljust(width)}  {shown}")
