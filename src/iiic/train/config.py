"""``TrainConfig``: everything a training run needs, typed, read from YAML, saved as JSON.

A run directory's ``config.json`` is the resolved ``TrainConfig``; ``iiic predict`` rebuilds the
models and the preprocessing from it. Fields carry their unit in the name where they have one.
"""

from __future__ import annotations

import copy
import difflib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from iiic.constants import HIGH_QUALITY_VOTES
from iiic.signal.preprocess import PreprocessConfig
from iiic.utils import bad_value

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)

Sampling = Literal["eeg", "period", "all"]
VoteWeighting = Literal["none", "sqrt", "linear"]


def _pseudo_config_type() -> Any:
    from iiic.train.pseudo import PseudoLabelConfig

    return PseudoLabelConfig


def _augment_config_type() -> Any:
    from iiic.train.augment import AugmentConfig

    return AugmentConfig


class StageConfig(BaseModel):
    """One training stage: its own optimiser, cosine schedule and row filter."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(..., ge=0)
    lr: float = Field(..., gt=0)
    min_votes: int = Field(0, ge=0)
    """Train on rows with at least this many votes (stage 2: ``HIGH_QUALITY_VOTES``)."""
    vote_weighting: VoteWeighting = "none"
    """Sample weight from the row's vote count: none (1), sqrt(total) or total."""


def _default_stages() -> list[StageConfig]:
    return [
        StageConfig(epochs=4, lr=1e-3, min_votes=0, vote_weighting="sqrt"),
        StageConfig(epochs=3, lr=3e-4, min_votes=HIGH_QUALITY_VOTES),
    ]


class TrainConfig(BaseModel):
    """The resolved settings of one k-fold training run (presets: src/iiic/configs/*.yaml)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "eeg1d"
    model_options: dict[str, Any] = Field(default_factory=dict)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    augment: Any = None
    """``iiic.train.augment.AugmentConfig`` (validated on load; None = its defaults)."""
    n_folds: int = Field(5, ge=2)
    folds: list[int] | None = None
    """Folds to train (None = all ``n_folds``)."""
    seed: int = 42
    fold_seed: int = 42
    """Seed of the patient-grouped fold split when the cache's folds are re-assigned."""
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    stages: list[StageConfig] = Field(default_factory=_default_stages, min_length=1)
    weight_decay: float = Field(1e-2, ge=0)
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    """Share of each stage's steps spent in linear warm-up before the cosine decay."""
    min_lr_ratio: float = Field(0.01, ge=0, le=1)
    grad_clip: float | None = Field(1.0, gt=0)
    ema_decay: float | None = Field(0.999, gt=0, lt=1)
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    """auto: bf16 (or fp16) autocast on CUDA, off on CPU."""
    num_workers: int = Field(0, ge=0)
    sampling: Sampling = "eeg"
    """Per epoch: one random sub-window per EEG, per stationary period, or every row."""
    val_min_votes: int = Field(HIGH_QUALITY_VOTES, ge=0)
    val_per: Literal["eeg", "period"] = "eeg"
    val_min_rows: int = Field(8, ge=1)
    """Fewer high-vote validation rows than this → validate on all rows of the fold (logged)."""
    patience: int | None = Field(3, ge=1)
    """Stop a stage after this many epochs without a better validation KL."""
    max_steps_per_epoch: int | None = Field(None, ge=1)
    oof_rows: Literal["val", "all"] = "all"
    """OOF table over the validation rows only, or over every row of the held-out fold."""
    pseudo_labels: Any = None
    """``iiic.train.pseudo.PseudoLabelConfig``: rows with few votes train towards their votes
    mixed with first-stage OOF predictions (None: votes only)."""
    model_ready: Literal["auto", "require", "off"] = "auto"
    """Train on the cache's model-ready inputs for ``preprocess`` (``iiic prepare --preset``):
    "auto" when they exist and the augmentations allow it (else per-window preprocessing, logged),
    "require" (an error names what is missing), "off" (always per-window)."""

    @model_validator(mode="after")
    def _resolve(self) -> TrainConfig:
        aug_cls = _augment_config_type()
        if self.augment is None:
            self.augment = aug_cls()
        elif not isinstance(self.augment, aug_cls):
            self.augment = aug_cls.model_validate(self.augment)
        pl_cls = _pseudo_config_type()
        if self.pseudo_labels is not None and not isinstance(self.pseudo_labels, pl_cls):
            self.pseudo_labels = pl_cls.model_validate(self.pseudo_labels)
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
        """JSON-ready dict (``TrainConfig.model_validate`` reads it back)."""
        out = self.model_dump(mode="json")
        out["augment"] = self.augment.model_dump(mode="json")
        if self.pseudo_labels is not None:
            out["pseudo_labels"] = self.pseudo_labels.model_dump(mode="json")
        return out


