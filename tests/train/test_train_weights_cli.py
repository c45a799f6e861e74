"""``iiic train --weights FILE``: a local safetensors file initialises the image backbone of
spec2d; missing / non-safetensors files and models without a backbone fail with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
import yaml
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from iiic.cli import app
from iiic.train.config import TrainConfig, build_model, with_backbone_weights

BACKBONE = "tf_efficientnet_lite0"
SPEC2D: dict = {
    "model": "spec2d",
    "model_options": {"backbone": BACKBONE, "in_chans": 3, "use_eeg": True,
                      "use_kaggle_spec": False, "n_mels": 8, "fmax_hz": 9.0,
                      "image_height": 32, "image_width": 32},
    "preprocess": {"downsample": 10, "bandpass_hz": [0.5, 9.0]},
    "n_folds": 2,
    "folds": [0],
    "batch_size": 4,
    "eval_batch_size": 8,
    "stages": [{"epochs": 1, "lr": 1e-12}],  # a step that leaves the weights as loaded
    "ema_decay": None,
    "val_min_rows": 4,
    "patience": None,
    "max_steps_per_epoch": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    """Backbone weights unlike any fresh initialisation (seeded), as a safetensors file."""
    torch.manual_seed(123)
    backbone = timm.create_model(BACKBONE, pretrained=False, num_classes=0, in_chans=3)
    path = tmp_path_factory.mktemp("weights") / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def spec2d_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "spec2d_tiny.yaml"
    path.write_text(yaml.safe_dump(SPEC2D))
    return path


def _train(*args: str):
    return CliRunner().invoke(app, ["train", *args, "--device", "cpu", "--quiet"])


def _conv_weights(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and v.ndim == 4}


def test_weights_file_initialises_the_backbone(
    tiny_twin: Path, spec2d_config: Path, weights_file: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    result = _train("--config", str(spec2d_config), "--data", str(tiny_twin), "--out", str(run),
                    "--weights", str(weights_file))  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "config.json").read_text())
    assert saved["model_options"]["weights"] == str(weights_file.resolve())

    source = _conv_weights(load_file(str(weights_file)))
    trained = load_file(str(run / "fold_0" / "model.safetensors"))
    prefix = next(k[: -len(name)] for k in trained for name in source if k.endswith("." + name))
    loaded = _conv_weights(trained, prefix)
    assert set(loaded) == set(source) and len(source) > 40
    for key, value in source.items():
        torch.testing.assert_close(loaded[key], value, atol=1e-6, rtol=0)
    fresh = _conv_weights(build_model(TrainConfig.model_validate(SPEC2D)).state_dict(), prefix)
    assert not torch.allclose(fresh["conv_stem.weight"], source["conv_stem.weight"])


def test_missing_and_non_safetensors_files_are_named(
    tiny_twin: Path, spec2d_config: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.safetensors"
    result = _train("--config", str(spec2d_config), "--data", str(tiny_twin), "--out",
                    str(tmp_path / "a"), "--weights", str(missing))  # fmt: skip
    assert result.exit_code == 2 and f"{missing}: weights file not found" in result.output
    pickled = tmp_path / "backbone.pth"
    torch.save({"w": torch.zeros(2)}, pickled)
    result = _train("--config", str(spec2d_config), "--data", str(tiny_twin), "--out",
                    str(tmp_path / "b"), "--weights", str(pickled))  # fmt: skip
    assert result.exit_code == 2 and f"{pickled}: not a safetensors file" in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_weights_for_another_backbone_are_refused(
    tiny_twin: Path, spec2d_config: Path, tmp_path: Path
) -> None:
    other = tmp_path / "resnet.safetensors"
    save_file(timm.create_model("resnet10t", num_classes=0).state_dict(), str(other))
    result = _train("--config", str(spec2d_config), "--data", str(tiny_twin), "--out",
                    str(tmp_path / "run"), "--weights", str(other))  # fmt: skip
    assert result.exit_code == 2 and str(other) in result.output
    assert "tensors of the backbone match" in result.output


def test_models_without_a_backbone_and_resume_without_config_are_refused(
    tiny_twin: Path, tiny_config: dict, weights_file: Path, tmp_path: Path
) -> None:
    eeg1d = tmp_path / "eeg1d.yaml"
    eeg1d.write_text(yaml.safe_dump(tiny_config))
    result = _train("--config", str(eeg1d), "--data", str(tiny_twin), "--out", str(tmp_path / "a"),
                    "--weights", str(weights_file))  # fmt: skip
    assert result.exit_code == 2 and "'eeg1d' has no pretrained backbone" in result.output
    result = _train("--data", str(tiny_twin), "--out", str(tmp_path / "a"), "--resume",
                    "--weights", str(weights_file))  # fmt: skip
    assert result.exit_code == 2 and "--weights needs --config" in result.output


def test_multimodal_weights_go_to_the_spec_branch(weights_file: Path) -> None:
    cfg = TrainConfig.model_validate({"model": "multimodal", "model_options": {"spec": {}}})
    out = with_backbone_weights(cfg, weights_file)
    assert out.model_options["spec"]["weights"] == str(weights_file.resolve())
    assert cfg.model_options == {"spec": {}}  # the given config is left as it was
