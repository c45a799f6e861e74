"""``WindowDataset``: training samples from the memory-mapped cache (torch ``Dataset``).

Each item is one 50-s window of one train.csv row, augmented (optional, on the referential
signal), preprocessed with the run's :class:`~iiic.signal.preprocess.PreprocessConfig`, plus its
vote distribution and sample weight — the sample contract of docs/architecture.md.

Sampling: ``"all"`` serves every row; ``"eeg"`` / ``"period"`` serve one sub-window per EEG /
per stationary period, re-drawn by :meth:`WindowDataset.set_epoch` from ``(seed, epoch)`` so
epochs differ but runs (and resumed runs) repeat exactly. Augmentation randomness is drawn from
``(seed, epoch, item)``, independent of DataLoader workers.

The left/right flip is drawn here (``p_flip``), not in ``augment``: a flipped item mirrors the
referential EEG (``constants.FLIP_PERMUTATION``) **and** swaps the Kaggle spectrogram's chains
(LL↔RL, LP↔RP), so models that read both see one consistent, mirrored window.

Model-ready inputs (``ready``, :mod:`iiic.train.ready`): each window is sliced from its EEG file,
preprocessed whole when the cache was prepared, and no signal processing runs here; the flip permutes the montage's channels (the same
values, as the montage is left/right symmetric) and ``augment`` must act on preprocessed windows
(:class:`iiic.train.augment.OutputAugment`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from iiic.constants import CHAINS, FLIP_PERMUTATION, HEMISPHERE_SWAP, SPEC_CHAINS, VOTE_COLUMNS
from iiic.signal.montage import bipolar_flip_permutation
from iiic.signal.preprocess import PreprocessConfig, preprocess
from iiic.utils import bad_value, check_option

logger = logging.getLogger(__name__)

Sampling = Literal["eeg", "period", "all"]
SAMPLING_GROUP = {"eeg": "eeg_id", "period": "period_id"}
VOTE_WEIGHTING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": np.ones_like,
    "sqrt": np.sqrt,
    "linear": lambda total: total.astype(np.float64),
}
"""Sample weight as a function of a row's total votes."""
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _mirror_chain(chain: str) -> str:
    mirror = {**HEMISPHERE_SWAP, **{v: k for k, v in HEMISPHERE_SWAP.items()}}
    pairs = tuple((mirror.get(a, a), mirror.get(b, b)) for a, b in CHAINS[chain])
    return next(c for c in SPEC_CHAINS if CHAINS[c] == pairs)


SPEC_FLIP_PERMUTATION: tuple[int, ...] = tuple(
    SPEC_CHAINS.index(_mirror_chain(c)) for c in SPEC_CHAINS
)
"""Chain index array over ``constants.SPEC_CHAINS`` that mirrors a Kaggle spectrogram (LL↔RL, LP↔RP)."""


def _open_cache(cache: Any) -> Any:
    from iiic.data.cache import Cache

    return Cache.open(cache)


