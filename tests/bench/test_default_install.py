"""Benches run on the default install: no scikit-image, no insightface (the test extra's packages)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_BLOCK = textwrap.dedent("""
    import sys
    class _Absent:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("skimage", "insightface"):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None
    sys.meta_path.insert(0, _Absent())
    from obs_faceswap.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BLOCK, "bench", *args], capture_output=True, text=True, timeout=600)


def test_bench_pipeline_runs_without_the_test_extra() -> None:
    res = _bench("pipeline", "--json", "--repeat", "2", "--no-quality")
    assert res.returncode == 0, res.stderr[-1500:]
    data = json.loads(res.stdout)
    assert data["total_ms"] > 0


def test_bench_paste_without_insightface_says_how_to_install_it_into_this_python() -> None:
    res = _bench("paste", "--json")
    assert res.returncode == 2
    assert sys.executable in res.stderr and "insightface==2.1" in res.stderr
    assert "Traceback" not in res.stderr
