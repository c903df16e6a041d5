"""resolve_model / load_model / import / verify against a temporary manifest and real ONNX Runtime sessions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from obs_faceswap.cli import main
from obs_faceswap.errors import ModelError, ModelSignatureError
from obs_faceswap.models import registry as reg
from obs_faceswap.models.session import TensorSpec
from obs_faceswap.models.signatures import family_signature
from tests.models.conftest import Registry, model_entry
from tests.models.helpers import build_onnx


def _gfpgan_file(path: Path) -> bytes:
    build_onnx(path, *family_signature("gfpgan"))
    return path.read_bytes()


def test_models_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OBS_FACESWAP_MODELS", raising=False)
    assert reg.models_dir() == Path(reg.__file__).resolve().parents[2] / "models" / "downloads"
    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(tmp_path))
    assert reg.models_dir() == tmp_path


def test_resolve_model(registry: Registry, tmp_path: Path) -> None:
    good = _gfpgan_file(tmp_path / "src" / "g.onnx")
    registry.write(model_entry("gfp", good, urls=["http://127.0.0.1:9/gfp.onnx"]))

    with pytest.raises(ModelError, match=r"gfp is not installed.*obs-faceswap models download gfp"):
        reg.resolve_model("gfp")
    with pytest.raises(ModelError, match=r"unknown model 'nosuch'.*Known models: gfp"):
        reg.resolve_model("nosuch")
    with pytest.raises(ModelError, match="model file not found"):
        reg.resolve_model(str(tmp_path / "absent.onnx"))
    assert reg.resolve_model(str(tmp_path / "src" / "g.onnx")) == tmp_path / "src" / "g.onnx"

    registry.models.mkdir()
    (registry.models / "gfp.onnx").write_bytes(good[:100])  # wrong size: a broken copy
    assert not reg.is_installed("gfp")
    with pytest.raises(ModelError, match=f"has 100 bytes, expected {len(good)}"):
        reg.resolve_model("gfp")
    (registry.models / "gfp.onnx").write_bytes(good)
    assert reg.is_installed("gfp")
    assert reg.resolve_model("gfp") == registry.models / "gfp.onnx"


def test_load_model_checks_the_family_signature(registry: Registry, tmp_path: Path) -> None:
    registry.write(model_entry("gfp", family="gfpgan"))
    registry.models.mkdir()
    _gfpgan_file(registry.models / "gfp.onnx")

    sess = reg.load_model("gfp", "gfpgan", "cpu")
    assert sess.input_names == ["input"] and sess.providers == ["CPUExecutionProvider"]

    # the same file asked for as a CodeFormer: by id the family mismatch is named ...
    with pytest.raises(ModelError, match="gfp is a gfpgan model, not a codeformer model"):
        reg.load_model("gfp", "codeformer")
    # ... and by path the signature check names what is missing
    with pytest.raises(ModelSignatureError, match=r"not a codeformer model: expected input weight float64\[1\]"):
        reg.load_model(str(registry.models / "gfp.onnx"), "codeformer")


def test_wrong_signature_names_expected_io(tmp_path: Path, registry: Registry) -> None:
    registry.write()
    wrong = build_onnx(tmp_path / "wrong.onnx", [TensorSpec("x", "float32", (1, 3, 256, 256))],
                       [TensorSpec("y", "float32", (1, 3, 256, 256))])
    with pytest.raises(ModelSignatureError) as info:
        reg.load_model(str(wrong), "gfpgan")
    msg = str(info.value)
    assert "wrong.onnx is not a gfpgan model" in msg
    assert "expected input input float32[1,3,512,512]" in msg
    assert "output  float32[1,3,512,512]" in msg  # the positional output
    assert "the file has input x float32[1,3,256,256], output y float32[1,3,256,256]" in msg


def test_entry_pinned_shapes_are_checked_too(registry: Registry) -> None:
    # family inswapper allows any crop size; the entry pins 256
    registry.write(model_entry("rs", family="inswapper",
                               inputs=["target float32[?,3,256,256]", "source float32[1,512]"]))
    registry.models.mkdir()
    ins, outs = family_signature("inswapper")
    sized = [TensorSpec(s.name, s.dtype, tuple(128 if isinstance(d, str) else d for d in s.shape)) for s in ins]
    build_onnx(registry.models / "rs.onnx", sized, outs)
    with pytest.raises(ModelSignatureError, match=r"expected input target float32\[\?,3,256,256\]"):
        reg.load_model("rs", "inswapper")


def test_corrupt_file_is_a_model_error(registry: Registry, tmp_path: Path) -> None:
    registry.write()
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"\x08\x07this is not protobuf" * 50)
    with pytest.raises(ModelError, match="corrupt or not an ONNX model") as info:
        reg.load_model(str(bad), "gfpgan")
    assert not isinstance(info.value, ModelSignatureError)


def test_unknown_family(registry: Registry) -> None:
    registry.write()
    with pytest.raises(ModelError, match="unknown model family 'nope'"):
        reg.load_model("x.onnx", "nope")


def test_import_good_and_bad(registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _gfpgan_file(tmp_path / "have" / "gfp.onnx")
    registry.write(model_entry("gfp", good, urls=["http://127.0.0.1:9/x"]))
    other = tmp_path / "have" / "other.onnx"
    other.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size, one bit different

    assert main(["models", "import", "gfp", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"is not gfp: SHA-256 {hashlib.sha256(other.read_bytes()).hexdigest()} does not match" in err
    assert "Nothing was installed" in err
    assert registry.files() == []  # no temp file left either

    short = tmp_path / "have" / "short.onnx"
    short.write_bytes(good[:10])
    assert main(["models", "import", "gfp", str(short)]) == 2
    assert f"it has 10 bytes, expected {len(good)}" in capsys.readouterr().err

    assert main(["models", "import", "gfp", str(tmp_path / "have" / "gfp.onnx")]) == 0
    assert "gfp: installed" in capsys.readouterr().out
    assert registry.files() == ["gfp.onnx"]
    assert reg.load_model("gfp", "gfpgan").output_names == ["out0"]


def _family_file(path: Path, family: str, tag: str) -> Path:
    """A stand-in model of ``family``; ``tag`` makes two files of the same family differ in bytes."""
    import onnx

    build_onnx(path, *family_signature(family))
    model = onnx.load(str(path))
    model.doc_string = tag
    onnx.save(model, str(path))
    return path


def test_import_without_published_hash_pins_the_first_file(registry: Registry, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    registry.write(model_entry("cf", family="codeformer", sha256=""), model_entry("mine", family="rvc_synth",
                                                                                user_supplied=True))
    a = _family_file(tmp_path / "a.onnx", "codeformer", "first")
    b = _family_file(tmp_path / "b.onnx", "codeformer", "second")
    assert main(["models", "import", "cf", str(a)]) == 0
    assert "no published hash; recorded sha256" in capsys.readouterr().out
    assert main(["models", "import", "cf", str(b)]) == 2  # the recorded hash now rules
    assert "does not match" in capsys.readouterr().err
    # user-supplied weights (your own RVC voice) can be replaced freely
    v1 = _family_file(tmp_path / "v1.onnx", "rvc_synth", "voice one")
    v2 = _family_file(tmp_path / "v2.onnx", "rvc_synth", "voice two")
    assert main(["models", "import", "mine", str(v1)]) == 0
    assert main(["models", "import", "mine", str(v2)]) == 0
    assert (registry.models / "mine.onnx").read_bytes() == v2.read_bytes()


def test_import_refuses_files_that_are_not_a_model_of_that_family(registry: Registry, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    registry.write(model_entry("mine", family="rvc_synth", user_supplied=True))
    junk = tmp_path / "voice.onnx"
    junk.write_bytes(b"not a model at all")
    assert main(["models", "import", "mine", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "cannot be imported as mine: it is not a valid ONNX model" in err and "Traceback" not in err
    wrong = _family_file(tmp_path / "face.onnx", "gfpgan", "a face model")
    assert main(["models", "import", "mine", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert "it is not a rvc_synth model" in err and "expected input phone" in err
    assert not (registry.models / "mine.onnx").exists()
    assert [p.name for p in registry.models.iterdir()] in ([], ["models.lock.json"])  # no temp files left


def test_installed_models_get_normal_file_permissions(registry: Registry, tmp_path: Path) -> None:
    import os

    registry.write(model_entry("mine", family="rvc_synth", user_supplied=True))
    old = os.umask(0o022)
    try:
        assert main(["models", "import", "mine", str(_family_file(tmp_path / "v.onnx", "rvc_synth", "v"))]) == 0
    finally:
        os.umask(old)
    assert (registry.models / "mine.onnx").stat().st_mode & 0o777 == 0o644


def test_verify_detects_a_damaged_file(registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _gfpgan_file(tmp_path / "gfp.onnx")
    registry.write(model_entry("gfp", good, urls=["http://127.0.0.1:9/x"]), model_entry("absent", b"zz"))
    assert main(["models", "import", "gfp", str(tmp_path / "gfp.onnx")]) == 0
    assert main(["models", "verify"]) == 0
    assert "gfp: ok" in capsys.readouterr().out

    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    (registry.models / "gfp.onnx").write_bytes(bytes(damaged))
    assert not reg.is_verified(reg.get_entry("gfp"))  # the verified stamp no longer fits the file
    assert main(["models", "verify", "gfp", "absent"]) == 2
    cap = capsys.readouterr()
    assert "gfp: MISMATCH" in cap.out and "absent: NOT INSTALLED" in cap.out
    assert "2 model(s) failed verification: gfp, absent" in cap.err
    assert main(["models", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("gfp "))
    assert row.split()[2:4] == ["yes", "no"]  # installed, not verified


def test_info(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    registry.write(model_entry("gfp", b"abc", urls=["https://example.invalid/gfp.onnx"],
                               licence_url="https://example.invalid/licence"))
    assert main(["models", "info", "gfp"]) == 0
    out = capsys.readouterr().out
    assert "licence: Test Licence 1.0: tests only (may NOT be redistributed)" in out
    assert "signature: input float32[1,3,512,512] -> _ float32[1,3,512,512]" in out
    assert "to install: download it with 'obs-faceswap models download gfp'" in out


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, new mtime


def test_a_model_damaged_after_install_is_refused_at_load(registry: Registry, tmp_path: Path) -> None:
    good = _gfpgan_file(tmp_path / "src" / "g.onnx")
    registry.write(model_entry("gfp", good, family="gfpgan"))
    registry.models.mkdir()
    installed = registry.models / "gfp.onnx"
    installed.write_bytes(good)
    assert reg.load_model("gfp", "gfpgan", "cpu").input_names == ["input"]  # hashed once, recorded verified
    assert reg.is_verified(reg.get_entry("gfp"))

    _flip_one_byte(installed)
    assert reg.is_installed("gfp")  # the size alone cannot tell
    with pytest.raises(ModelError, match=r"does not match its SHA-256.*models download gfp --force"):
        reg.load_model("gfp", "gfpgan", "cpu")

