"""TensorBoard scalars of one fold, written to ``fold_k/tensorboard/`` when tensorboard is installed.

One point per epoch (step = the fold's global epoch, 1-based, as in ``metrics.jsonl``):

- ``train/loss``: mean weighted KL training loss of the epoch, nats;
- ``val/kl``: KL of the (EMA) model on the validation rows, nats;
- ``lr``: learning rate at the end of the epoch;
- ``train/windows_per_s``: training throughput (all ranks together).

Only the main process writes. Without the ``tensorboard`` package (``pip install
'iiic[tensorboard]'``) one INFO line says so and training goes on; ``metrics.jsonl`` holds the
same figures either way. Event files are TensorBoard's append-only log: they are flushed after
every epoch rather than written atomically, and a resumed fold purges the points it writes again
(``purge_step``), so a kill between the two writes leaves no duplicate.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TB_SUBDIR = "tensorboard"
SCALARS = {
    "train_loss": "train/loss",
    "val_kl": "val/kl",
    "lr": "lr",
    "windows_per_s": "train/windows_per_s",
}
"""``metrics.jsonl`` key → TensorBoard tag."""


class ScalarLog:
    """Per-epoch scalars into ``fold_dir/tensorboard`` (a no-op when disabled or unavailable)."""

    def __init__(self, fold_dir: Path, *, enabled: bool) -> None:
        self.log_dir = Path(fold_dir) / TB_SUBDIR
        self.enabled = enabled
        self._writer: Any = None

    def _open(self, first_step: int) -> Any:
        if self._writer is None and self.enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.info(
                    "tensorboard is not installed: no TensorBoard logs in %s "
                    "(pip install 'iiic[tensorboard]'; metrics.jsonl has the same figures)",
                    self.log_dir,
                )
                self.enabled = False
                return None
            purge = first_step if first_step > 1 else None  # a resumed fold rewrites from here
            self._writer = SummaryWriter(str(self.log_dir), purge_step=purge)
        return self._writer

    def epoch(self, entry: dict[str, Any]) -> None:
        """Write the scalars of one ``metrics.jsonl`` entry (its ``epoch`` is the step)."""
        writer = self._open(int(entry["epoch"]))
        if writer is None:
            return
        step = int(entry["epoch"])
        for key, tag in SCALARS.items():
            if entry.get(key) is not None:
                writer.add_scalar(tag, float(entry[key]), step)
        writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
