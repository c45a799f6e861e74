"""Model registry: ``@register_model`` fills it, ``create_model(name, ...)`` reads it.

Every registered model shares one contract (see :class:`iiic.models.base.IIICModel`):
keyword-only ``n_chans, n_outputs, n_times, sfreq_hz`` (and optionally ``window_s``) plus the
model's own options, and
``forward(eeg: (B, n_chans, n_times), spec: (B, 4, 100, 300) | None) -> logits (B, n_outputs)``.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, TypeVar

from iiic.constants import N_CLASSES

if TYPE_CHECKING:
    from iiic.models.base import IIICModel

_REGISTRY: dict[str, type[IIICModel]] = {}
M = TypeVar("M", bound="type[IIICModel]")


class UnknownModelError(ValueError):
    """Raised by :func:`create_model` for a name that is not registered."""


def register_model(cls: M) -> M:
    """Class decorator: register ``cls`` under ``cls.name`` (must be unique)."""
    name = cls.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"model name {name!r} is registered twice ({_REGISTRY[name]} and {cls})")
    _REGISTRY[name] = cls
    return cls


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type[IIICModel]:
    """The class registered under ``name``; an unknown name lists the valid ones + the closest."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownModelError(
            f"model: unknown name {name!r}; valid names are {list_models()}{hint}"
        )
    return _REGISTRY[name]


def create_model(
    name: str,
    *,
    n_chans: int,
    n_outputs: int = N_CLASSES,
    n_times: int | None = None,
    sfreq_hz: float,
    window_s: float | None = None,
    **options: Any,
) -> IIICModel:
    """Build the model registered as ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    n_chans : int
        EEG channels after preprocessing (16 bipolar chains, 18 with the central pair).
    n_outputs : int
        Number of logits (6 classes).
    n_times : int, optional
        Samples per EEG window after preprocessing (10,000 for 50 s at 200 Hz); derived from
        ``window_s`` when left out.
    sfreq_hz : float
        Sampling rate of the preprocessed EEG, Hz.
    window_s : float, optional
        Window length, s; with ``n_times`` too, the two must agree (``n_times`` within one sample
        of ``window_s * sfreq_hz``), else ValueError naming the model and both numbers.
    **options
        The model's own options (validated by its pydantic config; unknown keys raise).
    """
    cls = get_model_class(name)
    return cls(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq_hz=sfreq_hz,
               window_s=window_s, **options)  # fmt: skip


def check_model_options(name: str, options: dict[str, Any]) -> None:
    """ValueError naming an unknown model, an unknown option (with the model's valid options) or
    an invalid value — before any data is read or cached."""
    from pydantic import ValidationError

    valid = get_model_class(name).Options.model_fields
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(key, list(valid), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"model_options: {key!r} is not an option of model {name!r}{hint} "
                             f"(valid options: {', '.join(sorted(valid))})")  # fmt: skip
    try:
        get_model_class(name).Options.model_validate(options)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"model_options of model {name!r}: {errors}") from None
