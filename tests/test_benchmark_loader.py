"""The loader benchmark in its quick mode: both input paths of both CPU presets are measured."""

from __future__ import annotations

import json
import math
from pathlib import Path


def test_loader_benchmark_quick_mode(tmp_path: Path, run_benchmark) -> None:
    out = tmp_path / "loader.json"
    run_benchmark("loader", "--quick", "--only", "dataset", "--out", str(out))
    result = json.loads(out.read_text())
    section = result["real_dataset"]
    assert set(section["presets"]) == {"eeg1d_cpu", "spec2d_cpu"}
    for name, fig in section["presets"].items():
        assert fig["rows_served"] > 0, name
        for path in ("loader_windows_per_s", "model_ready_loader_windows_per_s"):
            assert set(fig[path]) >= {"0_workers", "1_workers", "0_workers_per_cpu_s"}, name
            assert all(v > 0 and math.isfinite(v) for v in fig[path].values()), (name, path)
        assert fig["model_ready_loader_over_step"] > 0
        assert {k.split("_")[0] for k in fig["end_to_end_windows_per_s"]} == {"per", "model"}
    assert section["load_avg_1min"]["before"] >= 0
    assert result["machine"]["cpu_count"] >= 1 and "date" in result["machine"]
