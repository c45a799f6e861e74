"""The training loss: KL(votes ‖ softmax(logits)), the Kaggle metric made differentiable."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_loss(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean KL divergence of the vote distributions from the predictions, nats.

    Parameters
    ----------
    logits : Tensor, shape (B, K)
        Model outputs (any float dtype; computed in float32).
    target : Tensor, shape (B, K)
        Vote distributions (rows sum to 1).
    weight : Tensor, shape (B,), optional
        Sample weights; the loss is then ``Σ w·KL / Σ w``.

    Returns
    -------
    Tensor, shape ()
        Without weights equal to ``F.kl_div(log_softmax, target, reduction="batchmean")`` and to
        :func:`iiic.evaluate.metric.kl_divergence` of ``target`` and ``softmax(logits)``.
    """
    log_p = F.log_softmax(logits.float(), dim=1)
    per_row = F.kl_div(log_p, target.float(), reduction="none").sum(dim=1)  # (B,)
    if weight is None:
        return per_row.mean()
    weight = weight.float()
    return (per_row * weight).sum() / weight.sum().clamp_min(torch.finfo(torch.float32).tiny)
