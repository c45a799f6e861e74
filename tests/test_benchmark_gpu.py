"""The one-command GPU benchmark in its tiny CPU mode: every preset steps, DDP runs over gloo."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_benchmark_cpu_tiny_mode(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--cpu-tiny", "--workers", "1",
         "--results", str(out)], capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
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
