"""``RunConfig``: what a run directory's config.json says about its model and inputs.

``iiic train`` writes the resolved :class:`iiic.train.config.TrainConfig` (a subclass that adds
the training settings: stages, augmentation, pseudo-labels, ...); inference reads only these
fields and ignores the rest, so it needs no training code.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from iiic.signal.preprocess import PreprocessConfig
from iiic.utils import bad_value


class RunConfig(BaseModel):
    """The model (name + options), its preprocessing and the folds of a run."""

    model_config = ConfigDict(extra="ignore")

    model: str = "eeg1d"
    model_options: dict[str, Any] = Field(default_factory=dict)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    n_folds: int = Field(5, ge=2)
    folds: list[int] | None = None
    """Folds to train (None = all ``n_folds``)."""

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        from iiic.models import check_model_options  # torch: only when a config is validated

        if self.folds is not None:
            bad = [f for f in self.folds if not 0 <= f < self.n_folds]
            if bad:
                raise ValueError(
                    bad_value("folds", f"fold numbers in 0..{self.n_folds - 1}", self.folds)
                )
        check_model_options(self.model, self.model_options)
        return self

    def fold_list(self) -> list[int]:
        """The folds this run trains, in order."""
        return list(range(self.n_folds)) if self.folds is None else sorted(set(self.folds))

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``model_validate`` reads it back)."""
        return self.model_dump(mode="json")
