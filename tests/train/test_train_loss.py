"""The training loss is the Kaggle metric: same numbers on known cases."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from iiic.evaluate.metric import kl_divergence
from iiic.train.loss import kl_loss


def test_loss_equals_the_kaggle_metric_and_kl_div_batchmean() -> None:
    votes = np.array([[3, 0, 0, 0, 0, 1], [0, 5, 5, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=np.float64)
    logits = torch.tensor(
        [
            [2.0, -1.0, 0.0, 0.5, 0.0, 1.0],
            [0.0, 3.0, 1.0, -2.0, 0.0, 0.0],
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        ],
        dtype=torch.float64,
    )
    target = torch.from_numpy(votes / votes.sum(1, keepdims=True))
    loss = kl_loss(logits, target).item()
    expected = kl_divergence(votes, torch.softmax(logits, 1).numpy())
    assert math.isclose(loss, expected, rel_tol=1e-6)
    assert math.isclose(
        loss, F.kl_div(F.log_softmax(logits, 1), target, reduction="batchmean").item(), rel_tol=1e-6
    )


def test_hand_computed_case() -> None:
    # y = (1/2, 1/2, 0, ...), p uniform over 6 classes: KL = log(3)
    logits = torch.zeros(1, 6)
    target = torch.tensor([[0.5, 0.5, 0, 0, 0, 0]])
    assert math.isclose(kl_loss(logits, target).item(), math.log(3), rel_tol=1e-6)


def test_weights_average_rows_by_weight() -> None:
    logits = torch.tensor([[0.0] * 6, [5.0, 0, 0, 0, 0, 0]])
    target = torch.tensor([[1.0, 0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0, 0]])
    per_row = [kl_loss(logits[i : i + 1], target[i : i + 1]).item() for i in range(2)]
    weighted = kl_loss(logits, target, torch.tensor([3.0, 1.0])).item()
    assert math.isclose(weighted, (3 * per_row[0] + per_row[1]) / 4, rel_tol=1e-6)
    assert per_row[0] > per_row[1]
