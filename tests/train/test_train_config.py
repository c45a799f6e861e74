"""Every shipped config loads and builds its model; invalid configs name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from iiic.constants import HIGH_QUALITY_VOTES
from iiic.train.config import PRESETS_DIR, TrainConfig, build_model, load_config

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
    assert cfg.model == path.stem.split("_")[0]
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
    with pytest.raises(ValueError, match=r"folds: must lie in 0..4"):
        TrainConfig(folds=[7])
    with pytest.raises(ValueError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")
