"""One device resolver for training and inference: the same values accepted, the same errors."""

from __future__ import annotations

import pytest
import torch

from iiic.runs.device import resolve_device


def test_auto_and_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == torch.device(expected)
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:", "CPU", "mps"])
def test_unknown_device_names_the_accepted_values(name: str) -> None:
    with pytest.raises(ValueError, match=rf"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N'; "
                       rf"received '{name}'"):  # fmt: skip
        resolve_device(name)


def test_a_cuda_device_torch_does_not_see_is_refused_by_training_and_inference() -> None:
    """'cuda:N' is accepted everywhere; beyond the devices torch sees, one message for both."""
    from iiic.predict.predictor import Predictor

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    name = f"cuda:{n}"
    message = rf"device: '{name}' requested but torch sees {n} CUDA device\(s\)"
    with pytest.raises(ValueError, match=message):
        resolve_device(name)
    with pytest.raises(ValueError, match=message):
        Predictor([], device=name)
    if n:
        assert resolve_device(f"cuda:{n - 1}") == torch.device("cuda", n - 1)
