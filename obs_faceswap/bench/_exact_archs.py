"""Random-weight torch networks with the layer shapes of the real face models (torch extra; bench only).

They exist to measure what the real models cost (``obs-faceswap bench neural``): same layers, same
channel counts, same resolutions, so the same multiply-adds and memory traffic, with random weights.
Nothing here is trained and nothing is loaded from anywhere. Layer shapes (facts, from the public
architecture descriptions):

- ``InswapperClass``: the inswapper / ReSwapper-128 generator. Encoder 3->128 (7x7, reflect) at 128,
  128->256 (3x3) at 128, 256->512 (3x3, stride 2), 512->1024 (3x3, stride 2) -> 1024 x 32 x 32;
  six style blocks, each two 1024->1024 3x3 convolutions followed by AdaIN (instance norm, then a
  scale and shift from Linear(512 -> 2048) of the source latent), ReLU after the first, residual
  around the block; decoder: bilinear x2, 1024->512, bilinear x2, 512->256, 256->128, 128->3 (7x7,
  reflect), tanh, then (y + 1) / 2.
- ``GfpganV14``: GFPGAN v1.4 (the "clean" v1 architecture, out 512, style width 512, channel
  multiplier 2, SFT on half the channels, one latent per decoder layer). U-Net encoder of residual
  down blocks (1x1 stem to 128 channels at 512, then 512->4 px, channels 128,256,256,256,256,256,
  256 at half width), a linear layer to 16 latents of 512, up blocks back to 512 px producing SFT
  scale/shift per level, and a StyleGAN2 decoder (modulated, demodulated 3x3 convolutions at
  4..512 px with channels 512,512,512,512,512,256,128,64, noise injection, to-RGB skips).
- ``BiSeNetR34``: BiSeNet face parser with a ResNet-34 backbone (blocks 3,4,6,3), context path with
  two attention-refinement modules and a global-average branch, feature fusion (256), three output
  heads (19 classes) upsampled to the input size.
- ``Scrfd10g``: SCRFD-10GF with key points (insightface det_10g). Backbone "ResNet V1e": deep stem
  3->28 (stride 2), 28->28, 28->56, 2x2 max-pool; basic-block stages of 3,4,2,3 blocks at 56,88,88,224
  channels (strides 1,2,2,2; 2x2 average-pool before the 1x1 projection when downsampling). PAFPN neck
  on the last three stages to 56 channels (1x1 laterals, top-down nearest upsampling, 3x3 outputs,
  then a bottom-up path of 3x3 stride-2 convs and 3x3 outputs). Head per stride (8, 16, 32, not
  shared): three 3x3 conv-BN-ReLU at 80 channels, then 3x3 convs to 2 anchors x (1 score, 4 box
  distances, 10 key-point offsets); box distances scaled per stride; scores through a sigmoid.
- ``IResNet50``: ArcFace w600k_r50 (improved ResNet-50, blocks 3,4,14,3 at 64..512 channels,
  BN-conv-BN-PReLU-conv-BN units, 112 px in, BN + dropout + Linear(25088 -> 512) + BN out).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ---------------------------------------------------------------- inswapper / ReSwapper-128 class


class _AdaIN(nn.Module):
    def __init__(self, latent: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False, eps=1e-6)
        self.style = nn.Linear(latent, channels * 2)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        gamma, beta = self.style(s)[:, :, None, None].chunk(2, dim=1)
        return gamma * self.norm(x) + beta


class _StyleBlock(nn.Module):
    def __init__(self, channels: int = 1024, latent: int = 512) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.ada1 = _AdaIN(latent, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.ada2 = _AdaIN(latent, channels)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        y = torch.relu(self.ada1(self.conv1(x), s))
        return self.ada2(self.conv2(y), s) + x


class InswapperClass(nn.Module):
    """``forward(target [B,3,128,128] RGB 0..1, source latent [B,512]) -> [B,3,128,128] in 0..1``."""

    def __init__(self) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.2)
        self.down = nn.Sequential(
            nn.Conv2d(3, 128, 7, padding=3, padding_mode="reflect"), act,
            nn.Conv2d(128, 256, 3, padding=1), act,
            nn.Conv2d(256, 512, 3, stride=2, padding=1), act,
            nn.Conv2d(512, 1024, 3, stride=2, padding=1), act)
        self.blocks = nn.ModuleList(_StyleBlock() for _ in range(6))
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(1024, 512, 3, padding=1), act,
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(512, 256, 3, padding=1), act,
            nn.Conv2d(256, 128, 3, padding=1), act,
            nn.Conv2d(128, 3, 7, padding=3, padding_mode="reflect"), nn.Tanh())

    def forward(self, target: Tensor, source: Tensor) -> Tensor:
        x = self.down(target)
        for block in self.blocks:
            x = block(x, source)
        return (self.up(x) + 1.0) * 0.5


# ---------------------------------------------------------------- GFPGAN v1.4


def _gfpgan_channels(multiplier: int = 2, narrow: float = 1.0) -> dict[int, int]:
    return {4: int(512 * narrow), 8: int(512 * narrow), 16: int(512 * narrow), 32: int(512 * narrow),
            64: int(256 * multiplier * narrow), 128: int(128 * multiplier * narrow),
            256: int(64 * multiplier * narrow), 512: int(32 * multiplier * narrow)}


def _resize(x: Tensor, factor: float) -> Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class _ResSample(nn.Module):
    """Residual block that halves (``factor`` 0.5) or doubles (2) the resolution."""

    def __init__(self, cin: int, cout: int, factor: float) -> None:
        super().__init__()
        self.factor = factor
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = _resize(F.leaky_relu(self.conv1(x), 0.2), self.factor)
        y = F.leaky_relu(self.conv2(y), 0.2)
        return y + self.skip(_resize(x, self.factor))


class _ModConv(nn.Module):
    """StyleGAN2 modulated convolution (per-sample weights as one grouped convolution)."""

    def __init__(self, cin: int, cout: int, k: int, latent: int, *, demodulate: bool = True,
                 upsample: bool = False) -> None:
        super().__init__()
        self.cin, self.cout, self.k = cin, cout, k
        self.demodulate, self.upsample = demodulate, upsample
        self.modulation = nn.Linear(latent, cin)
        nn.init.ones_(self.modulation.bias)
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k) / math.sqrt(cin * k * k))

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        b = x.shape[0]
        w = self.weight * self.modulation(style).view(b, 1, self.cin, 1, 1)
        if self.demodulate:
            w = w * torch.rsqrt(w.pow(2).sum([2, 3, 4]) + 1e-8).view(b, self.cout, 1, 1, 1)
        if self.upsample:
            x = _resize(x, 2.0)
        h, wd = x.shape[2], x.shape[3]
        out = F.conv2d(x.reshape(1, b * self.cin, h, wd), w.reshape(b * self.cout, self.cin, self.k, self.k),
                       padding=self.k // 2, groups=b)
        return out.view(b, self.cout, h, wd)


class _StyleConv(nn.Module):
    def __init__(self, cin: int, cout: int, latent: int, size: int, *, upsample: bool) -> None:
        super().__init__()
        self.conv = _ModConv(cin, cout, 3, latent, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.full((1,), 0.1))
        self.register_buffer("noise", torch.randn(1, 1, size, size))  # fixed noise: deterministic export
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        y = self.conv(x, style) * math.sqrt(2.0) + self.noise_strength * self.noise + self.bias
        return F.leaky_relu(y, 0.2)


class _ToRGB(nn.Module):
    def __init__(self, cin: int, latent: int) -> None:
        super().__init__()
        self.conv = _ModConv(cin, 3, 1, latent, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None) -> Tensor:
        y = self.conv(x, style) + self.bias
        return y if skip is None else y + _resize(skip, 2.0)


class GfpganV14(nn.Module):
    """``forward(input [1,3,512,512] RGB in -1..1) -> [1,3,512,512]``."""

    def __init__(self, size: int = 512, latent: int = 512, n_mlp: int = 8) -> None:
        super().__init__()
        self.latent = latent
        log = int(math.log2(size))
        unet = {k: v // 2 for k, v in _gfpgan_channels().items()}  # the U-Net runs at half width
        dec = _gfpgan_channels()
        self.stem = nn.Conv2d(3, unet[size], 1)
        self.downs = nn.ModuleList(_ResSample(unet[2 ** i], unet[2 ** (i - 1)], 0.5) for i in range(log, 2, -1))
        self.final_conv = nn.Conv2d(unet[4], unet[4], 3, 1, 1)
        self.n_latent = log * 2 - 2
        self.final_linear = nn.Linear(unet[4] * 16, self.n_latent * latent)
        self.ups = nn.ModuleList(_ResSample(unet[2 ** (i - 1)], unet[2 ** i], 2.0) for i in range(3, log + 1))
        # the checkpoint also carries the U-Net's auxiliary to-RGB heads and the (unused at inference)
        # style MLP; they count toward the parameters, the exported graph drops them as the real export does
        self.aux_rgb = nn.ModuleList(nn.Conv2d(unet[2 ** i], 3, 1) for i in range(3, log + 1))
        self.style_mlp = nn.Sequential(*[m for _ in range(n_mlp) for m in (nn.Linear(latent, latent), nn.LeakyReLU(0.2))])

        def sft() -> nn.ModuleList:  # SFT on half the channels: the condition has the level's U-Net width
            return nn.ModuleList(nn.Sequential(nn.Conv2d(unet[2 ** i], unet[2 ** i], 3, 1, 1), nn.LeakyReLU(0.2),
                                               nn.Conv2d(unet[2 ** i], unet[2 ** i], 3, 1, 1))
                                 for i in range(3, log + 1))
        self.cond_scale, self.cond_shift = sft(), sft()
        self.const = nn.Parameter(torch.randn(1, dec[4], 4, 4))
        self.conv1 = _StyleConv(dec[4], dec[4], latent, 4, upsample=False)
        self.rgb1 = _ToRGB(dec[4], latent)
        convs, rgbs, cin = [], [], dec[4]
        for i in range(3, log + 1):
            cout = dec[2 ** i]
            convs += [_StyleConv(cin, cout, latent, 2 ** i, upsample=True), _StyleConv(cout, cout, latent, 2 ** i, upsample=False)]
            rgbs.append(_ToRGB(cout, latent))
            cin = cout
        self.convs, self.rgbs = nn.ModuleList(convs), nn.ModuleList(rgbs)

    def forward(self, x: Tensor) -> Tensor:
        feat = F.leaky_relu(self.stem(x), 0.2)
        skips = []
        for down in self.downs:
            feat = down(feat)
            skips.insert(0, feat)
        feat = F.leaky_relu(self.final_conv(feat), 0.2)
        w = self.final_linear(feat.flatten(1)).view(x.shape[0], self.n_latent, self.latent)
        conditions = []
        for i, up in enumerate(self.ups):
            feat = up(feat + skips[i])
            conditions += [self.cond_scale[i](feat), self.cond_shift[i](feat)]
        out = self.conv1(self.const.expand(x.shape[0], -1, -1, -1), w[:, 0])
        skip = self.rgb1(out, w[:, 1], None)
        j = 1
        for level in range(len(self.rgbs)):
            out = self.convs[2 * level](out, w[:, j])
            same, part = out.chunk(2, dim=1)
            out = torch.cat([same, part * conditions[2 * level] + conditions[2 * level + 1]], dim=1)
            out = self.convs[2 * level + 1](out, w[:, j + 1])
            skip = self.rgbs[level](out, w[:, j + 2], skip)
            j += 2
        return skip


# ---------------------------------------------------------------- BiSeNet, ResNet-34 backbone


class _CBR(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class _Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.short(x))


def _stage(cin: int, cout: int, n: int, stride: int) -> nn.Sequential:
    return nn.Sequential(_Basic(cin, cout, stride), *[_Basic(cout, cout, 1) for _ in range(n - 1)])


class _Attention(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = _CBR(cin, cout)
        self.att = nn.Sequential(nn.Conv2d(cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        f = self.conv(x)
        return f * self.att(f.mean((2, 3), keepdim=True))


class _Head(nn.Sequential):
    def __init__(self, cin: int, mid: int, classes: int) -> None:
        super().__init__(_CBR(cin, mid), nn.Conv2d(mid, classes, 1, bias=False))


class BiSeNetR34(nn.Module):
    """``forward(input [B,3,512,512] ImageNet-normalised RGB) -> 3 x [B,19,512,512] logits``."""

    def __init__(self, classes: int = 19) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.layer1, self.layer2 = _stage(64, 64, 3, 1), _stage(64, 128, 4, 2)
        self.layer3, self.layer4 = _stage(128, 256, 6, 2), _stage(256, 512, 3, 2)
        self.arm16, self.arm32 = _Attention(256, 128), _Attention(512, 128)
        self.head32, self.head16 = _CBR(128, 128), _CBR(128, 128)
        self.conv_avg = _CBR(512, 128, 1)
        self.ffm = _CBR(256, 256, 1)
        self.ffm_att = nn.Sequential(nn.Conv2d(256, 64, 1, bias=False), nn.ReLU(), nn.Conv2d(64, 256, 1, bias=False),
                                     nn.Sigmoid())
        self.out, self.out16, self.out32 = _Head(256, 256, classes), _Head(128, 64, classes), _Head(128, 64, classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        size = x.shape[2:]
        f8 = self.layer2(self.layer1(self.stem(x)))
        f16 = self.layer3(f8)
        f32 = self.layer4(f16)
        avg = self.conv_avg(f32.mean((2, 3), keepdim=True))
        up32 = self.head32(F.interpolate(self.arm32(f32) + avg, size=f16.shape[2:], mode="nearest"))
        up16 = self.head16(F.interpolate(self.arm16(f16) + up32, size=f8.shape[2:], mode="nearest"))
        fuse = self.ffm(torch.cat([f8, up16], dim=1))
        fuse = fuse * self.ffm_att(fuse.mean((2, 3), keepdim=True)) + fuse

        def full(t: Tensor) -> Tensor:
            return F.interpolate(t, size=size, mode="bilinear", align_corners=True)
        return full(self.out(fuse)), full(self.out16(up16)), full(self.out32(up32))


# ---------------------------------------------------------------- SCRFD det_10g


class _BasicDown(nn.Module):
    """Basic block whose projection average-pools before its 1x1 convolution (ResNet-D style)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        if stride != 1 or cin != cout:
            pool: list[nn.Module] = [nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)] \
                if stride != 1 else []
            self.short: nn.Module = nn.Sequential(*pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        else:
            self.short = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.short(x))