class WindowDataset(Dataset):
    """Windows of ``rows`` read from ``cache``.

    Parameters
    ----------
    cache : Cache or path
        An open :class:`iiic.data.cache.Cache`, or its directory (opened lazily in each
        DataLoader worker, so memory maps are not shared across processes).
    rows : DataFrame
        Rows of the cache's table to serve (eeg_id, eeg_label_offset_seconds, spectrogram_id,
        spectrogram_label_offset_seconds, the vote columns, total_votes, period_id).
    preprocess : PreprocessConfig
        Applied to every window after augmentation.
    with_spec : bool
        Add the Kaggle spectrogram features ``"spec"`` (4, 100, 300).
    augment : callable, optional
        ``augment(x_ref (20, T) µV, rng) -> (20, T)`` on the referential window.
    sampling : {"eeg", "period", "all"}
        One random row per EEG / stationary period per epoch, or every row.
    seed : int
        Seed of the per-epoch draws and of the augmentation.
    vote_weighting : {"none", "sqrt", "linear"}
        Sample weight from the row's total votes.
    p_flip : float
        Probability of mirroring left and right (EEG and spectrogram together).
    ready : ReadyInputs, optional
        Model-ready inputs (:class:`iiic.train.ready.ReadyInputs`) made with ``preprocess``:
        windows sliced from them instead of preprocessing each window; ``augment`` then receives preprocessed
        windows (n_chans, n_times) and needs ``eeg_start`` in ``rows``.
    target_columns : sequence of 6 str, optional
        Columns of ``rows`` holding each row's target distribution (e.g. pseudo-labels); the
        normalised votes when None.
    """

    def __init__(
        self,
        cache: Any,
        rows: pd.DataFrame,
        *,
        preprocess: PreprocessConfig,
        with_spec: bool,
        augment: Augment | None = None,
        sampling: Sampling = "all",
        seed: int = 0,
        vote_weighting: str = "none",
        p_flip: float = 0.0,
        ready: Any = None,
        target_columns: Sequence[str] | None = None,
    ) -> None:
        check_option("sampling", sampling, ("eeg", "period", "all"))
        check_option("vote_weighting", vote_weighting, VOTE_WEIGHTING)
        if not 0.0 <= p_flip <= 1.0:
            raise ValueError(bad_value("p_flip", "a probability in [0, 1]", p_flip))
        if len(rows) == 0:
            raise ValueError(bad_value("rows", "at least one row", "an empty table"))
        self._cache_arg = cache
        self._cache = None if isinstance(cache, (str, Path)) else cache
        self.rows = rows.reset_index(drop=True)
        self.preprocess, self.with_spec, self.augment = preprocess, with_spec, augment
        self.sampling, self.seed, self.epoch = sampling, int(seed), 0
        self.p_flip = float(p_flip)
        if ready is not None and ready.preprocess != preprocess:
            raise ValueError(f"ready: {ready.root} holds windows of another preprocessing")
        self.ready = ready
        self._ready_flip = (list(bipolar_flip_permutation(preprocess.channel_names))
                            if ready is not None else None)  # fmt: skip
        self._eeg_starts = self.rows["eeg_start"].to_numpy() if ready is not None else None
        votes = self.rows[list(VOTE_COLUMNS)].to_numpy(dtype=np.float64)
        self.targets = (votes / votes.sum(axis=1, keepdims=True)).astype(np.float32)
        if target_columns is not None:
            self.targets = self._target_table(target_columns)
        self.weights = VOTE_WEIGHTING[vote_weighting](votes.sum(axis=1)).astype(np.float32)
        if sampling != "all":
            keys = self.rows[SAMPLING_GROUP[sampling]].to_numpy()
            self._groups = [np.flatnonzero(keys == k) for k in pd.unique(keys)]
        self.set_epoch(0)

    def _target_table(self, columns: Sequence[str]) -> np.ndarray:
        """(n_rows, 6) float32 distributions from ``columns``; ValueError naming what is wrong."""
        missing = [c for c in columns if c not in self.rows.columns]
        if len(columns) != len(VOTE_COLUMNS) or missing:
            raise ValueError(
                bad_value(
                    "target_columns",
                    f"{len(VOTE_COLUMNS)} columns of rows",
                    f"{list(columns)} (missing {missing})",
                )
            )
        t = self.rows[list(columns)].to_numpy(dtype=np.float64)
        if (
            not np.isfinite(t).all()
            or (t < 0).any()
            or not np.allclose(t.sum(axis=1), 1, atol=1e-4)
        ):
            raise ValueError("target_columns: every row must hold a distribution (>= 0, sum 1)")
        return t.astype(np.float32)

    # --- sampling -----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Re-draw the served rows for ``epoch`` (deterministic in ``(seed, epoch)``)."""
        self.epoch = int(epoch)
        if self.sampling == "all":
            self.indices = np.arange(len(self.rows))
            return
        rng = np.random.default_rng([self.seed, self.epoch])
        self.indices = np.array([g[rng.integers(len(g))] for g in self._groups])

    def __len__(self) -> int:
        return len(self.indices)

    # --- items --------------------------------------------------------------------------
    @property
    def cache(self) -> Any:
        """The open cache (opened on first use in this process)."""
        if self._cache is None:
            self._cache = _open_cache(self._cache_arg)
        return self._cache

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if isinstance(self._cache_arg, (str, Path)):
            state["_cache"] = None  # each worker opens its own memory maps
        return state

    def eeg(
        self, pos: int, rng: np.random.Generator | None = None, flip: bool = False
    ) -> np.ndarray:
        """Preprocessed EEG of row ``pos``: (n_chans, n_times), float32."""
        if self.ready is not None:  # model-ready: (n_chans, n_times) as preprocess returns it
            y = self.ready.window(int(self._eeg_starts[pos]))
            if flip:
                y = y[self._ready_flip]
            return self.augment(y, rng) if self.augment is not None and rng is not None else y
        row = self.rows.iloc[pos]
        x = self.cache.eeg(row["eeg_id"], float(row["eeg_label_offset_seconds"]))  # (20, T) µV
        if flip:
            x = x[list(FLIP_PERMUTATION)]
        if self.augment is not None and rng is not None:
            x = self.augment(np.asarray(x, dtype=np.float32), rng)
        return preprocess(x, self.preprocess)

    def spec(self, pos: int, flip: bool = False) -> np.ndarray:
        """Kaggle spectrogram features of row ``pos``: (4, 100, 300), float32."""
        from iiic.signal.spectrogram import kaggle_spec_features

        row = self.rows.iloc[pos]
        s = self.cache.spectrogram(
            row["spectrogram_id"], float(row["spectrogram_label_offset_seconds"])
        )
        feats = kaggle_spec_features(s)  # (4, 100, 300)
        return np.ascontiguousarray(feats[list(SPEC_FLIP_PERMUTATION)]) if flip else feats

    def __getitem__(self, i: int) -> dict[str, Any]:
        pos = int(self.indices[i])
        random = self.augment is not None or self.p_flip > 0
        rng = np.random.default_rng([self.seed, self.epoch, pos]) if random else None
        flip = rng is not None and self.p_flip > 0 and rng.random() < self.p_flip
        item: dict[str, Any] = {
            "eeg": torch.from_numpy(np.ascontiguousarray(self.eeg(pos, rng, flip))),
            "target": torch.from_numpy(self.targets[pos]),
            "weight": torch.tensor(self.weights[pos]),
            "index": pos,
        }
        if self.with_spec:
            item["spec"] = torch.from_numpy(self.spec(pos, flip))
        return item
