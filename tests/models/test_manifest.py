"""The shipped manifest and the family signatures: complete, consistent, and loadable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from obs_faceswap.errors import ModelError
from obs_faceswap.models import registry as reg
from obs_faceswap.models.manifest import REPO_ROOT, load_manifest
from obs_faceswap.models.signatures import FAMILIES, TORCH_FAMILIES, family_signature, parse_spec
from tests.models.conftest import Registry, model_entry
from tests.models.helpers import build_onnx

REAL = REPO_ROOT / "models" / "manifest.toml"
CONTRACT_FAMILIES = ("scrfd", "arcface", "inswapper", "simswap", "embedding_converter", "gfpgan", "codeformer", "gpen", "bisenet", "xseg",
                     "rvc_synth", "content_encoder", "rmvpe", "embedded_face_detector", "embedded_face_mesh")


@pytest.fixture(scope="module")
def real() -> dict:
    return load_manifest(REAL)


def test_every_contract_family_has_a_signature() -> None:
    assert set(CONTRACT_FAMILIES) <= set(FAMILIES)
    for fam in CONTRACT_FAMILIES:
        ins, outs = family_signature(fam)
        assert ins and outs


def test_rvc_synth_signature_is_rvc_export() -> None:
    ins, outs = family_signature("rvc_synth")
    assert [(t.name, t.dtype) for t in ins] == [
        ("phone", "float32"), ("phone_lengths", "int64"), ("pitch", "int64"),
        ("pitchf", "float32"), ("ds", "int64"), ("rnd", "float32")]
    assert ins[5].shape[1] == 192 and outs[0].name == "audio"


def test_real_manifest_lists_every_model_the_project_knows(real: dict) -> None:
    assert {"inswapper_128", "inswapper_128_fp16", "reswapper_128", "reswapper_256", "simswap_256", "det_10g",
            "w600k_r50", "gfpgan_1.4", "codeformer", "gpen_512", "bisenet", "xseg", "contentvec", "rmvpe",
            "rvc_user", "face_detector", "face_mesh"} <= set(real)


def test_real_manifest_licences_follow_design(real: dict) -> None:
    for mid in ("inswapper_128", "inswapper_128_fp16", "det_10g", "w600k_r50", "simswap_256", "codeformer",
                "gpen_512"):
        assert real[mid].redistributable is False, mid
    for mid in ("gfpgan_1.4", "bisenet", "xseg", "face_detector", "face_mesh"):
        assert real[mid].redistributable is True, mid
    for e in real.values():
        if not e.embedded and not e.user_supplied:
            assert e.urls and all(u.startswith("https://") for u in e.urls), e.id
        assert not (e.embedded and e.urls)


def test_every_published_hash_cites_its_source() -> None:
    """A non-empty sha256 must have a '# sha256…' source comment right above it; an empty one a reason."""
    lines = REAL.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = re.match(r'sha256 = "([0-9a-f]*)"', line)
        if not m:
            continue
        block = "\n".join(lines[max(0, i - 4):i])
        if m.group(1):
            assert re.search(r"# sha256.*\[(VM|FT|FE|DLC|AC|LW|EMB|NP|CR)\]", block), f"line {i + 1}: no source"
        else:
            assert re.search(r"No (complete )?published|embedded = true|user_supplied = true", block), i + 1


def test_every_entry_signature_loads_under_its_family(real: dict, registry: Registry, tmp_path: Path) -> None:
    """A stand-in built from each entry's own pinned I/O (else its family's) passes load_model's checks."""
    registry.write(*[model_entry(e.id, family=e.family, file=e.file, inputs=[
        (t.name or "_") + " " + t.describe().split(" ", 1)[1] for t in e.inputs]) for e in real.values()])
    registry.models.mkdir()
    for e in real.values():
        if e.embedded or e.family in TORCH_FAMILIES:  # torch checkpoints: tests/voice/test_openvoice.py
            continue
        fam_in, fam_out = family_signature(e.family)
        pinned = {t.name: t for t in e.inputs}
        ins = [pinned.get(t.name, t) for t in fam_in]
        outs = list(e.outputs) or fam_out
        build_onnx(registry.models / e.file, ins, outs)
        sess = reg.load_model(e.id, e.family, "cpu")
        assert len(sess.inputs) == len(fam_in), e.id


