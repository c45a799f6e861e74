"""``chain1d``: one small 1-D CNN shared by every bipolar chain, compared across hemispheres.

The IIIC patterns are defined by what one derivation shows (periodic discharges, rhythmic
delta, evolving rhythms) and by how the derivations compare (ACNS 2021: lateralized = one
hemisphere or clearly higher on one side; generalized = bilateral and synchronous). This model
builds those two steps in:

1. a per-channel encoder (stem + multi-scale residual stages, the blocks of ``eeg1d``) runs on
   every bipolar channel separately with the SAME weights: (B, C, T) → (B, C, W, T'). What it
   learns about a waveform holds in every chain, whatever field shapes the training data had;
2. homologous pairs (Fp1-F7 ↔ Fp2-F8, …, the 8 pairs of ``constants.BIPOLAR_PAIRS``) are
   combined symmetrically: their mean and their absolute difference, then the mean and the
   maximum over the pairs, plus the mean of the extra channels (midline Fz-Cz, Cz-Pz; EKG)
   → (B, 5W, T'). The result is invariant to a left/right mirror by construction;
3. a bidirectional GRU over time, mean + max + attention pooling, dropout, linear → logits.

With ``input_norm="window"`` the window is first divided by its typical channel amplitude
(:class:`~iiic.models.blocks.WindowScale`), so the model reads shape and relative size only.

The first 16 input channels must be the double-banana chains in ``constants.BIPOLAR_PAIRS``
order (LL, RL, LP, RP), as ``PreprocessConfig`` writes them; channels after them are 'extra'.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from iiic import constants
from iiic.models.base import IIICModel, ModelOptions, Sizes
from iiic.models.blocks import (
    ConvBnAct1d,
    MeanMaxAttnPool1d,
    MultiScaleResBlock1d,
    WindowScale,
    classifier_head,
)
from iiic.models.registry import register_model
from iiic.utils import bad_value

N_CHAIN_CHANNELS = len(constants.BIPOLAR_PAIRS)  # 16
_LL, _RL, _LP, _RP = (constants.SPEC_CHAINS.index(c) for c in ("LL", "RL", "LP", "RP"))
LEFT = tuple(4 * c + i for c in (_LL, _LP) for i in range(4))
"""Indices of the 8 left-hemisphere chain channels (LL then LP)."""
RIGHT = tuple(4 * c + i for c in (_RL, _RP) for i in range(4))
"""Their homologous right-hemisphere channels, in the same order (RL then RP)."""


def require_chains(model: str, n_chans: int) -> None:
    """Models that compare homologous chains need the 16 double-banana chains first."""
    if n_chans < N_CHAIN_CHANNELS:
        raise ValueError(
            bad_value(
                f"{model}: n_chans",
                f">= {N_CHAIN_CHANNELS} (the double-banana "
                "chains first, in constants.BIPOLAR_PAIRS order)",
                n_chans,
            )
        )


class Chain1dOptions(ModelOptions):
    """Options of :class:`Chain1d` (sizes in channels / samples)."""

    widths: Sizes = Field((16, 24, 32), min_length=1)
    kernel_sizes: Sizes = Field((3, 7), min_length=1)
    stem_kernel: int = Field(9, ge=1)
    stem_stride: int = Field(2, ge=1)
    stage_stride: int = Field(4, ge=1)
    gru_hidden: int = Field(32, ge=1)
    drop_rate: float = Field(0.2, ge=0.0, lt=1.0)
    input_norm: Literal["none", "window"] = "none"


def channel_encoder(opts: Chain1dOptions) -> nn.Sequential:
    """The shared per-channel CNN: (N, 1, T) → (N, widths[-1], T')."""
    w = opts.widths
    layers: list[nn.Module] = [ConvBnAct1d(1, w[0], opts.stem_kernel, opts.stem_stride)]
    for i, width in enumerate(w):
        layers.append(MultiScaleResBlock1d(width, opts.kernel_sizes, opts.drop_rate / 2))
        nxt = w[i + 1] if i + 1 < len(w) else width
        layers.append(ConvBnAct1d(width, nxt, 2 * opts.stage_stride + 1, opts.stage_stride))
    return nn.Sequential(*layers)


@register_model
class Chain1d(IIICModel):
    """Shared per-channel CNN → symmetric hemisphere comparison → BiGRU (module docstring)."""

    name = "chain1d"
    Options = Chain1dOptions
    tiny_options: ClassVar[dict[str, Any]] = {
        "widths": (4, 6),
        "kernel_sizes": (3,),
        "gru_hidden": 4,
    }
    needs_eeg = True
    needs_spec = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require_chains(self.name, self.n_chans)
        opts = self.options
        self.scale = WindowScale() if opts.input_norm == "window" else nn.Identity()
        self.encoder = channel_encoder(opts)
        width = opts.widths[-1]
        n_groups = 5 if self.n_chans > N_CHAIN_CHANNELS else 4
        self.mix = ConvBnAct1d(n_groups * width, 2 * width, 1)
        self.gru = nn.GRU(2 * width, opts.gru_hidden, batch_first=True, bidirectional=True)
        self.pool = MeanMaxAttnPool1d(2 * opts.gru_hidden)
        self.num_features = self.pool.out_features
        self.head = classifier_head(self.num_features, self.n_outputs, opts.drop_rate)
        self.register_buffer("left", torch.tensor(LEFT), persistent=False)
        self.register_buffer("right", torch.tensor(RIGHT), persistent=False)

    def forward_features(
        self, eeg: torch.Tensor | None, spec: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_inputs(eeg, spec)
        b, c, t = eeg.shape
        z = self.encoder(self.scale(eeg).reshape(b * c, 1, t))  # (B*C, W, T')
        z = z.reshape(b, c, z.shape[1], z.shape[2])  # (B, C, W, T')
        left, right = z[:, self.left], z[:, self.right]  # (B, 8, W, T') each
        both, diff = (left + right) / 2, (left - right).abs()
        groups = [both.mean(1), both.amax(1), diff.mean(1), diff.amax(1)]
        if c > N_CHAIN_CHANNELS:
            groups.append(z[:, N_CHAIN_CHANNELS:].mean(1))
        x = self.mix(torch.cat(groups, dim=1))  # (B, 2W, T')
        x, _ = self.gru(x.transpose(1, 2))  # (B, T', 2H)
        return self.pool(x)