def check_model_options(model: str, options: dict[str, Any]) -> None:
    """ValueError naming an unknown model, an unknown option (with the model's valid options) or
    an invalid value — before any data is read or cached."""
    from pydantic import ValidationError

    from iiic.models import get_model_class

    valid = get_model_class(model).Options.model_fields
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(key, list(valid), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"model_options: {key!r} is not an option of model {model!r}{hint} "
                             f"(valid options: {', '.join(sorted(valid))})")  # fmt: skip
    try:
        get_model_class(model).Options.model_validate(options)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"model_options of model {model!r}: {errors}") from None


def build_model(cfg: TrainConfig) -> nn.Module:
    """The model of ``cfg`` with fresh weights, sized by its PreprocessConfig."""
    from iiic.models import create_model

    pp = cfg.preprocess
    return create_model(
        cfg.model, n_chans=pp.n_chans, n_times=pp.n_times(), sfreq_hz=pp.sfreq_out_hz,
        **cfg.model_options,
    )  # fmt: skip


def with_epochs(cfg: TrainConfig, epochs: int | Sequence[int]) -> TrainConfig:
    """``cfg`` with its schedule overridden (``--epochs``): ``epochs`` for every stage (an int),
    or one value per stage (a sequence; stages beyond its length are dropped)."""
    per_stage = [epochs] * len(cfg.stages) if isinstance(epochs, int) else list(epochs)
    stages = [StageConfig(**{**s.model_dump(), "epochs": e})
              for s, e in zip(cfg.stages, per_stage, strict=False)]  # fmt: skip
    return cfg.model_copy(update={"stages": stages})


def with_pseudo_labels(
    cfg: TrainConfig, oof: Sequence[str] | None = None, weight: float | None = None
) -> TrainConfig:
    """``cfg`` with its ``pseudo_labels`` overridden (``--pseudo-labels`` / ``--pseudo-weight``):
    ``oof`` replaces the first-stage OOF tables (or run directories), ``weight`` the share of
    their prediction in a low-vote row's target; None keeps the config's value.

    Raises ValueError naming ``pseudo_labels.oof`` when no OOF table is left to mix in.
    """
    current = cfg.pseudo_labels.model_dump() if cfg.pseudo_labels is not None else {}
    if oof is not None:
        current["oof"] = list(oof)
    if weight is not None:
        current["weight"] = weight
    if not current.get("oof"):
        raise ValueError(
            "--pseudo-weight: the config has no pseudo_labels.oof; give --pseudo-labels"
        )
    return TrainConfig.model_validate(cfg.to_json_dict() | {"pseudo_labels": current})


PRESETS_DIR = Path(__file__).resolve().parents[1] / "configs"


def preset_names() -> list[str]:
    """Names of the shipped presets (``src/iiic/configs/*.yaml``), e.g. ``eeg1d_cpu``."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def resolve_config(name_or_path: str | Path) -> Path:
    """A config file path, or a shipped preset name such as ``eeg1d_cpu``."""
    path = Path(name_or_path)
    if path.is_file() or path.suffix in (".yaml", ".yml", ".json") or len(path.parts) > 1:
        return path
    preset = PRESETS_DIR / f"{name_or_path}.yaml"
    if preset.is_file():
        return preset
    raise ValueError(
        f"{name_or_path}: neither a config file nor a preset (presets: {', '.join(preset_names())})"
    )


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a YAML (or JSON) TrainConfig, or a preset by name; ``overrides`` replace top-level fields.

    Raises ValueError naming the file and the invalid field.
    """
    path = resolve_config(path)
    if not path.is_file():
        raise ValueError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(
            f"{path}: expected a mapping of TrainConfig fields, found {type(raw).__name__}"
        )
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{path}: invalid config:\n{exc}") from exc


BACKBONE_WEIGHTS_KEYS = {"spec2d": ("weights",), "multimodal": ("spec", "weights")}
"""Where each model family with an image backbone takes its weights in ``model_options``."""


def with_backbone_weights(cfg: TrainConfig, weights: str | Path) -> TrainConfig:
    """``cfg`` with its backbone initialised from the safetensors file ``weights`` (``--weights``).

    Raises ValueError naming the file when it is missing or not safetensors, and naming the model
    when it has no pretrained backbone (eeg1d, sparcnet).
    """
    from iiic.models.weights import check_safetensors

    keys = BACKBONE_WEIGHTS_KEYS.get(cfg.model)
    if keys is None:
        raise ValueError(
            f"--weights: model {cfg.model!r} has no pretrained backbone "
            f"(only {', '.join(BACKBONE_WEIGHTS_KEYS)} take backbone weights)"
        )
    path = check_safetensors(weights).resolve()
    options = copy.deepcopy(cfg.model_options)
    node = options
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = str(path)
    return cfg.model_copy(update={"model_options": options})
