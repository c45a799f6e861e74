"""The one-command GPU benchmark in its tiny CPU mode: every preset steps, DDP runs over gloo."""

from __future__ import annotations

import json
import math
from pathlib import Path


def test_gpu_benchmark_cpu_tiny_mode(tmp_path: Path, run_benchmark) -> None:
    out = tmp_path / "gpu.json"
    run_benchmark("gpu", "--cpu-tiny", "--workers", "1", "--results", str(out))
    result = json.loads(out.read_text())
    assert set(result["presets"]) == {"eeg1d_gpu", "spec2d_gpu", "multimodal_gpu"}
    for name, r in result["presets"].items():
        for key in ("train_windows_per_s", "step_windows_per_s", "loader_windows_per_s"):
            assert r[key] > 0 and math.isfinite(r[key]), (name, key)
        assert r["loader_headroom"] == r["loader_windows_per_s"] / r["step_windows_per_s"]
        assert r["peak_gpu_mib"] is None and r["parameters_m"] > 0
    # spec2d_gpu's inputs were prepared and read; eeg1d_gpu's augmentations need raw windows
    assert result["presets"]["spec2d_gpu"]["model_ready"] is True
    assert result["presets"]["eeg1d_gpu"]["model_ready"] is False
    ddp = result["ddp"]
    assert ddp["processes"] == 2 and ddp["distributed"] and ddp["windows_per_s"] > 0
    assert result["cpu_tiny"] and result["machine"]["date"]
