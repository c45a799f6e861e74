"""iiic.models — tensors → logits: a registry of EEG / spectrogram classifiers.

``create_model(name, *, n_chans, n_outputs=6, n_times, sfreq_hz, window_s=None, **options)`` builds
one (``n_times`` is checked against, or derived from, ``window_s`` × ``sfreq_hz``);
``list_models()`` lists ``chain1d``, ``eeg1d``, ``morph``, ``multimodal``, ``sparcnet``, ``spec2d``,
``squeezeformer1d``. Every model has
``forward(eeg: (B, n_chans, n_times), spec: (B, 4, 100, 300) | None = None) -> (B, n_outputs)``,
``needs_eeg`` / ``needs_spec`` and ``get_config()`` / ``from_config()``.
"""

from iiic.models import (  # noqa: F401
    chain1d,
    eeg1d,
    morph,
    multimodal,
    sparcnet,
    spec2d,
    squeezeformer1d,
)
from iiic.models.base import IIICModel, ModelOptions
from iiic.models.registry import (
    UnknownModelError,
    check_model_options,
    create_model,
    get_model_class,
    list_models,
    register_model,
)

__all__ = [
    "IIICModel",
    "ModelOptions",
    "UnknownModelError",
    "check_model_options",
    "create_model",
    "get_model_class",
    "list_models",
    "register_model",
]
