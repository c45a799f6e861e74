"""ONNX export: one file per fold, and onnxruntime gives torch's probabilities (< 1e-4)."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import (
    EEG_CHANNELS,
    EEG_WINDOW_SAMPLES,
    SPEC_CHAINS,
    SPEC_FREQS_HZ,
    SPEC_WINDOW_ROWS,
)
from iiic.predict.predictor import Predictor
from iiic.runs.rundir import ONNX_FILE, save_config, save_fold_model
from iiic.train.config import TrainConfig, build_model

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
        torch_p = Predictor.from_runs([run_dir], backend="torch", device="cpu",
                                      tta_flip=tta).predict(x)  # fmt: skip
        onnx_p = Predictor.from_runs([run_dir], backend="onnx", device="cpu", tta_flip=tta,
                                     batch_size=2).predict(x)  # fmt: skip
        assert np.abs(torch_p - onnx_p).max() < MAX_ABS_DIFF
    assert CliRunner().invoke(app, ["export", str(run_dir)]).exit_code == 2  # no format given


SMALL_SPEC2D = {"image_height": 64, "image_width": 64, "n_mels": 16}


def _spec2d_run(root, stft_impl: str):
    options = {**SMALL_SPEC2D, "stft_impl": stft_impl}
    cfg = TrainConfig(model="spec2d", model_options=options, folds=[0])  # a one-fold run
    save_config(root, cfg)
    torch.manual_seed(0)
    save_fold_model(root / "fold_0", build_model(cfg), 0, {})
    return root


@pytest.mark.parametrize("stft_impl", ["torch", "conv"])
def test_spectrogram_models_export_whatever_their_stft(tmp_path, stft_impl):
    # torch.stft has no ONNX export: export switches it to the equivalent conv STFT
    run = _spec2d_run(tmp_path / stft_impl, stft_impl)
    result = CliRunner().invoke(app, ["export", str(run), "--onnx"])
    assert result.exit_code == 0, result.output
    rng = np.random.default_rng(4)
    x = rng.normal(scale=40.0, size=(2, len(EEG_CHANNELS), EEG_WINDOW_SAMPLES)).astype(np.float32)
    spec = rng.gamma(2.0, 3.0, size=(2, SPEC_WINDOW_ROWS, len(SPEC_CHAINS), len(SPEC_FREQS_HZ)))
    torch_p = Predictor.from_runs([run], backend="torch", device="cpu").predict(x, spec)
    onnx_p = Predictor.from_runs([run], backend="onnx", device="cpu").predict(x, spec)
    assert np.abs(torch_p - onnx_p).max() < MAX_ABS_DIFF
    with pytest.raises(
        ValueError, match=r"spec: expected shape .* \(a model reads Kaggle spectrograms\)"
    ):
        Predictor.from_runs([run], device="cpu").predict(x)


def test_auto_backend_runs_onnxruntime_and_never_a_stale_export(tmp_path, run_factory):
    """auto: ONNX Runtime on the CPU, from the weights when model.onnx is absent or older."""
    run = run_factory(tmp_path / "run")
    rng = np.random.default_rng(5)
    x = rng.normal(scale=60.0, size=(3, len(EEG_CHANNELS), EEG_WINDOW_SAMPLES)).astype(np.float32)
    torch_p = Predictor.from_runs([run], backend="torch", device="cpu").predict(x)
    auto = Predictor.from_runs([run], device="cpu")  # nothing exported: in memory
    assert auto.backend == "onnx" and len(auto.sessions[0]) == 2
    assert np.abs(auto.predict(x) - torch_p).max() < MAX_ABS_DIFF
    stale = run / "fold_0" / ONNX_FILE
    stale.write_bytes(b"not an onnx graph")  # older than a retrained fold's weights
    weights = run / "fold_0" / "model.safetensors"
    os.utime(stale, (weights.stat().st_mtime - 60,) * 2)
    assert (
        np.abs(Predictor.from_runs([run], device="cpu").predict(x) - torch_p).max() < MAX_ABS_DIFF
    )
    with pytest.raises(Exception, match="(?i)protobuf|invalid|load|cannot be checked"):
        Predictor.from_runs([run], backend="onnx", device="cpu")  # explicit: the file as it is
