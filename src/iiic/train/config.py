"""``TrainConfig``: everything a training run needs, typed, read from YAML, saved as JSON.

A run directory's ``config.json`` is the resolved ``TrainConfig``; ``iiic predict`` rebuilds the
models and the preprocessing from it, reading it as the base class
:class:`iiic.runs.config.RunConfig` (model, options, preprocessing, folds). The settings of the
augmentations (:class:`AugmentConfig`, applied by :mod:`iiic.train.augment`) and pseudo-labels
(:class:`PseudoLabelConfig`, :mod:`iiic.train.pseudo`) live here too. Fields carry their unit in
the name where they have one.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from iiic import constants
from iiic.constants import HIGH_QUALITY_VOTES
from iiic.runs.config import RunConfig
from iiic.utils import bad_value

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)

Sampling = Literal["eeg", "period", "all"]
VoteWeighting = Literal["none", "sqrt", "linear"]


N_SCALP = len(constants.ELECTRODES)


class AugmentConfig(BaseModel):
    """Probabilities and ranges of the training augmentations (all off except the flip).

    Attributes
    ----------
    p_flip : float
        Mirror left and right hemispheres (LL↔RL, LP↔RP after the montage).
    p_time_shift : float
        Shift in time by a uniform ``[-max_shift_s, max_shift_s]`` s.
    max_shift_s : float
        Largest shift, s (keep it below half the unlabelled margin: 20 s of a 50-s window).
    shift_mode : {"circular", "zero"}
        "circular" rolls the window; "zero" pads the vacated part with 0 µV.
    p_time_reverse : float
        Reverse time.
    p_channel_dropout : float
        Set 1..``max_dropout_channels`` random scalp electrodes to 0 µV (equal to the reference).
    max_dropout_channels : int
        Largest number of electrodes dropped at once.
    p_bandpass_jitter : float
        Band-pass with edges drawn uniformly from ``low_hz_range`` and ``high_hz_range``.
    low_hz_range, high_hz_range : (float, float)
        Ranges of the random band edges, Hz.
    p_amplitude_scale : float
        Multiply the window by a log-uniform factor from ``amplitude_scale_range``.
    amplitude_scale_range : (float, float)
        Range of the amplitude factor (dimensionless).
    p_mixup : float
        Probability that a batch is mixed (the training loop, :func:`iiic.train.augment.mixup`).
    mixup_alpha : float
        Beta(alpha, alpha) parameter of the mixing weight.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    p_flip: float = Field(0.5, ge=0.0, le=1.0)
    p_time_shift: float = Field(0.0, ge=0.0, le=1.0)
    max_shift_s: float = Field(5.0, ge=0.0)
    shift_mode: Literal["circular", "zero"] = "circular"
    p_time_reverse: float = Field(0.0, ge=0.0, le=1.0)
    p_channel_dropout: float = Field(0.0, ge=0.0, le=1.0)
    max_dropout_channels: int = Field(2, ge=1, le=N_SCALP)
    p_bandpass_jitter: float = Field(0.0, ge=0.0, le=1.0)
    low_hz_range: tuple[float, float] = (0.3, 1.0)
    high_hz_range: tuple[float, float] = (15.0, 40.0)
    p_amplitude_scale: float = Field(0.0, ge=0.0, le=1.0)
    amplitude_scale_range: tuple[float, float] = (0.8, 1.25)
    p_mixup: float = Field(0.0, ge=0.0, le=1.0)
    mixup_alpha: float = Field(0.5, gt=0.0)

    @model_validator(mode="after")
    def _check_ranges(self) -> AugmentConfig:
        nyquist_hz = constants.SFREQ_HZ / 2.0
        for name in ("low_hz_range", "high_hz_range", "amplitude_scale_range"):
            lo, hi = getattr(self, name)
            if not 0.0 < lo <= hi:
                raise ValueError(bad_value(name, "0 < low <= high", (lo, hi)))
        if self.low_hz_range[1] >= self.high_hz_range[0] or self.high_hz_range[1] >= nyquist_hz:
            raise ValueError(
                bad_value(
                    "low_hz_range, high_hz_range",
                    f"max(low) < min(high) and max(high) < {nyquist_hz:g} Hz",
                    f"{self.low_hz_range}, {self.high_hz_range}",
                )
            )
        return self


class PseudoLabelConfig(BaseModel):
    """``TrainConfig.pseudo_labels``: which OOF tables label the low-vote rows, and how much."""

    model_config = ConfigDict(extra="forbid")

    oof: list[str] = Field(..., min_length=1)
    """First-stage OOF tables (``oof.parquet`` or the run directories holding one)."""
    weight: float = Field(0.5, ge=0.0, le=1.0)
    """Share of the ensemble's OOF prediction in a low-vote row's target (0: votes only)."""
    max_votes: int = Field(HIGH_QUALITY_VOTES, ge=1)
    """Rows with fewer votes than this get the mixed target."""


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


class TrainConfig(RunConfig):
    """The resolved settings of one k-fold training run (presets: src/iiic/configs/*.yaml).

    The model, its options, ``preprocess``, ``n_folds`` and ``folds`` come from
    :class:`~iiic.runs.config.RunConfig`; unlike it, an unknown field is an error here.
    """

    model_config = ConfigDict(extra="forbid")

    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    """An empty ``augment:`` in YAML (null) means the defaults."""
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
    pseudo_labels: PseudoLabelConfig | None = None
    """Rows with few votes train towards their votes mixed with first-stage OOF predictions
    (None: votes only)."""
    model_ready: Literal["auto", "require", "off"] = "auto"
    """Train on the cache's model-ready inputs for ``preprocess`` (``iiic prepare --preset``):
    "auto" when they exist and the augmentations allow it (else per-window preprocessing, logged),
    "require" (an error names what is missing), "off" (always per-window)."""

    @field_validator("augment", mode="before")
    @classmethod
    def _default_augment(cls, value: Any) -> Any:
        return {} if value is None else value


def build_model(cfg: RunConfig) -> nn.Module:
    """The model of ``cfg`` with fresh weights, sized by its PreprocessConfig (the window it
    reads, s, goes into the checkpoint's model config, checked against ``n_times``)."""
    from iiic.models import create_model

    pp = cfg.preprocess
    window_s = constants.EEG_WINDOW_S if pp.crop_s is None else pp.crop_s
    return create_model(
        cfg.model, n_chans=pp.n_chans, n_times=pp.n_times(), sfreq_hz=pp.sfreq_out_hz,
        window_s=window_s, **cfg.model_options,
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