def test_embedded_models_load(real: dict) -> None:
    for mid in ("face_detector", "face_mesh"):
        entry = real[mid]
        path = REAL.parent / "embedded" / entry.file
        if not path.is_file():
            pytest.fail(f"{path} is missing: run tools/convert_mediapipe.py")
        sess = reg.load_model(str(path), entry.family, "cpu")
        assert sess.inputs[0].shape[1:] in ((128, 128, 3), (192, 192, 3))
        if entry.sha256:
            assert reg.file_sha256(path) == entry.sha256, f"{mid}: embedded file differs from the manifest hash"


@pytest.mark.parametrize("text,err", [
    ('[[model]]\nid = "a"\nfamily = "nope"\nfile = "a.onnx"\ndescription = "d"\nlicence = "l"\n'
     'redistributable = true\n', "unknown family 'nope'"),
    ('[[model]]\nid = "a"\nfamily = "gfpgan"\nfile = "a.onnx"\ndescription = "d"\nlicence = "l"\n'
     'redistributable = true\nsha256 = "abc"\n', "sha256 must be 64 hex digits"),
    ('[[model]]\nid = "a"\nfamily = "gfpgan"\nfile = "../a.onnx"\ndescription = "d"\nlicence = "l"\n'
     'redistributable = true\n', "plain file name"),
    ('[[model]]\nid = "a"\nfamily = "gfpgan"\nfile = "a.onnx"\ndescription = "d"\nlicence = "l"\n'
     'redistributable = false\nembedded = true\n', "embedded model must be redistributable"),
    ('[[model]]\nid = "a"\nfamily = "gfpgan"\nfile = "a.onnx"\ndescription = "d"\nlicence = "l"\n'
     'redistributable = true\n' * 2, "appears twice"),
    ('[[model]]\nid = "a"\nfamily = "gfpgan"\nfile = "a.onnx"\ndescription = "d"\nredistributable = true\n',
     "missing or empty 'licence'"),
    ("[[model\n", "cannot read model manifest"),
])
def test_bad_manifests_are_refused_clearly(tmp_path: Path, text: str, err: str) -> None:
    p = tmp_path / "m.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match=re.escape(err)):
        load_manifest(p)


def test_missing_manifest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OBS_FACESWAP_MANIFEST", str(tmp_path / "none.toml"))
    with pytest.raises(ModelError, match="model manifest not found.*OBS_FACESWAP_MANIFEST"):
        reg.entries()


def test_parse_spec_round_trip() -> None:
    t = parse_spec("input.1 float32[1,3,?,height]")
    assert (t.name, t.dtype, t.shape) == ("input.1", "float32", (1, 3, None, "height"))
    assert parse_spec("_ float32[1,512]").name == ""
    for bad in ("float32[1,x", "input floaty[1]", "a b float32[1]"):
        with pytest.raises(ModelError, match="bad tensor spec"):
            parse_spec(bad)


def test_fallback_urls_and_codeformer_hash_are_the_published_ones(real: dict) -> None:
    """VisoMaster's assets live under release tag v0.1.0 (there is no v1.0.0); CodeFormer's SHA-256 is published."""
    urls = [u for e in real.values() for u in e.urls]
    assert not [u for u in urls if "visomaster-assets/releases/download/" in u and "/v0.1.0/" not in u]
    assert sum("visomaster-assets/releases/download/v0.1.0/" in u for u in urls) == 3
    cf = real["codeformer"]
    assert (cf.sha256, cf.size) == ("21710e7ab61c82683576c428e9c1b6fe1ed419586b7b39e394c3449c294b550f", 376951650)
    assert real["crossface_simswap"].family == "embedding_converter"
