"""Per-identity DF / LIAE training on two face sets and the DeepFaceLive ``.dfm`` export.

src = the person to become, dst = the streamer. Each step draws a batch from each set; the
input is randomly transformed, warped (input only) and colour-jittered, src faces are colour
matched (RCT) to random dst faces so the src decoder learns the dst lighting. Loss per side (as
DeepFaceLab's SAEHD): 10 x DSSIM (window ~ resolution / 11.6) + 10 x MSE on the face inside the
(blurred) landmark mask, plus 10 x MSE of the learned mask against the landmark mask.
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
from obs_faceswap.train import augment
from obs_faceswap.train.common import autocast, dssim, grad_scaler, optimise, seed_everything
from obs_faceswap.train.dfm_model import DfmGraph, DfmModel, DfmShape
from obs_faceswap.train.extract import FaceRecord

DFM_INPUT = "in_face:0"
DFM_OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")


class _FaceSet:
    """A face set at the training resolution: images (BGR uint8) and landmark masks."""

    def __init__(self, faces: Sequence[FaceRecord], res: int) -> None:
        self.images: list[npt.NDArray[np.uint8]] = []
        self.masks: list[npt.NDArray[np.float32]] = []
        self.face_types = {str(f.meta.get("face_type", "")) for f in faces}
        for rec in faces:
            img = read_image(rec.image)
            scale = res / img.shape[0]
            if img.shape[0] != res:
                img = cv2.resize(img, (res, res), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
            self.images.append(img)
            self.masks.append(augment.face_mask(rec.landmarks * scale, res))

    def __len__(self) -> int:
        return len(self.images)


def _chw(img: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    a = np.asarray(img, np.float32)
    if a.ndim == 2:
        return a[None]
    return np.ascontiguousarray(a.transpose(2, 0, 1)) / 255.0


def dssim_window(resolution: int) -> int:
    w = max(3, int(resolution / 11.6))
    return w if w % 2 else w + 1


class DfmTrainer:
    """Trains a :class:`DfmModel` (DF or LIAE) on a src and a dst face set."""

    kind = "dfm"
    loss_fields = ("loss", "src", "dst", "mask")
    preview_labels = ("src", "src>src", "dst", "dst>dst", "swap", "mask")

    def __init__(self, src: Sequence[FaceRecord], dst: Sequence[FaceRecord], shape: DfmShape, *, batch: int = 4,
                 lr: float = 5e-5, seed: int = 0, device: torch.device | str = "cpu", amp: bool = True,
                 warp: bool = True, color: bool = True) -> None:
        if batch < 1:
            raise FaceSwapError("--batch must be 1 or more")
        self.shape, self.batch, self.lr, self.seed = shape, batch, lr, seed
        self.warp, self.color = warp, color
        self.src = _FaceSet(src, shape.resolution)
        self.dst = _FaceSet(dst, shape.resolution)
        types = self.src.face_types | self.dst.face_types
        if len(types) > 1:
            raise FaceSwapError(f"the src and dst face sets were cut with different face types ({', '.join(sorted(types))});"
                                " extract both with the same --face-type")
        self.face_type = next(iter(types), "")
        self.device = torch.device(device)
        seed_everything(seed)
        self.model = DfmModel(shape).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(0.5, 0.999))
        self.amp = amp
        self.scaler = grad_scaler(self.device, amp)
        self.window = dssim_window(shape.resolution)

    def modules(self) -> Mapping[str, nn.Module]:
        return {"model": self.model}

    def optimizers(self) -> Mapping[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def config(self) -> dict[str, Any]:
        return {"shape": self.shape.as_dict(), "batch": self.batch, "lr": self.lr, "face_type": self.face_type,
                "warp": self.warp, "color": self.color}

    def _sample(self, rng: np.random.Generator, faces: _FaceSet, i: int,
                ref: npt.NDArray[np.uint8] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        img, mask = faces.images[i], faces.masks[i]
        if ref is not None and rng.random() < 0.5:
            img = augment.color_transfer(img, ref, mask)
        if self.color:
            img = augment.jitter(rng, img, 0.08)
        m = augment.random_transform(rng, img.shape[0], flip=True)
        target = augment.apply_transform(img, m)
        tmask = augment.apply_transform(mask, m)
        warped = augment.random_warp(rng, target) if self.warp else target
        return _chw(warped), _chw(target), _chw(tmask)

    def __getstate__(self) -> dict[str, Any]:
        """A data-loader worker needs the face sets, not the model (spawned workers get a pickled copy)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("model", "opt", "scaler")}

    def make_batch(self, step: int) -> dict[str, npt.NDArray[np.float32]]:
        rng = np.random.default_rng([self.seed, step])
        si = rng.integers(0, len(self.src), self.batch)
        di = rng.integers(0, len(self.dst), self.batch)
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("warped_src", "src", "src_mask", "warped_dst", "dst",
                                                              "dst_mask")}
        for s, d in zip(si, di, strict=True):
            ref = self.dst.images[d] if self.color else None
            for side, sample in (("src", self._sample(rng, self.src, int(s), ref)),
                                 ("dst", self._sample(rng, self.dst, int(d), None))):
                cols[f"warped_{side}"].append(sample[0])
                cols[side].append(sample[1])
                cols[f"{side}_mask"].append(sample[2])
        return {k: np.stack(v) for k, v in cols.items()}

    def _side_loss(self, pred: torch.Tensor, pred_mask: torch.Tensor, target: torch.Tensor,
                   mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.window
        blur = F.avg_pool2d(mask, k, stride=1, padding=k // 2, count_include_pad=False).clamp(0, 1)
        t, p = target * blur, pred * blur
        return 10 * dssim(p, t, window=k) + 10 * F.mse_loss(p, t), 10 * F.mse_loss(pred_mask, mask)

    def _losses(self, b: Mapping[str, torch.Tensor]) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
        d = self.device
        with autocast(d, self.amp):
            out = self.model(b["warped_src"].to(d), b["warped_dst"].to(d))
        ss, ssm, dd, ddm = (x.float() for x in out)
        ls, lms = self._side_loss(ss, ssm, b["src"].to(d), b["src_mask"].to(d))
        ld, lmd = self._side_loss(dd, ddm, b["dst"].to(d), b["dst_mask"].to(d))
        mask = lms + lmd
        return (ss, ssm, dd, ddm), {"loss": ls + ld + mask, "src": ls, "dst": ld, "mask": mask}

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        self.model.train()
        _, losses = self._losses(batch)
        return optimise(self.opt, self.scaler, losses)

    def preview(self, batch: Mapping[str, Any]) -> list[list[torch.Tensor]]:
        self.model.eval()
        b = {k: torch.as_tensor(v) for k, v in batch.items()}
        (ss, _, dd, _), _ = self._losses({**b, "warped_src": b["src"], "warped_dst": b["dst"]})
        dst_mask, celeb, celeb_mask = self.model.swap(b["dst"].to(self.device))
        rows = []
        for i in range(min(4, ss.shape[0])):
            rows.append([b["src"][i], ss[i].cpu(), b["dst"][i], dd[i].cpu(), celeb[i].cpu(),
                         (celeb_mask[i] * dst_mask[i]).cpu()])
        return rows


def model_from_checkpoint(blob: Mapping[str, Any]) -> DfmModel:
    model = DfmModel(DfmShape(**blob["config"]["shape"]))
    model.load_state_dict(blob["modules"]["model"])
    return model.eval()


def export_dfm(blob: Mapping[str, Any], dest: str | os.PathLike[str]) -> Path:
    """Write a DeepFaceLive ``.dfm`` (ONNX): ``in_face:0`` f32[N,R,R,3] BGR [0,1] -> ``out_face_mask:0``
    f32[N,R,R,1], ``out_celeb_face:0`` f32[N,R,R,3], ``out_celeb_face_mask:0`` f32[N,R,R,1]."""
    import warnings

    from obs_faceswap.media import atomic_output

    model = model_from_checkpoint(blob)
    res = model.shape.resolution
    out = Path(dest)
    with atomic_output(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(DfmGraph(model), (torch.zeros(1, res, res, 3),), str(tmp), dynamo=False,
                          input_names=[DFM_INPUT], output_names=list(DFM_OUTPUTS), opset_version=17,
                          dynamic_axes={DFM_INPUT: {0: "N"}, **{o: {0: "N"} for o in DFM_OUTPUTS}})
    return out
