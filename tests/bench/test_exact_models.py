"""The architecture-exact bench models have the published sizes (built on torch's meta device: no memory, no weights)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")  # the 'train' extra (CI installs it)


def _size(name: str) -> tuple[int, int, dict[str, int]]:
    from torch.utils.flop_counter import FlopCounterMode

    from obs_faceswap.bench.exact_models import _specs

    spec = _specs()[name]
    with torch.device("meta"):
        model = spec.make().eval()
        args = tuple(torch.rand(*shape) for shape in spec.inputs.values())
        with FlopCounterMode(display=False) as counter:
            model(*args)
    per_module = {k: v // 2 for k, v in counter.get_flop_counts().items() for v in [sum(v.values())]}
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2, per_module


def test_inswapper_class_generator_has_the_published_size() -> None:
    params, macs, per_module = _size("inswapper_128")
    assert abs(params - 138e6) / 138e6 < 0.01  # ~138 M parameters, as the inswapper/ReSwapper-128 files
    # six 1024-channel style blocks at 32x32: 12 convolutions of 1024x1024x3x3 = 116 G multiply-adds
    convs = sum(v for k, v in per_module.items() if ".blocks." in k and k.endswith((".conv1", ".conv2")))
    assert convs == 12 * 1024 * 1024 * 9 * 32 * 32
    assert 170e9 < macs < 180e9  # with the encoder and decoder at 64..128 px


def test_the_other_models_sizes() -> None:
    params, macs, _ = _size("w600k_r50")
    assert abs(params - 43.6e6) / 43.6e6 < 0.01 and abs(macs - 6.3e9) / 6.3e9 < 0.02  # IResNet-50 at 112
    params, _, _ = _size("gfpgan_1.4")
    assert abs(params - 86.4e6) / 86.4e6 < 0.01  # the 348 MB v1.4 checkpoint in float32
    params, macs, _ = _size("bisenet_r34")
    assert 21e6 < params < 25e6 and 20e9 < macs < 27e9  # ResNet-34 (21.3 M with its stem) + BiSeNet heads at 512
    params, macs, _ = _size("det_10g")
    # det_10g.onnx is 16.9 MB of float32 weights; "10G" = 10 G multiply-adds at 640x480, so 13.3 G at 640x640
    assert abs(params - 4.23e6) / 4.23e6 < 0.01 and abs(macs - 10e9 * 640 / 480) / 13.3e9 < 0.02
