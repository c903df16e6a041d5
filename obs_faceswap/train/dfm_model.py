"""DeepFaceLab-style per-identity autoencoders: DF and LIAE.

Structure (as published for DFL's SAEHD): an encoder of four 5x5 stride-2 convs (``e`` x 1/2/4/8
channels, leaky ReLU 0.1) to 1/16 resolution, flattened; an *inter* of two dense layers back to
a (1/16)^2 grid and one x2 pixel-shuffle upscale; a decoder of three upscales with residual
blocks to full resolution and a 1x1 sigmoid BGR output, plus a lighter mask branch with a 1x1
sigmoid mask output.

- **DF**: one encoder, one inter, a decoder per identity (src = the person to become, dst =
  the streamer). The swap is ``decoder_src(inter(encoder(dst face)))``.
- **LIAE**: one encoder, ``inter_AB`` (both identities) and ``inter_B`` (dst only), one decoder
  fed the two inters' codes side by side. src = [AB(src), AB(src)], dst = [B(dst), AB(dst)],
  the swap = [AB(dst), AB(dst)].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from obs_faceswap.errors import FaceSwapError

ARCHS = ("df", "liae")


@dataclass(frozen=True)
class DfmShape:
    arch: str = "df"
    resolution: int = 128
    ae_dims: int = 256
    e_dims: int = 64
    d_dims: int = 64
    d_mask_dims: int = 22

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise FaceSwapError(f"--arch must be one of {', '.join(ARCHS)}")
        if not 128 <= self.resolution <= 320 or self.resolution % 16:
            raise FaceSwapError("--resolution must be a multiple of 16 from 128 to 320")
        if min(self.ae_dims, self.e_dims, self.d_dims, self.d_mask_dims) < 1:
            raise FaceSwapError("model widths must be 1 or more")

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.1)


class Down(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 5, stride=2, padding=2), _lrelu())


class Up(nn.Sequential):
    """3x3 conv to 4x the channels, leaky ReLU, pixel shuffle: x2 resolution."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout * 4, 3, padding=1), _lrelu(), nn.PixelShuffle(2))


class Residual(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


class Encoder(nn.Module):
    def __init__(self, e: int) -> None:
        super().__init__()
        self.net = nn.Sequential(Down(3, e), Down(e, 2 * e), Down(2 * e, 4 * e), Down(4 * e, 8 * e))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class Inter(nn.Module):
    def __init__(self, features: int, ae: int, out_ch: int, lowest: int) -> None:
        super().__init__()
        self.out_ch, self.lowest = out_ch, lowest
        self.dense1 = nn.Linear(features, ae)
        self.dense2 = nn.Linear(ae, lowest * lowest * out_ch)
        self.up = Up(out_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(x)).reshape(-1, self.out_ch, self.lowest, self.lowest)
        return self.up(x)


class Decoder(nn.Module):
    def __init__(self, cin: int, d: int, dm: int) -> None:
        super().__init__()
        self.ups = nn.Sequential(Up(cin, 8 * d), Residual(8 * d), Up(8 * d, 4 * d), Residual(4 * d),
                                 Up(4 * d, 2 * d), Residual(2 * d))
        self.out = nn.Conv2d(2 * d, 3, 1)
        self.mask = nn.Sequential(Up(cin, 8 * dm), Up(8 * dm, 4 * dm), Up(4 * dm, 2 * dm), nn.Conv2d(2 * dm, 1, 1))

    def forward(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.sigmoid(self.out(self.ups(code))), torch.sigmoid(self.mask(code))


class DfmModel(nn.Module):
    """DF or LIAE. ``forward(src, dst)`` -> (src->src, src mask, dst->dst, dst mask) for training;
    :meth:`swap` -> (dst mask, celeb face, celeb mask) for the DFM export."""

    def __init__(self, shape: DfmShape) -> None:
        super().__init__()
        self.shape = shape
        s = shape
        lowest = s.resolution // 16
        features = 8 * s.e_dims * lowest * lowest
        self.encoder = Encoder(s.e_dims)
        if s.arch == "df":
            self.inter = Inter(features, s.ae_dims, s.ae_dims, lowest)
            self.decoder_src = Decoder(s.ae_dims, s.d_dims, s.d_mask_dims)
            self.decoder_dst = Decoder(s.ae_dims, s.d_dims, s.d_mask_dims)
        else:
            self.inter_ab = Inter(features, s.ae_dims, s.ae_dims, lowest)
            self.inter_b = Inter(features, s.ae_dims, s.ae_dims, lowest)
            self.decoder = Decoder(2 * s.ae_dims, s.d_dims, s.d_mask_dims)

    def forward(self, src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, ...]:
        es, ed = self.encoder(src), self.encoder(dst)
        if self.shape.arch == "df":
            return (*self.decoder_src(self.inter(es)), *self.decoder_dst(self.inter(ed)))
        ab_s = self.inter_ab(es)
        return (*self.decoder(torch.cat([ab_s, ab_s], 1)),
                *self.decoder(torch.cat([self.inter_b(ed), self.inter_ab(ed)], 1)))

    def swap(self, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst faces (NCHW BGR [0,1]) -> (dst mask, the src person's face on them, its mask)."""
        e = self.encoder(dst)
        if self.shape.arch == "df":
            code = self.inter(e)
            celeb, celeb_mask = self.decoder_src(code)
            _, dst_mask = self.decoder_dst(code)
        else:
            ab = self.inter_ab(e)
            celeb, celeb_mask = self.decoder(torch.cat([ab, ab], 1))
            _, dst_mask = self.decoder(torch.cat([self.inter_b(e), ab], 1))
        return dst_mask, celeb, celeb_mask


class DfmGraph(nn.Module):
    """DeepFaceLive's .dfm signature around a model: ``in_face:0`` NHWC BGR [0,1] ->
    ``out_face_mask:0`` (N,H,W,1), ``out_celeb_face:0`` (N,H,W,3), ``out_celeb_face_mask:0`` (N,H,W,1)."""

    def __init__(self, model: DfmModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, in_face: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dst_mask, celeb, celeb_mask = self.model.swap(in_face.permute(0, 3, 1, 2))
        return dst_mask.permute(0, 2, 3, 1), celeb.permute(0, 2, 3, 1), celeb_mask.permute(0, 2, 3, 1)
