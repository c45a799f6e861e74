"""Safetensors files with a SHA-256 of their tensors in their metadata (no pickle).

Every safetensors file iiic writes (``fold_k/model.safetensors`` and the resume state of
:mod:`iiic.train.state`) carries the digest under ``DIGEST_KEY``; :func:`read_checked` verifies it,
so a corrupt or truncated file is refused with one line naming it instead of loading wrong weights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from iiic.utils import atomic_path

DIGEST_KEY = "sha256"
"""Metadata key of the tensors' SHA-256 (files written before it existed are not checked)."""


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``tensors`` (in name order)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def write_checked(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write a safetensors file atomically with the tensors' digest in its metadata."""
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={**metadata, DIGEST_KEY: tensor_digest(tensors)})
    return Path(path)


def read_checked(path: Path, hint: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file; ValueError naming it and ``hint`` (how to
    recover) when it is unreadable, truncated or fails its digest."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{path}: corrupt or truncated safetensors file ({exc}); {hint}") from None
    if DIGEST_KEY in meta and meta[DIGEST_KEY] != tensor_digest(tensors):
        raise ValueError(f"{path}: corrupt file (its tensors fail their SHA-256); {hint}")
    return tensors, meta
