"""``squeezeformer1d``: convolution + attention blocks over the bipolar chains, with a temporal U.

The raw-EEG branch of the 3rd-place HMS solution, after Squeezeformer (Kim et al. 2022): for an
input (B, n_chans, n_times),

0. optional (``input_norm="window"``): divide the window by its typical channel amplitude
   (:class:`~iiic.models.blocks.WindowScale`);
1. stem: strided convolutions over all channels, one per entry of ``stem_strides``
   → tokens (B, T0, dim) with T0 = n_times / prod(stem_strides);
2. ``depth_pre`` Squeezeformer blocks at T0; each block is post-LN
   ``x = LN(x + MHSA(x)); x = LN(x + FFN(x)); x = LN(x + Conv(x)); x = LN(x + FFN(x))``
   with Conv = pointwise + GLU → depthwise (``conv_kernel``) → BatchNorm → SiLU → pointwise;
3. temporal down-sampling ×2 (strided depthwise conv) and ``depth_down`` blocks at T0 / 2;
4. up-sampling back to T0 (nearest), added to the skip from step 2, then ``depth_post`` blocks;
5. mean + max + attention pooling over time → dropout → linear → logits (B, n_outputs).

Positions are only seen through the stem and depthwise convolutions (no positional encoding):
the classes are defined by waveform shape and rhythm, wherever they fall in the window.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from iiic.models.base import IIICModel, ModelOptions, Sizes
from iiic.models.blocks import ConvBnAct1d, MeanMaxAttnPool1d, WindowScale, classifier_head
from iiic.models.registry import register_model
from iiic.utils import bad_value


class Squeezeformer1dOptions(ModelOptions):
    """Options of :class:`Squeezeformer1d` (sizes in channels / samples / tokens)."""

    dim: int = Field(64, ge=1)
    heads: int = Field(4, ge=1)
    depth_pre: int = Field(2, ge=0)
    depth_down: int = Field(2, ge=1)
    depth_post: int = Field(1, ge=0)
    stem_strides: Sizes = Field((4, 2), min_length=1)
    stem_kernel: int = Field(9, ge=1)
    conv_kernel: int = Field(15, ge=1)
    ff_mult: int = Field(4, ge=1)
    drop_rate: float = Field(0.2, ge=0.0, lt=1.0)
    input_norm: Literal["none", "window"] = "none"

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> Squeezeformer1dOptions:
        if self.dim % self.heads:
            raise ValueError(
                bad_value("dim", "a multiple of heads", f"dim={self.dim}, heads={self.heads}")
            )
        return self


class FeedForward(nn.Sequential):
    """Linear(dim, mult·dim) → SiLU → dropout → Linear → dropout: (B, T, D) → (B, T, D)."""

    def __init__(self, dim: int, mult: int, drop: float) -> None:
        super().__init__(
            nn.Linear(dim, mult * dim), nn.SiLU(), nn.Dropout(drop),
            nn.Linear(mult * dim, dim), nn.Dropout(drop),
        )  # fmt: skip


class ConvModule(nn.Module):
    """Pointwise + GLU → depthwise conv → BatchNorm → SiLU → pointwise: (B, T, D) → (B, T, D)."""

    def __init__(self, dim: int, kernel: int, drop: float) -> None:
        super().__init__()
        self.pw1 = nn.Conv1d(dim, 2 * dim, 1)
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim, bias=False)
        self.bn = nn.BatchNorm1d(dim)
        self.pw2 = nn.Conv1d(dim, dim, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        y = F.glu(self.pw1(x.transpose(1, 2)), dim=1)  # (B, D, T)
        y = F.silu(self.bn(self.dw(y)[..., :t]))  # even kernels pad one extra step: cropped
        return self.drop(self.pw2(y)).transpose(1, 2)  # (B, T, D)


class SelfAttention(nn.Module):
    """Multi-head self-attention (``F.scaled_dot_product_attention``): (B, T, D) → (B, T, D).

    Written out rather than ``nn.MultiheadAttention``, whose inference fast path has no ONNX export.
    """

    def __init__(self, dim: int, heads: int, drop: float) -> None:
        super().__init__()
        self.heads, self.drop = heads, drop
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2],
                                           dropout_p=self.drop if self.training else 0.0)  # fmt: skip
        return self.out(y.transpose(1, 2).reshape(b, t, d))  # (B, T, D)


class SqueezeformerBlock(nn.Module):
    """MHSA, FFN, Conv, FFN, each residual and post-LayerNorm: (B, T, D) → (B, T, D)."""

    def __init__(self, opts: Squeezeformer1dOptions) -> None:
        super().__init__()
        d, drop = opts.dim, opts.drop_rate / 2
        self.attn = SelfAttention(d, opts.heads, drop)
        self.attn_drop = nn.Dropout(drop)
        self.ff1, self.ff2 = FeedForward(d, opts.ff_mult, drop), FeedForward(d, opts.ff_mult, drop)
        self.conv = ConvModule(d, opts.conv_kernel, drop)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norms[0](x + self.attn_drop(self.attn(x)))
        x = self.norms[1](x + self.ff1(x))
        x = self.norms[2](x + self.conv(x))
        return self.norms[3](x + self.ff2(x))


class Squeezeformer1dEncoder(nn.Module):
    """(B, n_chans, n_times) → pooled features (B, 3·dim)."""

    def __init__(self, n_chans: int, opts: Squeezeformer1dOptions) -> None:
        super().__init__()
        d = opts.dim
        stem: list[nn.Module] = [WindowScale()] if opts.input_norm == "window" else []
        for i, stride in enumerate(opts.stem_strides):
            stem.append(ConvBnAct1d(n_chans if i == 0 else d, d, opts.stem_kernel, stride))
        self.stem = nn.Sequential(*stem)
        self.pre = nn.Sequential(*(SqueezeformerBlock(opts) for _ in range(opts.depth_pre)))
        self.down = nn.Conv1d(d, d, 3, stride=2, padding=1, groups=d)
        self.down_blocks = nn.Sequential(
            *(SqueezeformerBlock(opts) for _ in range(opts.depth_down))
        )
        self.up_proj = nn.Linear(d, d)
        self.post = nn.Sequential(*(SqueezeformerBlock(opts) for _ in range(opts.depth_post)))
        self.pool = MeanMaxAttnPool1d(d)
        self.out_features = self.pool.out_features

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:
        x = self.pre(self.stem(eeg).transpose(1, 2))  # (B, T0, D)
        y = self.down(x.transpose(1, 2))  # (B, D, ceil(T0/2))
        y = self.down_blocks(y.transpose(1, 2)).transpose(1, 2)  # (B, D, T0/2)
        y = F.interpolate(y, size=x.shape[1], mode="nearest").transpose(1, 2)  # (B, T0, D)
        x = self.post(x + self.up_proj(y))  # (B, T0, D)
        return self.pool(x)  # (B, 3D)


@register_model
class Squeezeformer1d(IIICModel):
    """Squeezeformer-style conv + attention encoder over the bipolar EEG (module docstring)."""

    name = "squeezeformer1d"
    Options = Squeezeformer1dOptions
    tiny_options: ClassVar[dict[str, Any]] = {
        "dim": 8,
        "heads": 2,
        "depth_pre": 1,
        "depth_down": 1,
        "depth_post": 1,
        "conv_kernel": 5,
    }
    needs_eeg = True
    needs_spec = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder = Squeezeformer1dEncoder(self.n_chans, self.options)
        self.num_features = self.encoder.out_features
        self.head = classifier_head(self.num_features, self.n_outputs, self.options.drop_rate)

    def forward_features(
        self, eeg: torch.Tensor | None, spec: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_inputs(eeg, spec)
        return self.encoder(eeg)
