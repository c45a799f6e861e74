"""Every shipped config loads and builds its model; invalid configs name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from iiic.constants import HIGH_QUALITY_VOTES
from iiic.train.config import (
    PRESETS_DIR,
    TrainConfig,
    build_model,
    load_config,
    with_epochs,
    with_pseudo_labels,
)

CONFIGS = sorted(PRESETS_DIR.glob("*.yaml"))
EXPECTED = {
    "eeg1d_cpu", "eeg1d_gpu", "spec2d_cpu", "spec2d_gpu", "multimodal_gpu", "sparcnet_cpu",
    "morph_cpu", "chain1d_cpu", "squeezeformer1d_cpu", "squeezeformer1d_gpu",
    "spec2d_cwt_cpu",
}  # fmt: skip


def test_every_model_family_has_its_presets() -> None:
    assert EXPECTED <= {p.stem for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads_and_builds_a_model_that_fits_its_preprocessing(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.model == path.stem.split("_")[0].rstrip("0123456789")  # morph10_cpu: morph
    model = build_model(cfg.model_copy(update={"model_options": _no_weights(cfg.model_options)}))
    assert model.n_chans == cfg.preprocess.n_chans
    assert model.n_times == cfg.preprocess.n_times()
    # round trip through the JSON written into run directories
    assert TrainConfig.model_validate(cfg.to_json_dict()) == cfg


def _no_weights(options: dict) -> dict:
    return {k: None if k == "weights" else (_no_weights(v) if isinstance(v, dict) else v)
            for k, v in options.items()}  # fmt: skip


def test_default_stage_two_uses_the_high_vote_threshold() -> None:
    assert TrainConfig().stages[-1].min_votes == HIGH_QUALITY_VOTES


def test_invalid_field_names_file_and_field(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: eeg1d\nbatch_sise: 3\n")
    with pytest.raises(ValueError, match=r"(?s)bad.yaml: invalid config.*batch_sise"):
        load_config(bad)
    with pytest.raises(ValueError, match=r"folds: expected fold numbers in 0..4"):
        TrainConfig(folds=[7])
    with pytest.raises(ValueError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_model_options_are_checked_when_the_config_loads(tmp_path) -> None:
    """A typo in model_options fails at load (before any cache is built), naming the option,
    the closest valid one and every valid option of the model."""
    bad = tmp_path / "typo.yaml"
    bad.write_text("model: eeg1d\nmodel_options:\n  widht: [8, 16]\n")
    with pytest.raises(ValueError, match=r"(?s)typo.yaml: invalid config.*'widht' is not an "
                       r"option of model 'eeg1d'; did you mean 'widths'\? \(valid options: .*"
                       r"gru_hidden.*widths\)"):  # fmt: skip
        load_config(bad)
    with pytest.raises(ValueError, match=r"model_options of model 'eeg1d': widths: .*>= 1"):
        TrainConfig(model="eeg1d", model_options={"widths": [0, 8]})
    with pytest.raises(ValueError, match=r"model_options of model 'multimodal': spec.backbon"):
        TrainConfig(model="multimodal", model_options={"spec": {"backbon": "x"}})
    with pytest.raises(
        ValueError, match="model: unknown name 'eeg1'; valid names are .*did you mean 'eeg1d'"
    ):
        TrainConfig(model="eeg1")
    assert TrainConfig(model="eeg1d", model_options={"widths": [8, 16]}).model_options


def test_with_epochs_overrides_every_stage_or_each_one() -> None:
    cfg = load_config("eeg1d_cpu")
    assert [s.epochs for s in with_epochs(cfg, 2).stages] == [2] * len(cfg.stages)
    per_stage = with_epochs(cfg, [3])
    assert [s.epochs for s in per_stage.stages] == [3]  # stages beyond the list are dropped
    assert per_stage.stages[0].lr == cfg.stages[0].lr  # only the epochs change
    with pytest.raises(ValueError, match="epochs"):
        with_epochs(cfg, -1)


def test_with_pseudo_labels_overrides_the_tables_and_the_weight() -> None:
    """--pseudo-labels / --pseudo-weight: each replaces its field, None keeps the config's; a
    weight without any OOF table is refused, a weight outside [0, 1] too."""
    cfg = load_config("eeg1d_cpu")
    assert cfg.pseudo_labels is None
    with pytest.raises(ValueError, match="the config has no pseudo_labels.oof"):
        with_pseudo_labels(cfg, weight=0.7)
    first = with_pseudo_labels(cfg, ["a/run", "b/oof.parquet"])
    assert first.pseudo_labels.oof == ["a/run", "b/oof.parquet"]
    assert first.pseudo_labels.weight == 0.5  # PseudoLabelConfig's default
    second = with_pseudo_labels(first, weight=0.7)
    assert second.pseudo_labels.oof == first.pseudo_labels.oof
    assert second.pseudo_labels.weight == 0.7
    assert second.model_copy(update={"pseudo_labels": None}) == cfg  # nothing else changes
    assert TrainConfig.model_validate(second.to_json_dict()) == second
    with pytest.raises(ValueError, match="weight"):
        with_pseudo_labels(first, weight=1.5)
