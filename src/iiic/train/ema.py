"""Exponential moving average of model weights (validation and the saved model use it)."""

from __future__ import annotations

import copy

import torch
from torch import nn

EMA_WARMUP_STEPS = 10
"""The effective decay ramps as (1 + t) / (EMA_WARMUP_STEPS + t) until it reaches ``decay``."""


class EMA:
    """A shadow copy of ``model`` updated as ``θ_ema ← d·θ_ema + (1 − d)·θ`` after each step.

    Buffers (BatchNorm statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.updates = 0

    def _decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (EMA_WARMUP_STEPS + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend ``model``'s current weights into the average."""
        d = self._decay()
        self.updates += 1
        for ema_p, p in zip(self.module.parameters(), model.parameters(), strict=True):
            ema_p.lerp_(p.detach().to(ema_p.dtype), 1.0 - d)
        for ema_b, b in zip(self.module.buffers(), model.buffers(), strict=True):
            ema_b.copy_(b)

    def reset(self, model: nn.Module) -> None:
        """Restart the average from ``model``'s weights."""
        self.module.load_state_dict(model.state_dict())
        self.updates = 0
