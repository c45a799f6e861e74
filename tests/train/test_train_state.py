"""Resume state: optimiser flattening round-trips; the state file is safetensors + JSON."""

from __future__ import annotations

import json

import torch
from safetensors import safe_open

from iiic.train import state as state_io
from iiic.train.loop import lr_factor


def _stepped_optimizer() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(3):
        model(torch.randn(5, 4)).square().sum().backward()
        opt.step()
    return model, opt


def test_optimizer_state_round_trips_through_a_state_file(tmp_path) -> None:
    model, opt = _stepped_optimizer()
    tensors, plain = state_io.flatten_optimizer(opt.state_dict())
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    json.dumps(plain)  # the rest is plain JSON
    state_io.save_state(
        tmp_path, {"optimizer": tensors, "model": model.state_dict()}, {"optimizer": plain}
    )
    groups, meta = state_io.load_state(tmp_path, ["optimizer", "model"])
    restored = torch.optim.AdamW(model.parameters(), lr=0.01)
    restored.load_state_dict(state_io.unflatten_optimizer(groups["optimizer"], meta["optimizer"]))
    a, b = opt.state_dict(), restored.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for pid in a["state"]:
        for name, value in a["state"][pid].items():
            torch.testing.assert_close(b["state"][pid][name], value)
    with safe_open(str(tmp_path / state_io.STATE_FILE), framework="pt") as f:
        assert json.loads(f.metadata()["state"]) == meta
    assert json.loads((tmp_path / "state.json").read_text()) == meta


def test_no_state_means_none(tmp_path) -> None:
    assert state_io.load_state(tmp_path, ["model"]) is None


def test_rng_state_restores_the_same_draws() -> None:
    saved = state_io.rng_tensors()
    first = torch.rand(3)
    state_io.restore_rng(saved)
    torch.testing.assert_close(torch.rand(3), first)


def test_lr_schedule_warms_up_then_decays_to_the_floor() -> None:
    f = [lr_factor(s, warmup=10, total=100, min_ratio=0.01) for s in range(100)]
    assert f[0] == 0.1 and f[9] == 1.0
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False))
    assert abs(lr_factor(100, warmup=10, total=100, min_ratio=0.01) - 0.01) < 1e-12
