"""``eeg1d``: a 1-D CNN over the bipolar chains → bidirectional GRU → pooling → logits.

Layout, for an input (B, n_chans, n_times):

0. optional (``input_norm="window"``): divide the window by its typical channel amplitude
   (:class:`~iiic.models.blocks.WindowScale`)
1. stem: ``Conv1d(n_chans, widths[0], stem_kernel, stride=stem_stride)`` (B, W0, T/s)
2. stages: ``blocks_per_stage`` multi-scale residual blocks (kernels ``kernel_sizes``), then a
   strided conv that downsamples time by ``stage_stride`` and widens to the next width
3. a bidirectional GRU over the remaining time steps (B, T', 2·gru_hidden)
4. mean + max + attention pooling over time → dropout → linear → logits (B, n_outputs)

The CPU preset (preset ``eeg1d_cpu``) uses narrow widths; the GPU preset wide ones.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from iiic.models.base import IIICModel, ModelOptions, Sizes
from iiic.models.blocks import (
    ConvBnAct1d,
    MeanMaxAttnPool1d,
    MultiScaleResBlock1d,
    WindowScale,
    classifier_head,
)
from iiic.models.registry import register_model


class Eeg1dOptions(ModelOptions):
    """Options of :class:`Eeg1d` (sizes in channels / samples)."""

    widths: Sizes = Field((32, 64, 96, 128), min_length=1)
    blocks_per_stage: int = Field(1, ge=1)
    kernel_sizes: Sizes = Field((3, 7, 15), min_length=1)
    stem_kernel: int = Field(15, ge=1)
    stem_stride: int = Field(2, ge=1)
    stage_stride: int = Field(4, ge=1)
    gru_hidden: int = Field(64, ge=1)
    gru_layers: int = Field(1, ge=1)
    drop_rate: float = Field(0.2, ge=0.0, lt=1.0)
    input_norm: Literal["none", "window"] = "none"


class Eeg1dEncoder(nn.Module):
    """(B, n_chans, n_times) → pooled features (B, out_features)."""

    def __init__(self, n_chans: int, opts: Eeg1dOptions) -> None:
        super().__init__()
        w = opts.widths
        layers: list[nn.Module] = [WindowScale()] if opts.input_norm == "window" else []
        layers.append(ConvBnAct1d(n_chans, w[0], opts.stem_kernel, opts.stem_stride))
        for i, width in enumerate(w):
            layers += [
                MultiScaleResBlock1d(width, opts.kernel_sizes, opts.drop_rate / 2)
                for _ in range(opts.blocks_per_stage)
            ]
            nxt = w[i + 1] if i + 1 < len(w) else width
            layers.append(ConvBnAct1d(width, nxt, 2 * opts.stage_stride + 1, opts.stage_stride))
        self.cnn = nn.Sequential(*layers)
        self.gru = nn.GRU(
            w[-1], opts.gru_hidden, num_layers=opts.gru_layers, batch_first=True, bidirectional=True
        )
        self.pool = MeanMaxAttnPool1d(2 * opts.gru_hidden)
        self.out_features = self.pool.out_features

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:
        x = self.cnn(eeg)  # (B, W, T')
        x, _ = self.gru(x.transpose(1, 2))  # (B, T', 2H)
        return self.pool(x)  # (B, 6H)


@register_model
class Eeg1d(IIICModel):
    """1-D CNN + BiGRU over the preprocessed bipolar EEG (see the module docstring)."""

    name = "eeg1d"
    Options = Eeg1dOptions
    tiny_options: ClassVar[dict[str, Any]] = {
        "widths": (8, 12),
        "kernel_sizes": (3, 5),
        "gru_hidden": 6,
    }
    needs_eeg = True
    needs_spec = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder = Eeg1dEncoder(self.n_chans, self.options)
        self.num_features = self.encoder.out_features
        self.head = classifier_head(self.num_features, self.n_outputs, self.options.drop_rate)

    def forward_features(
        self, eeg: torch.Tensor | None, spec: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_inputs(eeg, spec)
        return self.encoder(eeg)
