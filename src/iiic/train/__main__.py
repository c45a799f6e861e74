"""``python -m iiic.train ARGS`` = ``iiic train ARGS`` (the entry point for torchrun / DDP).

Multi-GPU: ``torchrun --nproc_per_node=4 -m iiic.train --config eeg1d_gpu
--data DATA --out runs/eeg1d``.
"""

import sys

from iiic.cli import app

if __name__ == "__main__":
    app(args=["train", *sys.argv[1:]], prog_name="python -m iiic.train")
