"""ReSwapper distillation: a style-transfer generator learns an inswapper-signature teacher.

The student has ReSwapper's published structure (``StyleTransferModel_128``): an encoder of the
target crop (7x7 conv then 3x3 convs, two stride-2 steps: 128 -> 32), six residual style blocks
at 1/4 resolution whose two 3x3 convs are each followed by AdaIN driven by the 512-d source
latent, and a decoder (two bilinear x2 upsamplings, 7x7 output conv, tanh mapped to [0, 1]).
``width`` is the first conv's channels (ReSwapper: 128, doubling to 1024 in the blocks). It is
fully convolutional, so the same net runs on 256 px crops (``size 256``).

Loss = teacher regression (L1 + DSSIM against the teacher's output on the same target and
latent) + ``id_weight`` x (1 - cosine) between the ArcFace embedding of the *student's output*
(ArcFace run in torch, frozen, gradients reaching the generator) and the source's embedding.

The teacher is any ONNX with the inswapper signature run through the product's own adapter
(``vision.swappers.inswapper.InSwapper``); its ``emap`` is kept in the student (buffer) and written as
the last initializer on export, so the export is a drop-in inswapper/ReSwapper file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.media import read_image
from obs_faceswap.models.registry import load_family, resolve_model
from obs_faceswap.models.session import create_session
from obs_faceswap.models.signatures import family_signature
from obs_faceswap.train.common import autocast, dssim, grad_scaler, optimise, seed_everything
from obs_faceswap.train.extract import FaceRecord
from obs_faceswap.train.onnx_torch import OnnxModule
from obs_faceswap.vision import arcface as arcface_mod
from obs_faceswap.vision.align import warp_face
from obs_faceswap.vision.swappers import inswapper as inswapper_mod
from obs_faceswap.vision.types import Face

SIZES = (128, 256)


# ---------------------------------------------------------------- the generator


class AdaIN(nn.Module):
    def __init__(self, latent: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False, eps=1e-6)
        self.style = nn.Linear(latent, channels * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.style(s)[:, :, None, None].chunk(2, dim=1)
        return gamma * self.norm(x) + beta


class StyleConv(nn.Module):
    def __init__(self, cin: int, cout: int, latent: int, act: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.adain = AdaIN(latent, cout)
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.act(self.adain(self.conv(x), s))


class StyleBlock(nn.Module):
    def __init__(self, channels: int, latent: int) -> None:
        super().__init__()
        self.conv1 = StyleConv(channels, channels, latent, act=True)
        self.conv2 = StyleConv(channels, channels, latent, act=False)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x, s), s)


class StyleGenerator(nn.Module):
    """ReSwapper-style generator: ``forward(target RGB [0,1], latent [B,512]) -> RGB [0,1]``."""

    def __init__(self, width: int = 128, blocks: int = 6, latent: int = 512) -> None:
        super().__init__()
        w = width
        self.down = nn.Sequential(
            nn.Conv2d(3, w, 7, padding=3, padding_mode="reflect"), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 8 * w, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        )
        self.blocks = nn.ModuleList([StyleBlock(8 * w, latent) for _ in range(blocks)])
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(8 * w, 4 * w, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(4 * w, 2 * w, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, w, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 3, 7, padding=3, padding_mode="reflect"), nn.Tanh(),
        )
        self.register_buffer("emap", torch.eye(latent))  # the teacher's, set by the trainer; exported last

    def forward(self, target: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        x = self.down(target)
        for block in self.blocks:
            x = block(x, latent)
        return (self.up(x) + 1.0) / 2.0


def arcface_input(rgb01: torch.Tensor) -> torch.Tensor:
    """An arcface_128-aligned RGB [0,1] crop (any size) -> ArcFace's 112 px input ((x-0.5)/0.5).

    arcface_128 is arcface_112 shifted 8 px right in a 128 square: the 112 crop is rows 0..111,
    columns 8..119 (scaled with the crop size)."""
    s = rgb01.shape[-1]
    r = s / 128.0
    crop = rgb01[:, :, : round(112 * r), round(8 * r): round(120 * r)]
    if crop.shape[-1] != 112:
        crop = F.interpolate(crop, size=(112, 112), mode="bilinear", align_corners=False, antialias=True)
    return crop * 2.0 - 1.0


# ---------------------------------------------------------------- the trainer


def _rgb_chw(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32) / 255.0


class ReswapperTrainer:
    """Distils ``teacher`` (inswapper signature) into a :class:`StyleGenerator` on a face set."""

    kind = "reswapper"
    loss_fields = ("loss", "l1", "dssim", "identity")
    preview_labels = ("source", "target", "teacher", "student")

    def __init__(self, faces: Sequence[FaceRecord], teacher: str | os.PathLike[str],
                 embedder: str | os.PathLike[str], *, size: int = 128, width: int = 128, blocks: int = 6,
                 batch: int = 4, lr: float = 1e-4, id_weight: float = 0.3, seed: int = 0,
                 device: torch.device | str = "cpu", provider: str = "cpu", amp: bool = True) -> None:
        if size not in SIZES:
            raise FaceSwapError(f"--size must be one of {SIZES}")
        if len(faces) < 2:
            raise FaceSwapError("distillation needs at least 2 faces (sources and targets are drawn from the set)")
        if batch < 1 or width < 1 or blocks < 1:
            raise FaceSwapError("--batch, --width and --blocks must be 1 or more")
        self.seed, self.size, self.width, self.blocks = seed, size, width, blocks
        self.batch, self.lr, self.id_weight = batch, lr, id_weight
        self.device = torch.device(device)
        self.provider = provider
        self.teacher_path, self.embedder_path = resolve_model(str(teacher)), resolve_model(str(embedder))
        teacher_session = self._teacher_session()  # checks the signature now: one clear error
        self.teacher_size = teacher_session.size
        emap = teacher_session.emap
        embed = arcface_mod.ArcFace(load_family(str(self.embedder_path), "arcface", provider))
        # aligned crops (arcface_128 at the student's size) and each face's identity
        self.crops: list[npt.NDArray[np.uint8]] = []
        embs = []
        for rec in faces:
            img = read_image(rec.image)
            face = Face(bbox=np.array([0, 0, *img.shape[1::-1]], np.float32), score=1.0, kps=rec.kps)
            self.crops.append(warp_face(img, rec.kps, inswapper_mod.TEMPLATE, size)[0])
            embs.append(embed.embed(img, face))
        self.embeddings = np.stack(embs).astype(np.float32)
        self.latents = np.stack([teacher_session.source_latent(e)[0] for e in embs]).astype(np.float32)

        seed_everything(seed)
        self.generator = StyleGenerator(width, blocks).to(self.device)
        self.generator.emap.copy_(torch.from_numpy(emap))
        self.arcface = OnnxModule(self.embedder_path).to(self.device)
        self.opt = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.9, 0.999))
        self.amp = amp
        self.scaler = grad_scaler(self.device, amp)

    # -- trainer protocol ----------------------------------------------------------------------
    def modules(self) -> Mapping[str, nn.Module]:
        return {"generator": self.generator}

    def optimizers(self) -> Mapping[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def config(self) -> dict[str, Any]:
        return {"shape": {"size": self.size, "width": self.width, "blocks": self.blocks},
                "batch": self.batch, "lr": self.lr, "id_weight": self.id_weight,
                "teacher": str(self.teacher_path), "embedder": str(self.embedder_path)}

    def _teacher_session(self) -> inswapper_mod.InSwapper:
        """The teacher, one ONNX Runtime session per process (data-loader workers make their own)."""
        cache: dict[int, inswapper_mod.InSwapper] = self.__dict__.setdefault("_teachers", {})
        pid = os.getpid()
        if pid not in cache:
            inputs, outputs = family_signature("inswapper")
            session = create_session(self.teacher_path, self.provider, threads=1, expect_inputs=inputs,
                                     expect_outputs=outputs, family="inswapper", user_file=True)
            cache[pid] = inswapper_mod.InSwapper(session)
        return cache[pid]

    def __getstate__(self) -> dict[str, Any]:
        """What a data-loader worker needs (spawned workers get a pickled copy): the data, not the
        models or sessions (each worker opens its own teacher session)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_teachers", "generator", "arcface", "opt", "scaler")}

    def make_batch(self, step: int) -> dict[str, npt.NDArray[np.float32]]:
        rng = np.random.default_rng([self.seed, step])
        n = len(self.crops)
        ti = rng.integers(0, n, self.batch)
        si = (ti + rng.integers(1, n, self.batch)) % n  # never the target's own face
        teacher = self._teacher_session()
        out: dict[str, list[Any]] = {"target": [], "teacher": [], "source": []}
        for t, s in zip(ti, si, strict=True):
            crop = self.crops[t]
            if rng.random() < 0.5:
                crop = np.ascontiguousarray(crop[:, ::-1])
            gain, bias = rng.uniform(0.85, 1.15), rng.uniform(-12, 12)
            crop = np.clip(crop.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
            small = crop if self.teacher_size == self.size else cv2.resize(crop, (self.teacher_size,) * 2,
                                                                               interpolation=cv2.INTER_AREA)
            swapped = teacher.swap_crop(small, self.latents[s][None])
            if swapped.shape[0] != self.size:
                swapped = cv2.resize(swapped, (self.size, self.size), interpolation=cv2.INTER_CUBIC)
            out["target"].append(_rgb_chw(crop))
            out["teacher"].append(_rgb_chw(swapped))
            out["source"].append(_rgb_chw(self.crops[s]))
        batch = {k: np.stack(v) for k, v in out.items()}
        batch["latent"] = self.latents[si]
        batch["embedding"] = self.embeddings[si]
        return batch

    def _forward(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        d = self.device
        target, teacher = batch["target"].to(d), batch["teacher"].to(d)
        with autocast(d, self.amp):
            out = self.generator(target, batch["latent"].to(d))
        out = out.float()
        l1 = (out - teacher).abs().mean()
        ds = dssim(out, teacher)
        ident = identity_loss(self.arcface, out, batch["embedding"].to(d))
        total = l1 + ds + self.id_weight * ident
        return out, {"loss": total, "l1": l1, "dssim": ds, "identity": ident}

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        self.generator.train()
        _, losses = self._forward(batch)
        return optimise(self.opt, self.scaler, losses)

    def preview(self, batch: Mapping[str, Any]) -> list[list[torch.Tensor]]:
        self.generator.eval()
        b = {k: torch.as_tensor(v) for k, v in batch.items()}
        out, _ = self._forward(b)
        rows = []
        for i in range(min(4, out.shape[0])):  # tensors are RGB; previews are BGR
            rows.append([b["source"][i].flip(0), b["target"][i].flip(0), b["teacher"][i].flip(0),
                         out[i].detach().cpu().flip(0)])
        return rows


def identity_loss(arcface: nn.Module, rgb01: torch.Tensor, source_embedding: torch.Tensor) -> torch.Tensor:
    """Mean (1 - cosine) between ArcFace(``rgb01``) and the source embeddings; differentiable in ``rgb01``."""
    emb = F.normalize(arcface(arcface_input(rgb01)).float(), dim=1)
    return (1.0 - (emb * F.normalize(source_embedding.float(), dim=1)).sum(dim=1)).mean()


# ---------------------------------------------------------------- export


def generator_from_checkpoint(blob: Mapping[str, Any]) -> StyleGenerator:
    shape = blob["config"]["shape"]
    g = StyleGenerator(int(shape["width"]), int(shape["blocks"]))
    g.load_state_dict(blob["modules"]["generator"])
    return g.eval()


def export_reswapper(blob: Mapping[str, Any], dest: str | os.PathLike[str]) -> Path:
    """Write the student as an inswapper/ReSwapper ONNX: ``target`` f32[1,3,S,S] RGB [0,1], ``source``
    f32[1,512] -> ``output`` f32[1,3,S,S] [0,1], with ``emap`` (512x512) as the last initializer."""
    import warnings

    import onnx
    from onnx import numpy_helper

    from obs_faceswap.media import atomic_output

    g = generator_from_checkpoint(blob)
    size = int(blob["config"]["shape"]["size"])
    out = Path(dest)
    with atomic_output(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(g, (torch.zeros(1, 3, size, size), torch.zeros(1, 512)), str(tmp), dynamo=False,
                          input_names=["target", "source"], output_names=["output"], opset_version=17)
        model = onnx.load(str(tmp))
        model.graph.initializer.append(numpy_helper.from_array(g.emap.detach().cpu().numpy().astype(np.float32),
                                                               "emap"))
        onnx.save(model, str(tmp))
    return out
