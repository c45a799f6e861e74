"""The device resolver of training and inference (the one owner of the rule)."""

from __future__ import annotations

import torch

from iiic.utils import bad_value


def resolve_device(name: str | torch.device) -> torch.device:
    """The device of ``iiic train``, ``predict``, ``score``, ``analyze`` and ``Predictor``.

    'auto' → cuda when torch sees a CUDA device, else cpu; 'cpu', 'cuda', 'cuda:N' as given.
    ValueError naming the value for anything else, or for a CUDA device torch does not see.
    """
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    index = name[len("cuda:") :] if name.startswith("cuda:") else ""
    if name not in ("cpu", "cuda") and not index.isdigit():
        raise ValueError(bad_value("device", "'auto', 'cpu', 'cuda' or 'cuda:N'", repr(name)))
    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name != "cpu" and int(index or 0) >= n_cuda:
        raise ValueError(f"device: {name!r} requested but torch sees {n_cuda} CUDA device(s); "
                         "use 'cpu' or 'auto'")  # fmt: skip
    return torch.device(name)
