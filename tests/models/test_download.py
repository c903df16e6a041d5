"""Downloads against a real HTTP server on 127.0.0.1: success, resume, and every way it can go wrong.

Whatever fails, the final model path must not exist afterwards (no half-written model where the
engine would load it).
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import sys

import pytest

from obs_faceswap.cli import main
from obs_faceswap.errors import DownloadError
from obs_faceswap.models import registry as reg
from obs_faceswap.models.download import download_model
from tests.models.conftest import Registry, model_entry
from tests.models.helpers import LocalServer, Route


def _download(mid: str, **kw: object) -> tuple[object, str]:
    out = io.StringIO()
    path = download_model(mid, accept_licence=True, progress=False, timeout=5, out=out, **kw)  # type: ignore[arg-type]
    return path, out.getvalue()


def test_download_verifies_and_installs_atomically(registry: Registry, server: LocalServer, payload: bytes) -> None:
    server.routes["/m.onnx"] = Route(payload)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))

    path, said = _download("m")

    assert path == registry.models / "m.onnx"
    assert path.read_bytes() == payload
    assert registry.files() == ["m.onnx"]  # no .part left behind
    assert "installed" in said
    assert reg.is_installed("m") and reg.is_verified(reg.get_entry("m"))
    # a second download sees the verified file and fetches nothing
    before = len(server.log.requests)
    _, said = _download("m")
    assert "already installed" in said and len(server.log.requests) == before


def test_resume_from_partial_file_uses_range(registry: Registry, server: LocalServer, payload: bytes) -> None:
    server.routes["/m.onnx"] = Route(payload)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))
    registry.models.mkdir()
    half = len(payload) // 2
    (registry.models / "m.onnx.part").write_bytes(payload[:half])

    path, _ = _download("m")

    assert path.read_bytes() == payload
    assert server.log.requests == [("/m.onnx", f"bytes={half}-")]
    assert server.log.bytes_sent == len(payload) - half  # only the missing tail travelled


def test_truncated_transfer_fails_clearly_then_resumes(registry: Registry, server: LocalServer, payload: bytes) -> None:
    cut = 100_000
    server.routes["/m.onnx"] = Route(payload, truncate_at=cut)  # full Content-Length, then the server hangs up
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))

    with pytest.raises(DownloadError, match=r"(truncated|connection lost).*resume"):
        _download("m")
    assert not (registry.models / "m.onnx").exists()
    part = registry.models / "m.onnx.part"
    assert part.read_bytes() == payload[:cut]  # a correct prefix is kept for resume

    path, _ = _download("m")  # the server behaves now
    assert path.read_bytes() == payload
    assert server.log.requests[-1] == ("/m.onnx", f"bytes={cut}-")
    assert registry.files() == ["m.onnx"]


def test_wrong_hash_deletes_download(registry: Registry, server: LocalServer, payload: bytes) -> None:
    server.routes["/m.onnx"] = Route(payload)
    wrong = hashlib.sha256(b"another file").hexdigest()
    registry.write(model_entry("m", payload, sha256=wrong, urls=[server.url("/m.onnx")]))

    with pytest.raises(DownloadError, match=f"SHA-256 mismatch \\(expected {wrong}, got {hashlib.sha256(payload).hexdigest()}\\)"):
        _download("m")
    assert registry.files() == []  # neither the model nor a .part


def test_wrong_size_is_refused_before_download(registry: Registry, server: LocalServer, payload: bytes) -> None:
    server.routes["/m.onnx"] = Route(payload + b"extra")
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))

    with pytest.raises(DownloadError, match=f"offers {len(payload) + 5} bytes but {len(payload)} were expected"):
        _download("m")
    assert registry.files() == []


def test_http_404(registry: Registry, server: LocalServer, payload: bytes) -> None:
    registry.write(model_entry("m", payload, urls=[server.url("/missing.onnx")]))
    with pytest.raises(DownloadError, match=r"HTTP 404"):
        _download("m")
    assert registry.files() == []


def test_connection_refused(registry: Registry, payload: bytes) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    registry.write(model_entry("m", payload, urls=[f"http://127.0.0.1:{port}/m.onnx"]))
    with pytest.raises(DownloadError, match=r"cannot connect.*refused"):
        _download("m")
    assert registry.files() == []


def test_falls_back_to_next_mirror(registry: Registry, server: LocalServer, payload: bytes) -> None:
    server.routes["/good.onnx"] = Route(payload)
    registry.write(model_entry("m", payload, urls=[server.url("/gone.onnx"), server.url("/good.onnx")]))
    path, _ = _download("m")
    assert path.read_bytes() == payload
    assert [p for p, _ in server.log.requests] == ["/gone.onnx", "/good.onnx"]


def test_server_ignoring_range_restarts_cleanly(registry: Registry, server: LocalServer, payload: bytes) -> None:
    server.routes["/m.onnx"] = Route(payload, honour_range=False)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))
    registry.models.mkdir()
    (registry.models / "m.onnx.part").write_bytes(payload[:1000])
    path, _ = _download("m")
    assert path.read_bytes() == payload  # not prefix + whole body


def test_no_published_hash_records_one_and_pins_it(registry: Registry, server: LocalServer, payload: bytes) -> None:
    server.routes["/m.onnx"] = Route(payload)
    registry.write(model_entry("m", urls=[server.url("/m.onnx")], sha256="", size=0))

    _, said = _download("m")
    digest = hashlib.sha256(payload).hexdigest()
    assert f"no published hash; recorded sha256 {digest}" in said
    lock = json.loads((registry.models / "models.lock.json").read_text())
    assert lock["recorded"]["m"]["sha256"] == digest

    server.routes["/m.onnx"] = Route(payload[::-1])  # the host now serves different bytes
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        _download("m", force=True)
    assert (registry.models / "m.onnx").read_bytes() == payload  # the good file was not replaced


def test_licence_must_be_accepted(registry: Registry, server: LocalServer, payload: bytes) -> None:
    server.routes["/m.onnx"] = Route(payload)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")], licence="Test Non-Commercial 1.0"))

    out = io.StringIO()
    with pytest.raises(DownloadError, match=r"licence must be accepted.*--yes"):
        download_model("m", progress=False, out=out, interactive=False)
    assert "Test Non-Commercial 1.0" in out.getvalue()
    with pytest.raises(DownloadError, match="not accepted; nothing was downloaded"):
        download_model("m", progress=False, out=out, interactive=True, ask=lambda _q: "n")
    assert server.log.requests == [] and registry.files() == []

    download_model("m", progress=False, out=out, interactive=True, ask=lambda _q: "yes", timeout=5)
    assert (registry.models / "m.onnx").read_bytes() == payload


def test_cli_download_refuses_without_yes_and_works_with_it(
    registry: Registry, server: LocalServer, payload: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    server.routes["/m.onnx"] = Route(payload)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))

    assert main(["models", "download", "m"]) == 2  # pytest's stdin is not a terminal
    err = capsys.readouterr().err
    assert "obs-faceswap: error:" in err and "--yes" in err
    assert main(["models", "download", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err

    assert main(["models", "download", "m", "--yes", "--timeout", "5"]) == 0
    assert "m: installed" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["m"]["installed"] and rows["m"]["verified"] and rows["m"]["size"] == len(payload)


@pytest.mark.skipif(sys.platform == "win32", reason="uses fcntl to hold the lock from the test")
def test_concurrent_download_of_the_same_file_is_refused(registry: Registry, server: LocalServer,
                                                          payload: bytes) -> None:
    import fcntl

    server.routes["/m.onnx"] = Route(payload)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))
    registry.models.mkdir()
    with open(registry.models / "m.onnx.lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as another process would while downloading
        with pytest.raises(DownloadError, match="another download of m.onnx is running"):
            _download("m")
    assert server.log.requests == [] and not (registry.models / "m.onnx").exists()
    path, _ = _download("m")
    assert path.read_bytes() == payload and registry.files() == ["m.onnx"]


def test_short_body_without_length_is_kept_for_resume(registry: Registry, server: LocalServer, payload: bytes) -> None:
    cut = 50_000
    server.routes["/m.onnx"] = Route(payload, send_length=False, truncate_at=cut)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))
    with pytest.raises(DownloadError, match=f"ended after {cut} of {len(payload)} bytes.*resume"):
        _download("m")
    assert not (registry.models / "m.onnx").exists()
    assert (registry.models / "m.onnx.part").read_bytes() == payload[:cut]
    path, _ = _download("m")
    assert path.read_bytes() == payload


def test_stale_partial_of_another_file_is_restarted(registry: Registry, server: LocalServer, payload: bytes) -> None:
    """A .part left by an older version of the file fails the hash after resuming: start over once."""
    server.routes["/m.onnx"] = Route(payload)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))
    registry.models.mkdir()
    (registry.models / "m.onnx.part").write_bytes(b"\0" * 1000)  # not a prefix of payload
    path, _ = _download("m")
    assert path.read_bytes() == payload
    assert [r for _, r in server.log.requests] == ["bytes=1000-", None]


def test_installed_file_with_a_wrong_hash_is_downloaded_again(registry: Registry, server: LocalServer,
                                                               payload: bytes) -> None:
    server.routes["/m.onnx"] = Route(payload)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))
    registry.models.mkdir()
    damaged = bytearray(payload)
    damaged[0] ^= 0xFF  # same size: only the hash can tell
    (registry.models / "m.onnx").write_bytes(bytes(damaged))

    path, said = _download("m")

    assert "does not match its SHA-256; downloading it again" in said
    assert path.read_bytes() == payload  # type: ignore[attr-defined]
    assert reg.is_verified(reg.get_entry("m"))
    assert registry.files() == ["m.onnx"]


def _refused_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/m.onnx"


def test_download_of_several_goes_on_past_a_failure(registry: Registry, server: LocalServer, payload: bytes,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    server.routes["/b.onnx"] = Route(payload)
    registry.write(model_entry("a", payload, urls=[server.url("/gone.onnx")]),
                   model_entry("b", payload, urls=[server.url("/b.onnx")]))
    assert main(["models", "download", "a", "b", "--yes", "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert "a: FAILED" in err and "1 of 2 downloads failed (a)" in err
    assert (registry.models / "b.onnx").read_bytes() == payload  # the second one was still installed


def test_offline_error_says_what_to_do(registry: Registry, payload: bytes) -> None:
    registry.write(model_entry("m", payload, urls=[_refused_url(), _refused_url()]))
    with pytest.raises(DownloadError) as info:
        _download("m")
    first_line = str(info.value).splitlines()[0]
    assert "no network?" in first_line and "obs-faceswap models import" in first_line
    assert len(first_line) < 200 and str(info.value).count("\n") == 2  # one line per address below it


def test_a_full_disk_during_download_is_a_clear_error(registry: Registry, server: LocalServer, payload: bytes,
                                                      tmp_path) -> None:
    """A write that fails (here: the file-size limit, as a full disk would) ends with one line, exit 2."""
    import subprocess
    import textwrap

    server.routes["/m.onnx"] = Route(payload)
    registry.write(model_entry("m", payload, urls=[server.url("/m.onnx")]))
    code = textwrap.dedent("""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        from obs_faceswap.cli import main
        sys.exit(main(["models", "download", "m", "--yes", "--timeout", "5"]))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "cannot write" in res.stderr and "resume" in res.stderr
    assert not (registry.models / "m.onnx").exists()
