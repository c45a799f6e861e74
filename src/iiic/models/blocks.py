"""Building blocks shared by the iiic models (1-D conv stacks, pooling, heads).

Shapes are written ``(B, C, T)``: batch, channels, time steps.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvBnAct1d(nn.Sequential):
    """Conv1d → BatchNorm1d → SiLU with 'same'-style padding (kernel // 2)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv1d(
                c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
            ),
            nn.BatchNorm1d(c_out),
            nn.SiLU(inplace=True),
        )


class MultiScaleResBlock1d(nn.Module):
    """Residual block with parallel kernels of several sizes: (B, C, T) → (B, C, T).

    Each branch is a ``Conv1d(C, C, k)``; the branches are concatenated, mixed back to C
    channels by a 1×1 conv and added to the input.
    """

    def __init__(
        self, channels: int, kernel_sizes: tuple[int, ...], drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(ConvBnAct1d(channels, channels, k) for k in kernel_sizes)
        self.mix = nn.Sequential(
            nn.Conv1d(channels * len(kernel_sizes), channels, 1, bias=False),
            nn.BatchNorm1d(channels),
        )
        self.drop = nn.Dropout(drop_rate)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([branch(x) for branch in self.branches], dim=1)  # (B, C*K, T)
        return self.act(x + self.drop(self.mix(y)))


class WindowScale(nn.Module):
    """Divide each window by its typical channel amplitude: (B, C, T) → (B, C, T).

    The scale is the geometric mean over channels of each channel's mean absolute value (over
    time), so one artifact-laden channel moves it little (a 10x channel: x1.14 with 18
    channels). The model then sees the EEG relative to its own background level, as a reader
    adjusts the gain: patterns are told by their shape, field and size relative to the rest,
    not by the recording's absolute µV, which varies between patients, amplifiers and the twin.
    """

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = torch.log(x.abs().mean(dim=2) + self.eps).mean(dim=1).exp()  # (B,)
        return x / (level[:, None, None] + self.eps)


class AttentionPool1d(nn.Module):
    """Learned softmax attention over time: (B, T, C) → (B, C)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.score = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(x), dim=1)  # (B, T, 1)
        return (weights * x).sum(dim=1)


class MeanMaxAttnPool1d(nn.Module):
    """Concatenate mean, max and attention pooling over time: (B, T, C) → (B, 3C)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.attn = AttentionPool1d(channels)
        self.out_features = 3 * channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=1), x.amax(dim=1), self.attn(x)], dim=1)


def classifier_head(in_features: int, n_outputs: int, drop_rate: float) -> nn.Sequential:
    """Dropout → Linear: (B, in_features) → logits (B, n_outputs)."""
    return nn.Sequential(nn.Dropout(drop_rate), nn.Linear(in_features, n_outputs))
