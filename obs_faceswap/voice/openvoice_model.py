"""OpenVoice v2 tone-colour converter: the network (torch) and the loader of its official checkpoint.

The architecture is the published converter (myshell-ai/OpenVoice ``SynthesizerTrn`` with
``n_speakers = 0`` and the v2 ``converter/config.json``): a VITS-style model at 22.05 kHz on linear
spectrograms (n_fft 1024, hop 256, 513 bins):

- ``enc_q``: posterior encoder, 1x1 conv 513 -> 192, a WaveNet stack (16 layers, kernel 5, gated
  tanh-sigmoid, speaker-conditioned), 1x1 conv to mean and log-scale (192 each);
- ``flow``: 4 mean-only residual coupling layers (WaveNet of 4 layers each), each followed by a
  channel flip; conversion runs it forward with the source speaker, backward with the target;
- ``dec``: HiFi-GAN generator (512 channels, upsampling 8, 8, 2, 2 with kernels 16, 16, 4, 4,
  residual blocks of kernels 3, 7, 11 and dilations 1, 3, 5), conditioned through a 1x1 conv;
- ``ref_enc``: reference encoder, LayerNorm over the 513 bins, six 3x3 stride-2 conv2d (32, 32, 64,
  64, 128, 128 filters), a GRU (128 hidden) over time, a linear layer to the 256-d speaker embedding.

v2 sets ``zero_g``: the posterior encoder and the decoder get a zero speaker vector (their
conditioning biases still apply); only the flow sees the speakers.

Checkpoint layout: ``{"model": state_dict}`` (``torch.save``); convolutions trained with the
original ``torch.nn.utils.weight_norm`` are stored as ``<name>.weight_g`` / ``<name>.weight_v``.
``load_checkpoint`` folds them into plain weights (what inference does with ``remove_weight_norm``)
and then loads strictly, so a checkpoint with other keys or shapes is refused with the difference.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.1
# frames of latent on each side that one output frame of the official decoder depends on: conv_pre 3,
# the first upsampling 1, its residual blocks 60 samples at 8 per frame (7.5), the later stages < 2
DECODER_REACH = 14


@dataclass(frozen=True)
class ConverterConfig:
    """The official v2 converter config (``converter/config.json``)."""

    sampling_rate: int = 22050
    filter_length: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    inter_channels: int = 192
    hidden_channels: int = 192
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    gin_channels: int = 256
    zero_g: bool = True
    posterior_layers: int = 16
    flow_layers: int = 4
    n_flows: int = 4

    @property
    def spec_channels(self) -> int:
        return self.filter_length // 2 + 1


OFFICIAL = ConverterConfig()


def _padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class WaveNet(nn.Module):
    """Gated dilated conv stack with speaker conditioning (``modules.WN``; dilation rate 1 here)."""

    def __init__(self, hidden: int, kernel: int, layers: int, gin: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.layers = layers
        self.in_layers = nn.ModuleList(nn.Conv1d(hidden, 2 * hidden, kernel, padding=_padding(kernel))
                                       for _ in range(layers))
        self.res_skip_layers = nn.ModuleList(nn.Conv1d(hidden, 2 * hidden if i < layers - 1 else hidden, 1)
                                             for i in range(layers))
        self.cond_layer = nn.Conv1d(gin, 2 * hidden * layers, 1) if gin else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        out = torch.zeros_like(x)
        cond = self.cond_layer(g) if (g is not None and self.cond_layer is not None) else None
        h = self.hidden
        for i in range(self.layers):
            a = self.in_layers[i](x)
            if cond is not None:
                a = a + cond[:, 2 * h * i: 2 * h * (i + 1)]
            acts = torch.tanh(a[:, :h]) * torch.sigmoid(a[:, h:])
            rs = self.res_skip_layers[i](acts)
            if i < self.layers - 1:
                x = (x + rs[:, :h]) * mask
                out = out + rs[:, h:]
            else:
                out = out + rs
        return out * mask


class PosteriorEncoder(nn.Module):
    def __init__(self, c: ConverterConfig) -> None:
        super().__init__()
        self.out_channels = c.inter_channels
        self.pre = nn.Conv1d(c.spec_channels, c.hidden_channels, 1)
        self.enc = WaveNet(c.hidden_channels, 5, c.posterior_layers, c.gin_channels)
        self.proj = nn.Conv1d(c.hidden_channels, 2 * c.inter_channels, 1)

    def forward(self, spec: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None,
                noise: torch.Tensor | None) -> torch.Tensor:
        x = self.enc(self.pre(spec) * mask, mask, g)
        stats = self.proj(x) * mask
        m, logs = stats[:, : self.out_channels], stats[:, self.out_channels:]
        z = m if noise is None else m + noise * torch.exp(logs)
        return z * mask


class CouplingLayer(nn.Module):
    """Mean-only affine coupling: the second half of the channels moves by a function of the first."""

    def __init__(self, c: ConverterConfig) -> None:
        super().__init__()
        self.half = c.inter_channels // 2
        self.pre = nn.Conv1d(self.half, c.hidden_channels, 1)
        self.enc = WaveNet(c.hidden_channels, 5, c.flow_layers, c.gin_channels)
        self.post = nn.Conv1d(c.hidden_channels, self.half, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor, reverse: bool) -> torch.Tensor:
        x0, x1 = x[:, : self.half], x[:, self.half:]
        m = self.post(self.enc(self.pre(x0) * mask, mask, g)) * mask
        x1 = (x1 - m) * mask if reverse else m + x1 * mask
        return torch.cat([x0, x1], 1)


class Flip(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor, reverse: bool) -> torch.Tensor:
        return torch.flip(x, [1])


class Flow(nn.Module):
    def __init__(self, c: ConverterConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(c.n_flows):
            layers += [CouplingLayer(c), Flip()]
        self.flows = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        for f in (reversed(self.flows) if reverse else self.flows):
            x = f(x, mask, g, reverse)
        return x


class ResBlock(nn.Module):
    """HiFi-GAN residual block type 1: three (dilated conv, conv) pairs with leaky ReLUs."""

    def __init__(self, ch: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, dilation=d, padding=_padding(kernel, d))
                                    for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, kernel, padding=_padding(kernel)) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class Generator(nn.Module):
    def __init__(self, c: ConverterConfig) -> None:
        super().__init__()
        ch = c.upsample_initial_channel
        self.kernels = len(c.resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(c.inter_channels, ch, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip(c.upsample_rates, c.upsample_kernel_sizes, strict=True)):
            cin, cout = ch // 2 ** i, ch // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(cin, cout, k, u, padding=(k - u) // 2))
            for k2, d in zip(c.resblock_kernel_sizes, c.resblock_dilation_sizes, strict=True):
                self.resblocks.append(ResBlock(cout, k2, d))
        self.conv_post = nn.Conv1d(cout, 1, 7, padding=3, bias=False)
        self.cond = nn.Conv1d(c.gin_channels, ch, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x) + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.kernels: (i + 1) * self.kernels]
            x = sum(b(x) for b in blocks) / self.kernels  # type: ignore[assignment]
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


class ReferenceEncoder(nn.Module):
    def __init__(self, c: ConverterConfig) -> None:
        super().__init__()
        self.bins = c.spec_channels
        filters = [1, 32, 32, 64, 64, 128, 128]
        self.convs = nn.ModuleList(nn.Conv2d(filters[i], filters[i + 1], 3, 2, 1) for i in range(6))
        width = self.bins
        for _ in range(6):
            width = (width - 3 + 2) // 2 + 1
        self.gru = nn.GRU(128 * width, 128, batch_first=True)
        self.proj = nn.Linear(128, c.gin_channels)
        self.layernorm = nn.LayerNorm(self.bins)

    def forward(self, spec_t: torch.Tensor) -> torch.Tensor:
        """``spec_t`` [N, frames, 513] -> [N, 256]."""
        n = spec_t.size(0)
        x = self.layernorm(spec_t.reshape(n, 1, -1, self.bins))
        for conv in self.convs:
            x = F.relu(conv(x))
        frames = x.size(2)
        x = x.transpose(1, 2).reshape(n, frames, -1)  # [N, frames', 128 * width']
        _, h = self.gru(x)
        return self.proj(h.squeeze(0))


class ToneColorConverter(nn.Module):
    """The converter network; module names match the official checkpoint's keys."""

    def __init__(self, config: ConverterConfig = OFFICIAL) -> None:
        super().__init__()
        self.config = config
        self.dec = Generator(config)
        self.enc_q = PosteriorEncoder(config)
        self.flow = Flow(config)
        self.ref_enc = ReferenceEncoder(config)

    def spectrogram(self, wave: torch.Tensor) -> torch.Tensor:
        """[N, samples] at 22.05 kHz -> magnitude [N, 513, frames] (reflect padding of (n_fft - hop) / 2 on
        each side, no centring: frame k's centre is sample k * hop + hop / 2)."""
        c = self.config
        pad = (c.filter_length - c.hop_length) // 2
        x = F.pad(wave.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        window = torch.hann_window(c.win_length, device=wave.device, dtype=wave.dtype)
        spec = torch.stft(x, c.filter_length, c.hop_length, c.win_length, window=window, center=False,
                          return_complex=True)
        return torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-6)

    @torch.no_grad()
    def speaker_embedding(self, wave: torch.Tensor) -> torch.Tensor:
        """[N, samples] -> [N, 256, 1] (``ref_enc`` on the spectrogram)."""
        return self.ref_enc(self.spectrogram(wave).transpose(1, 2)).unsqueeze(-1)

    @torch.no_grad()
    def convert(self, spec: torch.Tensor, src: torch.Tensor, tgt: torch.Tensor, tau: float = 0.3,
                generator: torch.Generator | None = None, decode_from: int = 0) -> torch.Tensor:
        """Magnitude spectrogram [1, 513, frames], embeddings [1, 256, 1] -> wave [1, 1, (frames - decode_from)
        * hop]: the audio from frame ``decode_from`` on (the decoder, most of the cost, skips the frames
        before it; its output there is exact when ``decode_from`` is ``DECODER_REACH`` frames before the
        first sample needed)."""
        mask = torch.ones(1, 1, spec.size(2), dtype=spec.dtype, device=spec.device)
        zero = torch.zeros_like(src)
        noise = None
        if tau > 0:
            noise = torch.randn(spec.size(0), self.config.inter_channels, spec.size(2), generator=generator,
                                device="cpu", dtype=spec.dtype).to(spec.device) * tau
        z = self.enc_q(spec, mask, zero if self.config.zero_g else src, noise)
        z_p = self.flow(z, mask, src)
        z_hat = self.flow(z_p, mask, tgt, reverse=True)
        return self.dec((z_hat * mask)[:, :, decode_from:], zero if self.config.zero_g else tgt)


