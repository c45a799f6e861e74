"""The default model shipped inside the package: what ``analyze``, ``predict`` and ``score`` use
without ``--models``, and :func:`iiic.api.load_runs` with no argument.

``iiic/resources/default_model/`` holds the demo's runs (``<preset>/config.json``,
``class_prior.json``, ``fold_k/model.safetensors`` + ``model.onnx``; no OOF tables or training
state), their ``blend.json`` and ``model_card.json`` (:mod:`iiic.predict.card`). It is written by
``python benchmarks/default_model.py`` from a fresh checkout (seed and threads recorded in the card).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from iiic.predict.card import headline, read_card
from iiic.predict.predictor import Predictor
from iiic.runs.device import resolve_device

RESOURCE = "resources/default_model"
BLEND_FILE = "blend.json"


class DefaultModelError(FileNotFoundError):
    """The package has no default model (a checkout where it was never built)."""


def default_model_dir() -> Path:
    """The folder of the default model inside the installed package."""
    return Path(str(resources.files("iiic").joinpath(RESOURCE)))


def default_runs() -> tuple[list[Path], Path | None]:
    """The default model's run directories and its blend.json (None for a single run), in the
    order its card lists them; DefaultModelError when the package has none."""
    folder = default_model_dir()
    card = read_card(folder)
    if card is None or not card.get("model", {}).get("runs"):
        raise DefaultModelError(f"{folder}: no default model in this installation; build it with "
                                "`python benchmarks/default_model.py` or pass --models")  # fmt: skip
    runs = [folder / name for name in card["model"]["runs"]]
    blend = folder / BLEND_FILE if (folder / BLEND_FILE).is_file() else None
    return runs, blend


def default_backend(backend: str = "auto", device: str = "auto") -> str:
    """The backend for the default model: ``auto`` on the CPU runs its shipped ONNX graphs (a
    checkout's file times cannot tell whether they are newer than the weights)."""
    if backend == "auto" and resolve_device(device).type == "cpu":
        return "onnx"
    return backend


def load_default(*, backend: str = "auto", device: str = "auto", **kwargs: Any) -> Predictor:
    """The default model as a :class:`Predictor` (``kwargs`` as :meth:`Predictor.from_runs`,
    except ``blend``, which is the default model's own; ``backend``: :func:`default_backend`)."""
    runs, blend = default_runs()
    return Predictor.from_runs(runs, blend=blend, backend=default_backend(backend, device),
                               device=device, **kwargs)  # fmt: skip


def default_card() -> dict[str, Any] | None:
    """The default model's card (None without one)."""
    return read_card(default_model_dir())


def announcement() -> str:
    """The one line the commands print when they use the default model."""
    return f"no --models: the default model shipped with iiic ({headline(default_card())})"
