"""``iiic.api`` and its example notebook: the notebook runs on a tiny twin, the API agrees with
the pipeline it wraps (an ``mne.io.Raw`` reads like its EDF file, windows like the timeline)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import mne
import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from nbclient import NotebookClient

from iiic import api
from iiic.constants import EEG_WINDOW_SAMPLES, PRED_COLUMNS, SFREQ_HZ, VOTE_COLUMNS
from iiic.evaluate.metric import kl_divergence
from iiic.signal.kaggle_spec import eeg_spectrogram_windows

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "api_example.ipynb"
WORK = "iiic_api_example"
"""The folder the notebook writes into (relative to where it runs)."""


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[Path, nbformat.NotebookNode]:
    """The example notebook executed with nbclient in a temporary folder: (folder, notebook)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    where = tmp_path_factory.mktemp("notebook")
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(where)}}).execute()  # fmt: skip
    return where / WORK, nb


def test_notebook_is_stored_without_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))


def test_notebook_runs_every_api_function(executed) -> None:
    work, nb = executed
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert all(
        f"api.{name}(" in source for name in api.__all__ if name != "read_kaggle_spectrogram"
    )
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "(20, 10000) µV at 200.0 Hz" in text and "OOF KL" in text
    assert any(o.output_type == "display_data" and "image/png" in o.data for o in outputs)
    assert (work / "report" / "report.html").is_file()
    assert (work / "report" / "annotations" / "events-annot.fif").is_file()


def test_a_raw_reads_like_its_file(executed) -> None:
    work, _ = executed
    edf = work / "recording.edf"
    from_file = api.read_recording(edf)
    raw = mne.io.read_raw_edf(edf, preload=True, verbose="error")
    from_raw = api.read_recording(raw)
    np.testing.assert_allclose(from_raw.data, from_file.data, atol=1e-3)
    assert from_raw.start == from_file.start and from_raw.source is None
    pd.testing.assert_frame_equal(from_raw.annotations, from_file.annotations)
    cropped = api.read_recording(raw.copy().crop(tmin=60.0))  # starts one minute later
    assert cropped.start == from_file.start + timedelta(seconds=60)
    np.testing.assert_allclose(cropped.data, from_file.data[:, round(60 * SFREQ_HZ) :], atol=1e-3)
    with pytest.raises(
        TypeError, match="source: expected a path, an mne.io.Raw or a Recording; received int"
    ):
        api.read_recording(42)


def test_windows_match_the_timeline_and_oof_matches_the_metric(executed) -> None:
    work, _ = executed
    model = api.load_runs(work / "runs" / "eeg1d_tiny", device="cpu")
    rec = api.read_recording(work / "recording.edf")
    timeline = api.predict_recording(model, rec, stride_s=40.0, fast=False)
    starts = (timeline.table["start_s"].to_numpy()[[0, -1]] * SFREQ_HZ).astype(int)
    windows = np.stack([rec.data[:, s : s + EEG_WINDOW_SAMPLES] for s in starts])
    alone = api.predict_windows(model, windows)  # each window preprocessed on its own
    # the timeline's windows are sliced from the recording preprocessed once: the same but for
    # the filters' edges
    np.testing.assert_allclose(alone, timeline.probabilities[[0, -1]], atol=1e-3)
    assert not np.array_equal(alone, timeline.probabilities[[0, -1]])
    assert api.predict_windows(model, windows[0]).shape == (6,)
    oof = pd.read_parquet(work / "runs" / "eeg1d_tiny" / "oof.parquet")
    ev = api.evaluate_oof(work / "runs" / "eeg1d_tiny" / "oof.parquet")
    expected = kl_divergence(oof[list(VOTE_COLUMNS)].to_numpy(), oof[list(PRED_COLUMNS)].to_numpy())
    assert ev.kl == pytest.approx(expected)


def test_spectrogram_models_get_spectrograms_from_the_windows(executed, tmp_path) -> None:
    from iiic.runs.rundir import save_config, save_fold_model
    from iiic.train.config import TrainConfig, build_model

    cfg = TrainConfig(model="spec2d", model_options={"image_height": 64, "image_width": 64,
                                                    "n_mels": 16})  # fmt: skip
    save_config(tmp_path, cfg)
    torch.manual_seed(0)
    save_fold_model(tmp_path / "fold_0", build_model(cfg), 0, {})
    model = api.load_runs(tmp_path, device="cpu", allow_partial=True)  # one fold is enough here
    work, _ = executed
    x = api.read_recording(work / "recording.edf").data[:, :EEG_WINDOW_SAMPLES]
    spec = eeg_spectrogram_windows(x, SFREQ_HZ, [25.0])
    np.testing.assert_allclose(api.predict_windows(model, x), model.predict(x[None], spec)[0],
                               atol=1e-6)  # fmt: skip
