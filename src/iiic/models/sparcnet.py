"""``sparcnet``: a 1-D DenseNet in the style of SPaRCNet, the clinical baseline.

Jing et al., "Development of Expert-Level Classification of Seizures and Rhythmic and Periodic
Patterns During EEG Interpretation", Neurology 2023. From the paper's description: the input is
the 16 bipolar chains (optionally + the 2 central pairs) over **10 s at 200 Hz**; a first
convolution + max-pool, then dense blocks of 1-D convolutions (BN → ELU → 1×1 bottleneck →
BN → ELU → k=3 conv, each layer's output concatenated to its input) separated by transition
layers (BN → ELU → 1×1 conv halving the channels → average pool /2) until the time axis is
collapsed; ELU → linear → 6 logits.

iiic windows are 50 s long; experts labelled the central 10 s. This model therefore **crops the
central ``crop_s`` seconds itself** (``constants.LABEL_WINDOW_S`` = 10 s by default), so it sees
exactly what SPaRCNet saw. Hyper-parameters follow the published implementation's defaults
(growth 16, bottleneck ×16, 4 layers per block, dropout 0.5).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from iiic.constants import LABEL_WINDOW_S
from iiic.models.base import IIICModel, ModelOptions
from iiic.models.registry import register_model


class SparcnetOptions(ModelOptions):
    """Options of :class:`Sparcnet`."""

    crop_s: float = Field(LABEL_WINDOW_S, gt=0)
    growth_rate: int = Field(16, ge=1)
    bn_size: int = Field(16, ge=1)
    block_layers: int = Field(4, ge=1)
    max_blocks: int = Field(8, ge=1)
    drop_rate: float = Field(0.5, ge=0.0, lt=1.0)


class DenseLayer1d(nn.Module):
    """BN-ELU-Conv1×1(bn_size·growth)-BN-ELU-Conv3(growth)-Dropout; output concatenated."""

    def __init__(self, c_in: int, growth: int, bn_size: int, drop_rate: float) -> None:
        super().__init__()
        mid = bn_size * growth
        self.body = nn.Sequential(
            nn.BatchNorm1d(c_in), nn.ELU(),
            nn.Conv1d(c_in, mid, 1),
            nn.BatchNorm1d(mid), nn.ELU(),
            nn.Conv1d(mid, growth, 3, padding=1),
            nn.Dropout(drop_rate),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)  # (B, C + growth, T)


def _transition(c_in: int, c_out: int) -> nn.Sequential:
    """BN-ELU-Conv1×1-AvgPool(2): (B, c_in, T) → (B, c_out, T // 2)."""
    return nn.Sequential(
        nn.BatchNorm1d(c_in), nn.ELU(), nn.Conv1d(c_in, c_out, 1), nn.AvgPool1d(2, 2)
    )


@register_model
class Sparcnet(IIICModel):
    """SPaRCNet-style 1-D DenseNet on the central 10 s (see the module docstring)."""

    name = "sparcnet"
    Options = SparcnetOptions
    tiny_options: ClassVar[dict[str, Any]] = {
        "growth_rate": 4,
        "bn_size": 2,
        "block_layers": 1,
        "max_blocks": 3,
    }
    needs_eeg = True
    needs_spec = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        o = self.options
        self.crop_samples = round(o.crop_s * self.sfreq_hz)
        if self.crop_samples > self.n_times:
            raise ValueError(
                f"sparcnet: crop_s={o.crop_s} s is {self.crop_samples} samples at "
                f"{self.sfreq_hz} Hz, longer than n_times={self.n_times}"
            )
        width = 2 ** (math.floor(math.log2(self.n_chans)) + 1)
        layers: list[nn.Module] = [
            nn.Conv1d(self.n_chans, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm1d(width), nn.ELU(),
            nn.MaxPool1d(3, stride=2, padding=1),
        ]  # fmt: skip
        length = math.ceil(math.ceil(self.crop_samples / 2) / 2)
        n_blocks = max(1, min(o.max_blocks, int(math.floor(math.log2(max(length, 2))))))
        for _ in range(n_blocks):
            for _ in range(o.block_layers):
                layers.append(DenseLayer1d(width, o.growth_rate, o.bn_size, o.drop_rate))
                width += o.growth_rate
            if length >= 2:
                layers.append(_transition(width, width // 2))
                width, length = width // 2, length // 2
        self.features = nn.Sequential(*layers, nn.ELU(), nn.AdaptiveAvgPool1d(1))
        self.num_features = width
        self.head = nn.Linear(width, self.n_outputs)

    def crop(self, eeg: torch.Tensor) -> torch.Tensor:
        """The central ``crop_s`` seconds: (B, C, n_times) → (B, C, crop_samples)."""
        start = (self.n_times - self.crop_samples) // 2
        return eeg[..., start : start + self.crop_samples]

    def forward_features(
        self, eeg: torch.Tensor | None, spec: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_inputs(eeg, spec)
        return self.features(self.crop(eeg)).flatten(1)  # (B, width)
