"""The base class shared by every iiic model: the common arguments and the config round-trip."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import torch
from pydantic import AfterValidator, BaseModel, ConfigDict
from torch import nn

from iiic.utils import bad_value


class ModelOptions(BaseModel):
    """Base of each model's option config: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _all_at_least_one(value: tuple[int, ...]) -> tuple[int, ...]:
    if any(v < 1 for v in value):
        raise ValueError(bad_value("entries", "all >= 1", value))
    return value


Sizes = Annotated[tuple[int, ...], AfterValidator(_all_at_least_one)]
"""An option holding sizes (widths, kernels, strides): a tuple of ints, each >= 1."""


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(bad_value(name, "> 0", repr(value)))


class IIICModel(nn.Module):
    """A classifier of 50-s EEG windows (and/or Kaggle spectrograms) into 6 logits.

    Subclasses set ``name`` and ``Options`` (a :class:`ModelOptions` subclass) and build their
    layers from ``self.options``.

    Attributes
    ----------
    needs_eeg : bool
        ``forward`` reads ``eeg``.
    needs_spec : bool
        ``forward`` reads ``spec`` (Kaggle spectrogram features, (B, 4, 100, 300)).
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type[ModelOptions]] = ModelOptions
    needs_eeg: bool = True
    needs_spec: bool = False

    def __init__(
        self, *, n_chans: int, n_outputs: int, n_times: int, sfreq_hz: float, **options: Any
    ) -> None:
        super().__init__()
        for arg, value in (("n_chans", n_chans), ("n_outputs", n_outputs), ("n_times", n_times)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(bad_value(arg, "an int", repr(value)))
            _check_positive(arg, value)
        _check_positive("sfreq_hz", sfreq_hz)
        self.n_chans, self.n_outputs, self.n_times = n_chans, n_outputs, n_times
        self.sfreq_hz = float(sfreq_hz)
        self.options = self.Options(**options)

    # --- config round-trip --------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments: ``from_config(get_config())`` rebuilds it."""
        return {
            "name": self.name,
            "n_chans": self.n_chans,
            "n_outputs": self.n_outputs,
            "n_times": self.n_times,
            "sfreq_hz": self.sfreq_hz,
            "options": self.options.model_dump(mode="json"),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IIICModel:
        """Rebuild a model (fresh weights) from :meth:`get_config`'s output."""
        from iiic.models.registry import create_model

        cfg = dict(config)
        name = cfg.pop("name", cls.name) or cls.name
        options = cfg.pop("options", {})
        return create_model(name, **cfg, **options)

    # --- interface ----------------------------------------------------------------------
    def forward_features(
        self, eeg: torch.Tensor | None, spec: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pooled features (B, num_features) before the classifier."""
        raise NotImplementedError

    def forward(self, eeg: torch.Tensor | None, spec: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, n_outputs) from ``eeg`` (B, n_chans, n_times) and/or ``spec`` (B, 4, 100, 300)."""
        return self.head(self.forward_features(eeg, spec))

    def check_inputs(self, eeg: torch.Tensor | None, spec: torch.Tensor | None) -> None:
        """Raise ValueError naming the input when a needed tensor is missing or misshaped."""
        if self.needs_eeg:
            expected = (self.n_chans, self.n_times)
            if eeg is None or eeg.ndim != 3 or tuple(eeg.shape[1:]) != expected:
                got = None if eeg is None else tuple(eeg.shape)
                raise ValueError(
                    bad_value(f"{self.name}: eeg", f"shape (B, {expected[0]}, {expected[1]})", got)
                )
        if self.needs_spec and (spec is None or spec.ndim != 4):
            got = None if spec is None else tuple(spec.shape)
            raise ValueError(bad_value(f"{self.name}: spec", "shape (B, 4, 100, 300)", got))
