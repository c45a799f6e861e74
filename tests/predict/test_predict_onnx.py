"""ONNX export: one file per fold, and onnxruntime gives torch's probabilities (< 1e-4)."""

from __future__ import annotations

import numpy as np
import onnx
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import EEG_CHANNELS, EEG_WINDOW_SAMPLES
from iiic.predict.predictor import Predictor
from iiic.predict.runs import ONNX_FILE

MAX_ABS_DIFF = 1e-4


def test_export_and_onnxruntime_match_torch(run_dir):
    result = CliRunner().invoke(app, ["export", str(run_dir), "--onnx"])
    assert result.exit_code == 0, result.output
    files = sorted(run_dir.glob(f"fold_*/{ONNX_FILE}"))
    assert [f.parent.name for f in files] == ["fold_0", "fold_1"]
    graph = onnx.load(str(files[0])).graph
    assert [i.name for i in graph.input] == ["eeg"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"  # dynamic batch
    rng = np.random.default_rng(3)
    x = rng.normal(scale=60.0, size=(3, len(EEG_CHANNELS), EEG_WINDOW_SAMPLES)).astype(np.float32)
    for tta in (False, True):
        torch_p = Predictor.from_runs([run_dir], device="cpu", tta_flip=tta).predict(x)
        onnx_p = Predictor.from_runs([run_dir], backend="onnx", device="cpu", tta_flip=tta,
                                     batch_size=2).predict(x)  # fmt: skip
        assert np.abs(torch_p - onnx_p).max() < MAX_ABS_DIFF
    assert CliRunner().invoke(app, ["export", str(run_dir)]).exit_code == 2  # no format given
