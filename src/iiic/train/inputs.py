"""Which EEG inputs a run trains on: the cache's model-ready windows or per-window preprocessing.

Model-ready inputs (:mod:`iiic.train.ready`, ``iiic prepare --preset``) hold each EEG file
already preprocessed with one ``PreprocessConfig``; the loader then only slices row windows. They
serve a run when (1) a finished set made with exactly the run's ``preprocess`` exists in the cache and
(2) every active window augmentation has an equivalent on preprocessed windows
(:data:`iiic.train.augment.OUTPUT_EQUIVALENTS`). Otherwise the run preprocesses each window as
before; ``TrainConfig.model_ready`` says whether that is fine ("auto", logged with the reason) or
an error ("require"), or asks for per-window preprocessing regardless ("off").
"""

from __future__ import annotations

import logging
from typing import Any

from iiic.train.augment import (
    Augment,
    AugmentConfig,
    OutputAugment,
    build_augment,
    raw_only_augmentations,
)
from iiic.train.config import TrainConfig
from iiic.train.ready import ReadyInputs, find_ready

logger = logging.getLogger(__name__)


def choose_inputs(cache: Any, cfg: TrainConfig) -> ReadyInputs | None:
    """The model-ready set this run trains on, or None for per-window preprocessing.

    Raises
    ------
    ValueError
        ``cfg.model_ready == "require"`` and the set is missing, made with other preprocessing,
        or an active augmentation needs the referential signal (the message says which).
    """
    if cfg.model_ready == "off":
        return None
    if cfg.preprocess.crop_s is not None:  # cropped before filtering: nothing to slice from
        why = (f"crop_s={cfg.preprocess.crop_s:g}: each window is cropped before it is filtered "
               "(as a short segment is), which per-recording inputs cannot give")  # fmt: skip
        if cfg.model_ready == "require":
            raise ValueError(f"model_ready='require': {why}")
        logger.info("preprocessing every window in the loader: %s", why)
        return None
    ready, why = find_ready(cache, cfg.preprocess)
    blocked = raw_only_augmentations(cfg.augment)
    if ready is not None and not blocked:
        logger.info("training on model-ready inputs %s (%d EEG files)", ready.root,
                    ready.meta["n_files"])  # fmt: skip
        return ready
    if ready is not None:
        why = f"augmentations {blocked} act on the referential signal"
    if cfg.model_ready == "require":
        raise ValueError(f"model_ready='require': {why}")
    log = logger.warning if "other preprocessing" in why or blocked else logger.info
    log("preprocessing every window in the loader: %s", why)
    return None


def window_augment(cfg: AugmentConfig, ready: ReadyInputs | None) -> Augment | OutputAugment | None:
    """The dataset's window augmentation (the flip is drawn by the dataset): on referential
    windows, or on preprocessed ones when training on model-ready inputs; None when all are off."""
    aug = cfg.model_copy(update={"p_flip": 0.0})
    active = any(
        v > 0 for k, v in aug.model_dump().items() if k.startswith("p_") and k != "p_mixup"
    )
    if not active:
        return None
    return build_augment(aug) if ready is None else OutputAugment(aug, ready.preprocess)
