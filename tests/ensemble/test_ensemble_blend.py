"""Blend weights + class bias on OOF tables: known best weightings are recovered, CV is honest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import check_grad
from scipy.special import softmax
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import CLASS_LABELS, PRED_COLUMNS, VOTE_COLUMNS
from iiic.data.labels import normalize_votes
from iiic.ensemble.blend import (
    _loss_and_grad,
    _net_loss_and_grad,
    align_oof,
    blend_oof,
    blend_probabilities,
    blend_runs,
    fit_blend,
    load_blend,
    oof_run_names,
)

N_ROWS = 2000
VOTES_PER_ROW = 12


@pytest.fixture(scope="module")
def world():
    """True distributions, sampled votes, a good model (truth + small noise) and pure noise."""
    rng = np.random.default_rng(0)
    truth = softmax(rng.normal(scale=1.5, size=(N_ROWS, 6)), axis=1)
    votes = np.stack([rng.multinomial(VOTES_PER_ROW, t) for t in truth])
    good = softmax(np.log(truth) + rng.normal(scale=0.3, size=(N_ROWS, 6)), axis=1)
    noise = softmax(rng.normal(size=(N_ROWS, 6)), axis=1)
    return truth, votes, good, noise


def _table(votes, pred, ids=None) -> pd.DataFrame:
    ids = np.arange(len(votes)) if ids is None else ids
    df = pd.DataFrame({"eeg_id": ids, "eeg_sub_id": 0, "patient_id": ids // 10, "fold": ids % 5})
    df[list(VOTE_COLUMNS)] = votes
    df[list(PRED_COLUMNS)] = pred
    return df


def test_weight_goes_to_the_informative_model(world):
    _, votes, good, noise = world
    res = blend_oof([_table(votes, good), _table(votes, noise)], ["good", "noise"])
    assert res.weights[0] > 0.9
    assert res.weights.sum() == pytest.approx(1.0)
    assert (res.weights >= 0).all()
    assert res.blend_kl_cv < res.mean_kl  # the plain average is dragged down by the noise
    assert res.blend_kl_cv <= res.model_kl["good"] + 1e-3
    assert len(res.cv_fold_kl) == 5


def test_bias_recovers_a_known_class_shift(world):
    truth, votes, _, _ = world
    shift = np.array([0.8, 0.0, 0.0, -0.5, 0.0, 0.0])
    shifted = softmax(np.log(truth) + shift, axis=1)
    weights, bias = fit_blend(shifted[None], votes)
    expected = -(shift - shift.mean())
    assert weights == pytest.approx([1.0])
    assert np.abs(bias - expected).max() < 0.15
    assert bias.mean() == pytest.approx(0.0, abs=1e-12)
    _, no_bias = fit_blend(shifted[None], votes, fit_bias=False)
    assert (no_bias == 0).all()


def test_gradient_is_exact(world):
    _, votes, good, noise = world
    logp = np.log(np.stack([good[:200], noise[:200]]))
    y = normalize_votes(votes[:200])
    theta = np.array([0.3, -0.2, 0.1, 0.0, -0.3, 0.2, 0.05, -0.05])
    err = check_grad(lambda t: _loss_and_grad(t, logp, y, True)[0],
                     lambda t: _loss_and_grad(t, logp, y, True)[1], theta)  # fmt: skip
    assert err < 1e-6


def test_blend_probabilities_rejects_bad_weights(world):
    _, _, good, noise = world
    probs = np.stack([good, noise])
    out = blend_probabilities(probs, np.array([2.0, 0.0]))
    assert np.allclose(out, good / good.sum(axis=1, keepdims=True))
    assert np.allclose(out.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        blend_probabilities(probs, np.array([1.0, -0.5]))


def test_only_shared_rows_are_used_and_votes_must_agree(world):
    _, votes, good, noise = world
    a = _table(votes, good)
    b = _table(votes[100:], noise[100:], ids=np.arange(100, N_ROWS))
    rows, probs = align_oof([a, b])
    assert len(rows) == N_ROWS - 100
    assert probs.shape == (2, N_ROWS - 100, 6)
    assert np.allclose(probs[0], good[100:])
    c = _table(votes[::-1], noise)
    with pytest.raises(ValueError, match="disagree"):
        align_oof([a, c])


def test_blend_cli_writes_a_loadable_file(world, tmp_path):
    _, votes, good, noise = world
    for name, pred in (("runA", good), ("runB", noise)):
        (tmp_path / name).mkdir()
        _table(votes, pred).to_parquet(tmp_path / name / "oof.parquet")
    out = tmp_path / "blend.json"
    args = ["blend", str(tmp_path / "runA/oof.parquet"), str(tmp_path / "runB/oof.parquet")]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--cv-folds", "3",
                                      "--method", "weights"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for text in ("runA", "runB", "plain average", "patient-grouped CV", "kept: weights"):
        assert text in result.output
    doc = json.loads(out.read_text())
    assert doc["runs"] == ["runA", "runB"]
    assert doc["cv"] == {"n_splits": 3, "grouped_by": "patient_id"}
    assert doc["scores"]["blend_cv"] < doc["scores"]["plain_average"]
    weights, bias = load_blend(out)
    assert set(weights) == {"runA", "runB"} and weights["runA"] > 0.9
    assert bias.shape == (len(CLASS_LABELS),)
    doc["bias"].pop("Seizure")
    out.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="blend.json: 'bias' must map"):
        load_blend(out)


@pytest.fixture(scope="module")
def split_world(world):
    """Model A sees classes 0-2 well and 3-5 as noise, model B the reverse."""
    truth, votes, _, _ = world
    rng = np.random.default_rng(1)
    good = np.log(truth) + rng.normal(scale=0.3, size=truth.shape)
    bad = rng.normal(scale=2.0, size=truth.shape)
    a = softmax(np.concatenate([good[:, :3], bad[:, 3:]], axis=1), axis=1)
    b = softmax(np.concatenate([bad[:, :3], good[:, 3:]], axis=1), axis=1)
    return votes, a, b


def test_net_gradient_is_exact(split_world):
    votes, a, b = split_world
    logp = np.log(np.stack([a[:200], b[:200]]))
    y = normalize_votes(votes[:200])
    theta = np.random.default_rng(2).normal(scale=0.5, size=2 * 6 + 6)
    err = check_grad(lambda t: _net_loss_and_grad(t, logp, y, True)[0],
                     lambda t: _net_loss_and_grad(t, logp, y, True)[1], theta)  # fmt: skip
    assert err < 1e-6


def test_auto_keeps_the_net_when_models_are_good_on_different_classes(split_world, tmp_path):
    votes, a, b = split_world
    res = blend_oof([_table(votes, a), _table(votes, b)], ["A", "B"], method="auto")
    assert set(res.cv_by_method) == {"weights", "net"}
    assert res.cv_by_method["net"] < res.cv_by_method["weights"] - 0.05
    assert res.method == "net" and res.blend_kl_cv == res.cv_by_method["net"]
    assert res.weights.shape == (2, 6)
    assert (res.weights[0, :3] > res.weights[1, :3]).all()  # A trusted on its classes
    assert (res.weights[1, 3:] > res.weights[0, 3:]).all()
    out = tmp_path / "blend.json"
    out.write_text(json.dumps(res.to_json()))
    weights, bias = load_blend(out)
    table = np.stack([weights["A"], weights["B"]])
    np.testing.assert_allclose(table, res.weights)
    p = blend_probabilities(np.stack([a, b]), table, bias)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match=r"\(2, 6\) table"):
        blend_probabilities(np.stack([a, b]), table[:, :3], bias)


def test_auto_keeps_the_weights_on_a_single_informative_model(world):
    _, votes, good, noise = world
    res = blend_oof([_table(votes, good), _table(votes, noise)], ["good", "noise"], method="auto")
    assert res.method == min(res.cv_by_method, key=res.cv_by_method.get)
    assert res.to_json()["method"] == res.method
    with pytest.raises(
        ValueError, match="method: expected 'weights', 'net' or 'auto'; received 'mlp'"
    ):
        blend_oof([_table(votes, good)], ["good"], method="mlp")


def test_oof_run_names_are_the_run_directories_and_stay_unique(tmp_path):
    """iiic blend keys blend.json by these names; predict matches them to run directories."""
    paths = [tmp_path / "morph_cpu" / "oof.parquet", tmp_path / "gunes.oof.csv.gz",
             tmp_path / "a/eeg1d/oof.csv", tmp_path / "b/eeg1d/oof.parquet"]  # fmt: skip
    assert oof_run_names(paths) == ["morph_cpu", "gunes", "eeg1d_2", "eeg1d_3"]


def test_blend_runs_names_the_runs_by_directory(world, tmp_path):
    """What iiic demo and the real-segment benchmark call: OOF tables of run directories."""
    _, votes, good, noise = world
    runs = []
    for name, pred in (("morph_cpu", good), ("eeg1d_cpu", noise)):
        (tmp_path / name).mkdir()
        _table(votes, pred).to_parquet(tmp_path / name / "oof.parquet")
        runs.append(tmp_path / name)
    result = blend_runs(runs, tmp_path / "blend.json", n_splits=3)
    doc = json.loads((tmp_path / "blend.json").read_text())
    assert doc == result.to_json() and doc["runs"] == ["morph_cpu", "eeg1d_cpu"]
    assert doc["sources"] == [str(r / "oof.parquet") for r in runs]
    weights, _ = load_blend(tmp_path / "blend.json")
    assert weights["morph_cpu"] > 0.9
