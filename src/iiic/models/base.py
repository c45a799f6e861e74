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


def _n_times(model: str, n_times: int | None, sfreq_hz: float, window_s: float | None) -> int:
    """``n_times``, derived from ``window_s`` (s) × ``sfreq_hz`` (Hz) or checked against it."""
    if window_s is None:
        if n_times is None:
            raise TypeError(f"{model}: n_times or window_s is required")
        return n_times
    _check_positive("window_s", window_s)
    expected = window_s * sfreq_hz
    if n_times is None:
        return round(expected)
    if isinstance(n_times, int | float) and abs(n_times - expected) >= 1:
        raise ValueError(f"{model}: n_times={n_times} samples does not match window_s={window_s:g} "
                         f"s × sfreq_hz={sfreq_hz:g} Hz = {expected:g} samples")  # fmt: skip
    return n_times


class IIICModel(nn.Module):
    """A classifier of 50-s EEG windows (and/or Kaggle spectrograms) into 6 logits.

    Subclasses set ``name``, ``Options`` (a :class:`ModelOptions` subclass) and ``tiny_options``,
    and build their layers from ``self.options``.

    The sizes follow braindecode's contract: ``n_times`` samples at ``sfreq_hz`` Hz; with
    ``window_s`` (the window length, s) as well, ``n_times`` may be left out (it is
    ``round(window_s * sfreq_hz)``) and must otherwise lie within one sample of it (a decimated
    window may drop the last fraction of a sample), else ValueError naming the model and both
    numbers.

    Attributes
    ----------
    needs_eeg : bool
        ``forward`` reads ``eeg``.
    needs_spec : bool
        ``forward`` reads ``spec`` (Kaggle spectrogram features, (B, 4, 100, 300)).
    tiny_options : dict
        Options of a small instance that runs in a fraction of a second on one CPU core, valid
        for 18 channels at 20 Hz or more (tests and smoke runs; tests/models/ builds every model
        with them).
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type[ModelOptions]] = ModelOptions
    tiny_options: ClassVar[dict[str, Any] | None] = None
    needs_eeg: bool = True
    needs_spec: bool = False

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None,
                 sfreq_hz: float, window_s: float | None = None, **options: Any) -> None:  # fmt: skip
        super().__init__()
        _check_positive("sfreq_hz", sfreq_hz)
        n_times = _n_times(self.name, n_times, sfreq_hz, window_s)
        for arg, value in (("n_chans", n_chans), ("n_outputs", n_outputs), ("n_times", n_times)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(bad_value(arg, "an int", repr(value)))
            _check_positive(arg, value)
        self.n_chans, self.n_outputs, self.n_times = n_chans, n_outputs, n_times
        self.sfreq_hz = float(sfreq_hz)
        self.window_s = None if window_s is None else float(window_s)
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
            "window_s": self.window_s,
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
