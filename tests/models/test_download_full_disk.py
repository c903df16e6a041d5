"""`models download` onto a really full disk (ENOSPC from a small tmpfs in a private mount namespace,
nothing outside the test is filled): one clear line, exit 2, no traceback, nothing installed
(issue #19; the sibling test in test_download.py fails the write through a file-size limit)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.models.conftest import Registry, model_entry
from tests.models.helpers import LocalServer, Route


def test_a_really_full_disk_during_download_is_one_clear_line(registry: Registry, server: LocalServer,
                                                              payload: bytes) -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare and user namespaces for a private small file system")
    server.routes["/m.onnx"] = Route(payload)  # 300 KiB into a 64 KiB file system
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))
    registry.models.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", ""))
                                                       if p)}
    cmd = (f"mount -t tmpfs -o size=64k tmpfs {registry.models} && {sys.executable} -m obs_faceswap models "
           f"download m --yes --timeout 5; echo rc=$?; ls -A {registry.models}")
    res = subprocess.run(["unshare", "-rm", "sh", "-c", cmd], capture_output=True, text=True, timeout=120, env=env)
    assert "rc=2" in res.stdout, (res.stdout, res.stderr[-1500:])
    assert "Traceback" not in res.stderr, res.stderr[-1500:]
    assert "space" in res.stderr.lower(), res.stderr[-1500:]
    left = res.stdout.split("rc=2", 1)[1].split()
    assert "m.onnx" not in left, left  # never a half-written model where the engine would load it
