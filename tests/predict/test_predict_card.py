"""Model cards (iiic.predict.card) and the prior shift (iiic.predict.prior): real scores of the 12
real IIIC segments shipped with iiic, through the real CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import CLASSES, HMS_CLASS_PRIOR
from iiic.data.real_segments import write_layout
from iiic.predict.card import (
    CARD_FILE,
    NO_CHECK,
    bootstrap_interval,
    card_dir,
    headline,
    read_card,
    real_set_section,
    render_markdown,
)
from iiic.predict.predictor import Predictor
from iiic.predict.prior import monitoring_prior, read_prior_file, resolve_prior, shift_prior
from iiic.predict.score import MODEL, UNIFORM, score_data_dir


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    """The 12 real segments shipped with iiic, in the layout ``iiic score`` reads."""
    return write_layout(tmp_path_factory.mktemp("real") / "iiic-real-segments")


def test_real_set_section_of_a_real_score(segments, run_dir):
    predictor = Predictor.from_runs([run_dir], device="cpu")
    result = score_data_dir(predictor, segments, baseline=segments / "sparcnet_predictions.csv")
    section = real_set_section(result, attribution="ODC-By")
    p = section["predictors"]
    assert set(p) == {MODEL, "sparcnet", UNIFORM, "class prior"}
    for name, s in p.items():
        low, high = s["kl_interval_90"]
        assert low <= s["kl"] <= high, name
        assert s["kl"] == pytest.approx(result.summary[name]["kl"])
        assert s["worst"]["kl"] == pytest.approx(result.rows[f"kl:{name}"].max())
    assert p[UNIFORM]["kl_interval_90"][1] - p[UNIFORM]["kl_interval_90"][0] > 0
    wrong = 12 - p[MODEL]["n_right"]
    assert sum(c["n"] for c in section["confusions"]) == wrong
    card = {"training": {"twin_revision": "v10"}, "real_sets": {"iiic-real-segments": section}}
    line = headline(card)
    assert line.startswith("trained on: synthetic twin v10; real IIIC segments (12): KL ")
    assert (
        f"SPaRCNet {p['sparcnet']['kl']:.2f}" in line and f"uniform {p[UNIFORM]['kl']:.2f}" in line
    )
    md = render_markdown(card)
    assert "| sparcnet |" in md and "ODC-By" in md


def test_headline_without_a_check():
    assert headline(None) == NO_CHECK
    assert (
        headline({"training": {"twin_revision": "v3"}})
        == f"trained on: synthetic twin v3; {NO_CHECK}"
    )
    not_scored = {"real_sets": {"x": {"status": "not scored", "why": "absent"}}}
    assert headline(not_scored).endswith(NO_CHECK)
    assert "Not scored: absent" in render_markdown(not_scored)


def test_bootstrap_interval_of_a_constant_is_the_constant():
    assert bootstrap_interval(np.full(7, 0.3)) == pytest.approx((0.3, 0.3))


def test_score_writes_the_card_of_a_run(segments, run_factory, tmp_path):
    run = run_factory(tmp_path / "run")
    (run / CARD_FILE).write_text(
        json.dumps({"card_version": 1, "training": {"twin_revision": "v9"}})
    )
    args = ["score", str(segments), "--models", str(run), "--out", str(tmp_path / "score"),
            "--baseline", str(segments / "sparcnet_predictions.csv"), "--device", "cpu",
            "--write-card"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    card = read_card(run)
    assert card["training"] == {"twin_revision": "v9"}  # other sections kept
    section = card["real_sets"]["iiic-real-segments"]
    assert section["n_rows"] == 12 and "sparcnet" in section["predictors"]
    assert Predictor.from_runs([run], device="cpu").card == card
    # several runs without a blend are no one model: refused before any work
    two = CliRunner().invoke(app, [*args[:3], f"{run},{run}", *args[4:]])
    assert two.exit_code == 2 and "--write-card" in two.output


def test_prior_shift_is_saerens_and_identity_for_the_training_prior():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6), size=5)
    train = np.array([0.17, 0.13, 0.09, 0.11, 0.22, 0.28])
    np.testing.assert_allclose(shift_prior(p, train, train), p)
    hms = np.asarray(HMS_CLASS_PRIOR) / sum(HMS_CLASS_PRIOR)
    np.testing.assert_allclose(resolve_prior("hms"), hms)
    target = resolve_prior("monitoring")
    assert target.sum() == pytest.approx(1.0) and target[CLASSES.index("other")] == 0.8
    patterns = [CLASSES.index(c) for c in CLASSES if c != "other"]
    np.testing.assert_allclose(target[patterns] / target[patterns].sum(),
                               hms[patterns] / hms[patterns].sum())  # fmt: skip
    shifted = shift_prior(p, train, target)
    expected = p * target / train
    np.testing.assert_allclose(shifted, expected / expected.sum(axis=1, keepdims=True))
    assert (shifted[:, -1] > p[:, -1]).all()  # more Other everywhere
    assert resolve_prior("training") is None


def test_prior_files_are_checked(tmp_path):
    good = tmp_path / "prior.json"
    good.write_text(
        json.dumps({"Seizure": 1, "LPD": 1, "GPD": 1, "LRDA": 1, "GRDA": 1, "Other": 5})
    )
    assert read_prior_file(good)[-1] == pytest.approx(0.5)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"seizure": 1}))
    with pytest.raises(ValueError, match=r"bad.json: no value for classes \['lpd'"):
        read_prior_file(bad)
    bad.write_text(json.dumps([1, 1, 1, 1, 1, 0]))
    with pytest.raises(ValueError, match="bad.json: expected a prior of 6 positive numbers"):
        read_prior_file(bad)
    with pytest.raises(ValueError, match="--prior: expected one of"):
        resolve_prior("monitor")


def test_predictor_with_prior_shifts_its_probabilities(run_dir):
    predictor = Predictor.from_runs([run_dir], device="cpu")
    x = np.random.default_rng(1).normal(scale=30, size=(3, 20, 10000)).astype(np.float32)
    plain = predictor.predict(x)
    shifted = predictor.with_prior("monitoring")
    target = monitoring_prior()
    np.testing.assert_allclose(
        shifted.predict(x), shift_prior(plain, predictor.class_prior, target)
    )
    np.testing.assert_allclose(predictor.with_prior("training").predict(x), plain)
    assert shifted.report_info()["class prior"].startswith("monitoring: ")
    assert predictor.report_info()["model"] == NO_CHECK


def test_where_a_card_lives(tmp_path):
    runs = [tmp_path / "runs" / "a", tmp_path / "runs" / "b"]
    assert card_dir(runs, tmp_path / "x" / "blend.json") == tmp_path / "x"  # beside the blend
    assert card_dir(runs[:1], None) == runs[0]  # a single run
    assert card_dir(runs, None) == tmp_path / "runs"  # runs averaged: their common folder
    assert card_dir([runs[0], tmp_path / "c"], None) is None
