"""Run directories: class prior forms, clear errors for what is not a run."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from iiic.constants import CLASS_LABELS, CLASSES
from iiic.predict.runs import load_run
from iiic.runs.rundir import RunError, read_class_prior

PRIOR = [1.0, 1.0, 2.0, 0.0, 0.0, 4.0]


@pytest.mark.parametrize(
    "doc",
    [
        PRIOR,
        {"prior": PRIOR},
        {"classes": list(CLASSES), "prior": PRIOR, "n_rows": 3},
        dict(zip(CLASSES, PRIOR, strict=True)),
        dict(zip(CLASS_LABELS, PRIOR, strict=True)),
    ],
)
def test_class_prior_forms(tmp_path, doc):
    (tmp_path / "class_prior.json").write_text(json.dumps(doc))
    assert np.allclose(read_class_prior(tmp_path), np.array(PRIOR) / sum(PRIOR))


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"classes": list(reversed(CLASSES)), "prior": PRIOR}, "differ"),
        ([0.5, 0.5], "expected 6 numbers"),
        ([-1, 1, 1, 1, 1, 1], "non-negative"),
    ],
)
def test_bad_class_prior_names_the_file(tmp_path, doc, match):
    (tmp_path / "class_prior.json").write_text(json.dumps(doc))
    with pytest.raises(RunError, match=f"class_prior.json: .*{match}"):
        read_class_prior(tmp_path)


def test_missing_prior_is_uniform_and_empty_dir_is_not_a_run(tmp_path):
    assert np.allclose(read_class_prior(tmp_path), 1 / len(CLASSES))
    with pytest.raises(RunError, match="no fold_<k>/model.safetensors"):
        load_run(tmp_path)
    with pytest.raises(RunError, match="not a directory"):
        load_run(tmp_path / "absent")


def test_inference_runs_without_the_training_package(run_dir):
    """predict, ensemble, clinical and api import and predict while ``import iiic.train`` fails
    (issue 25: the run directory's format and the device live in iiic.runs)."""
    code = f"""
import sys
sys.modules["iiic.train"] = None  # `import iiic.train` now raises ImportError
import numpy as np
import iiic.api, iiic.clinical.batch, iiic.clinical.pipeline, iiic.ensemble.blend
from iiic.predict.predictor import Predictor
p = Predictor.from_runs([{str(run_dir)!r}], backend="torch", device="cpu")
x = np.random.default_rng(0).normal(scale=40.0, size=(2, 20, 10000))
print(p.predict(x).sum(axis=1))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[1.", "1.]"], done.stdout
