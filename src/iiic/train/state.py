"""Resume state of one fold, in one safetensors file (tensors + JSON metadata; no pickle).

``state/state.safetensors`` holds the model, EMA, best weights, optimiser tensors and RNG states
under dotted keys; its metadata entry ``"state"`` holds the JSON rest (counters, early-stopping,
history, optimiser hyper-parameters, scheduler). One file written atomically, so a kill can
never leave a half-updated state. ``state/state.json`` is a human-readable copy.

The file carries the SHA-256 of its tensors (:mod:`iiic.runs.checked`, as ``model.safetensors``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from iiic.runs.checked import read_checked, write_checked
from iiic.utils import write_json_atomic

STATE_FILE = "state.safetensors"
META_KEY = "state"


def flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors ``{"state.<param>.<name>": t}`` and JSON."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {"param_groups": sd["param_groups"], "state": {}}
    for pid, per_param in sd["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{pid}.{name}"] = value
            else:
                plain["state"].setdefault(str(pid), {})[name] = value
    return tensors, plain


def unflatten_optimizer(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in plain["state"].items()}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
        for g in plain["param_groups"]
    ]  # JSON turned tuples such as Adam's betas into lists
    return {"state": state, "param_groups": groups}


def _prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in tensors.items()}


def _unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def save_state(state_dir: Path, groups: dict[str, dict[str, torch.Tensor]], meta: dict) -> Path:
    """Write tensor ``groups`` (name → state dict) and JSON ``meta`` atomically."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, group in groups.items():
        tensors.update(_prefixed(prefix, group))
    path = write_checked(Path(state_dir) / STATE_FILE, tensors, {META_KEY: json.dumps(meta)})
    write_json_atomic(Path(state_dir) / "state.json", meta)
    return path


def load_state(state_dir: Path, prefixes: list[str]) -> tuple[dict[str, dict], dict] | None:
    """``(groups, meta)`` saved by :func:`save_state`, or None when there is no state yet."""
    path = Path(state_dir) / STATE_FILE
    if not path.is_file():
        return None
    hint = (f"delete {Path(state_dir)} to restart this fold from its first epoch, then run "
            "iiic train --resume again")  # fmt: skip
    tensors, raw = read_checked(path, hint)
    try:
        meta = json.loads(raw[META_KEY])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: no readable resume state in its metadata ({exc}); {hint}"
        ) from None
    return {p: _unprefixed(p, tensors) for p in prefixes}, meta


def rng_tensors() -> dict[str, torch.Tensor]:
    """torch CPU (and CUDA) RNG states (dropout draws), as uint8 tensors."""
    out = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"cuda{i}"] = s
    return out


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`rng_tensors` (CUDA states restored where the devices exist)."""
    torch.set_rng_state(tensors["cpu"])
    if torch.cuda.is_available():
        states = [
            tensors[f"cuda{i}"] for i in range(torch.cuda.device_count()) if f"cuda{i}" in tensors
        ]
        if states:
            torch.cuda.set_rng_state_all(states)
