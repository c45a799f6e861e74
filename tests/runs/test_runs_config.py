"""config.json as inference reads it (RunConfig) and as training reads it (TrainConfig)."""

from __future__ import annotations

import json

import pytest

from iiic.predict.default_model import default_runs
from iiic.runs.config import RunConfig
from iiic.runs.rundir import RunError, read_config, save_config
from iiic.train.config import AugmentConfig, PseudoLabelConfig, TrainConfig


def test_the_shipped_runs_read_back_unchanged_by_both_schemas() -> None:
    """Run directories written before iiic.runs existed (the default model) load as they were."""
    runs, _ = default_runs()
    for run in runs:
        doc = json.loads((run / "config.json").read_text(encoding="utf-8"))
        assert read_config(run, TrainConfig).to_json_dict() == doc
        inference = read_config(run)
        assert type(inference) is RunConfig
        assert inference.to_json_dict() == {k: doc[k] for k in RunConfig.model_fields}


def test_inference_ignores_training_fields_and_training_checks_them(tmp_path) -> None:
    cfg = TrainConfig(model_options={"gru_hidden": 8}, n_folds=3, folds=[1])
    save_config(tmp_path, cfg)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "from_a_newer_iiic": 1}))
    assert read_config(tmp_path).fold_list() == [1]
    assert read_config(tmp_path).model_options == {"gru_hidden": 8}
    with pytest.raises(RunError, match=r"(?s)config.json: invalid TrainConfig.*from_a_newer_iiic"):
        read_config(tmp_path, TrainConfig)
    path.write_text(json.dumps({"model": "eeg1d", "model_options": {"gru_hiden": 8}}))
    with pytest.raises(
        RunError, match=r"(?s)config.json: invalid RunConfig.*did you mean 'gru_hidden'"
    ):
        read_config(tmp_path)


def test_augment_and_pseudo_labels_have_their_types() -> None:
    cfg = TrainConfig.model_validate({"augment": None, "pseudo_labels": {"oof": ["a/oof.parquet"]}})
    assert cfg.augment == AugmentConfig()  # an empty `augment:` in YAML: the defaults
    assert isinstance(cfg.pseudo_labels, PseudoLabelConfig) and cfg.pseudo_labels.weight == 0.5
    assert TrainConfig.model_fields["augment"].annotation is AugmentConfig
    with pytest.raises(ValueError, match="p_flip"):
        TrainConfig.model_validate({"augment": {"p_flip": 2.0}})