class CheckpointError(ValueError):
    """The file is not an OpenVoice v2 converter checkpoint."""


def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every ``x.weight_g`` / ``x.weight_v`` pair by ``x.weight = g * v / ||v||`` (norm over all
    dimensions but the first, as ``torch.nn.utils.weight_norm(dim=0)`` computes it)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight_v"):
            base = key[: -len(".weight_v")]
            g = state.get(base + ".weight_g")
            if g is None:
                raise CheckpointError(f"{key} has no matching {base}.weight_g")
            v = value.float()
            norm = v.reshape(v.size(0), -1).norm(dim=1).reshape(-1, *([1] * (v.dim() - 1)))
            out[base + ".weight"] = g.float() * v / norm
        elif not key.endswith(".weight_g"):
            out[key] = value
    return out


def load_state(model: ToneColorConverter, raw: Any) -> None:
    """Load an official checkpoint dict (``{"model": ...}`` or the state dict itself) into ``model``."""
    state = raw.get("model", raw) if isinstance(raw, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("not a state dict of tensors")
    state = fold_weight_norm(state)
    # a full OpenVoice synthesizer checkpoint may carry text-side weights the converter does not use
    state = {k: v for k, v in state.items() if k.split(".", 1)[0] in ("dec", "enc_q", "flow", "ref_enc")}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        def first(keys: list[str]) -> str:
            return ", ".join(keys[:3]) + (f" (+{len(keys) - 3})" if len(keys) > 3 else "")

        parts = [f"missing {first(missing)}" if missing else "", f"unexpected {first(unexpected)}" if unexpected else "",
                 f"shape differs for {first(wrong)}" if wrong else ""]
        raise CheckpointError("; ".join(p for p in parts if p))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def load_checkpoint(path: str | os.PathLike[str], device: str = "cpu") -> ToneColorConverter:
    """The converter with the weights of ``path`` (an official ``converter/checkpoint.pth``), in eval mode.

    Loaded with ``torch.load(weights_only=True)``: tensors only, no code runs from the file. Raises
    ``CheckpointError`` with the first differing keys when it is not a v2 converter checkpoint."""
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (pickle, zip and torch errors all mean "not a checkpoint")
        raise CheckpointError(f"cannot read it as a torch checkpoint ({type(exc).__name__})") from None
    model = ToneColorConverter()
    load_state(model, raw)
    return model.to(device).eval()