class Scrfd10g(nn.Module):
    """``forward(input.1 [1,3,640,640]) -> 9 tensors``: scores s8/16/32 [N,1], boxes [N,4], key points [N,10]."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 28, 3, 2, 1, bias=False), nn.BatchNorm2d(28), nn.ReLU(),
            nn.Conv2d(28, 28, 3, 1, 1, bias=False), nn.BatchNorm2d(28), nn.ReLU(),
            nn.Conv2d(28, 56, 3, 1, 1, bias=False), nn.BatchNorm2d(56), nn.ReLU(), nn.MaxPool2d(2, 2))
        stages, cin = [], 56
        for cout, n, stride in ((56, 3, 1), (88, 4, 2), (88, 2, 2), (224, 3, 2)):
            stages.append(nn.Sequential(_BasicDown(cin, cout, stride), *[_BasicDown(cout, cout, 1) for _ in range(n - 1)]))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList(nn.Conv2d(c, 56, 1) for c in (88, 88, 224))
        self.fpn = nn.ModuleList(nn.Conv2d(56, 56, 3, 1, 1) for _ in range(3))
        self.down = nn.ModuleList(nn.Conv2d(56, 56, 3, 2, 1) for _ in range(2))
        self.pafpn = nn.ModuleList(nn.Conv2d(56, 56, 3, 1, 1) for _ in range(2))

        def tower() -> nn.Sequential:
            layers: list[nn.Module] = []
            for cin_ in (56, 80, 80):
                layers += [nn.Conv2d(cin_, 80, 3, 1, 1, bias=False), nn.BatchNorm2d(80), nn.ReLU()]
            return nn.Sequential(*layers)
        self.towers = nn.ModuleList(tower() for _ in range(3))
        self.cls = nn.ModuleList(nn.Conv2d(80, 2, 3, 1, 1) for _ in range(3))
        self.reg = nn.ModuleList(nn.Conv2d(80, 8, 3, 1, 1) for _ in range(3))
        self.kps = nn.ModuleList(nn.Conv2d(80, 20, 3, 1, 1) for _ in range(3))
        self.scales = nn.Parameter(torch.ones(3))

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        lat = [conv(f) for conv, f in zip(self.lateral, feats[1:], strict=True)]
        for i in (2, 1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode="nearest")
        inter = [conv(t) for conv, t in zip(self.fpn, lat, strict=True)]
        for i in range(2):
            inter[i + 1] = inter[i + 1] + self.down[i](inter[i])
        outs = [inter[0]] + [self.pafpn[i - 1](inter[i]) for i in (1, 2)]
        scores, boxes, points = [], [], []
        for i, f in enumerate(outs):
            t = self.towers[i](f)
            scores.append(torch.sigmoid(self.cls[i](t)).permute(0, 2, 3, 1).reshape(-1, 1))
            boxes.append((self.reg[i](t) * self.scales[i]).permute(0, 2, 3, 1).reshape(-1, 4))
            points.append(self.kps[i](t).permute(0, 2, 3, 1).reshape(-1, 10))
        return (*scores, *boxes, *points)


# ---------------------------------------------------------------- ArcFace IResNet-50


class _IBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
                                  nn.PReLU(cout), nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.short(x)


class IResNet50(nn.Module):
    """``forward(input.1 [N,3,112,112]) -> [N,512]`` (not normalised)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64)]
        cin = 64
        for cout, n in ((64, 3), (128, 4), (256, 14), (512, 3)):
            layers += [_IBlock(cin, cout, 2)] + [_IBlock(cout, cout, 1) for _ in range(n - 1)]
            cin = cout
        layers += [nn.BatchNorm2d(512), nn.Dropout(0.0), nn.Flatten(), nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
