"""Devices, mixed precision and DDP: the parts of training that depend on the machine.

Multi-GPU: launch with ``torchrun --nproc_per_node=N -m iiic train --config ... --data ...
--out ...``. Each process trains on its shard of every epoch (``DistributedSampler``); all
ranks validate on the full (small) validation set so early stopping agrees; rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from iiic.runs.device import resolve_device

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """Where and how this process trains."""

    device: torch.device
    amp_dtype: torch.dtype | None
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to ``amp_dtype`` on CUDA, a no-op otherwise."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for config value ``amp`` on ``device`` (None = full precision)."""
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "fp16" or (amp == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def setup_runtime(device: str, amp: str) -> Runtime:
    """The Runtime of this process; joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
        dev = (
            torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
        )
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        logger.info("DDP rank %d/%d on %s", dist.get_rank(), world, dev)
        return Runtime(dev, resolve_amp(amp, dev), dist.get_rank(), world)
    dev = resolve_device(device)
    return Runtime(dev, resolve_amp(amp, dev))


def all_reduce_mean(value: float, rt: Runtime) -> float:
    """Mean of a float over the ranks (identity without DDP)."""
    if not rt.distributed:
        return value
    t = torch.tensor([value], device=rt.device, dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / rt.world_size


def from_main(value: float, rt: Runtime) -> float:
    """Rank 0's value of a float on every rank (identity without DDP).

    Validation uses the EMA model, whose BatchNorm statistics are rank-local; taking rank 0's
    KL keeps early-stopping decisions identical on all ranks.
    """
    if not rt.distributed:
        return value
    t = torch.tensor([value], device=rt.device, dtype=torch.float64)
    dist.broadcast(t, src=0)
    return float(t.item())


def seed_from(*parts: int) -> int:
    """A 63-bit seed derived from integers (seed, fold, epoch, ...), stable across runs."""
    import numpy as np

    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> 1)


Hook = Callable[[dict], None]
