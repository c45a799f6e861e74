"""Issue 14: bad input must never cost a submission, give a silent wrong answer or a traceback.

Every case builds its bad files from a real 4-patient synthetic twin (Kaggle layout) and a tiny
eeg1d run trained on it, then runs the real commands (typer's CliRunner, a subprocess where a
process must be killed). Each test names the docs/bad_input.md row it checks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from safetensors.torch import save_file

from cli_helpers import error_line, iiic
from iiic.constants import EEG_CHANNELS, VOTE_COLUMNS
from iiic.data.readers import read_eeg
from iiic.runs.rundir import read_config, save_fold_model
from iiic.train.config import build_model

TINY: dict = {
    "model": "eeg1d",
    "model_options": {"widths": [6, 8], "kernel_sizes": [3, 5], "gru_hidden": 4},
    "preprocess": {"downsample": 10, "bandpass_hz": [0.5, 9.0]},
    "n_folds": 2,
    "batch_size": 4,
    "eval_batch_size": 8,
    "stages": [{"epochs": 1, "lr": 3e-3}],
    "ema_decay": None,
    "val_min_rows": 2,
    "patience": None,
}
"""A two-fold eeg1d that trains in seconds on one core."""


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    """A 4-patient twin: 15 train rows over 8 EEGs, 2 test EEGs (50 s) with spectrograms."""
    from iiic.synth.twin import generate_twin

    return generate_twin(tmp_path_factory.mktemp("twin") / "data", n_patients=4, seed=3,
                         max_eegs_per_patient=2, max_rows_per_eeg=3)  # fmt: skip


@pytest.fixture
def data(twin: Path, tmp_path: Path) -> Path:
    """A private copy of the twin to break."""
    return Path(shutil.copytree(twin, tmp_path / "data", ignore=shutil.ignore_patterns(".iiic*")))


@pytest.fixture(scope="module")
def run(twin: Path, tmp_path_factory) -> Path:
    """A finished two-fold run written by the real training driver (0 epochs: seeded initial
    weights; these tests check what happens to rows, not classification quality)."""
    from iiic.train.config import TrainConfig
    from iiic.train.kfold import train_kfold

    root = tmp_path_factory.mktemp("run")
    data = shutil.copytree(twin, root / "data")
    cfg = TrainConfig.model_validate({**TINY, "stages": [{"epochs": 0, "lr": 1e-3}]})
    train_kfold(cfg, data, root / "run", device="cpu", progress_bar=False)
    return root / "run"


def prior_of(run: Path) -> np.ndarray:
    return np.asarray(json.loads((run / "class_prior.json").read_text())["prior"])


def rewrite_eeg(path: Path, data: np.ndarray) -> None:
    """Write (20, T) µV as an uncompressed, plain-encoded parquet file (values stored as is)."""
    table = pa.table({name: data[i].astype(np.float32) for i, name in enumerate(EEG_CHANNELS)})
    pq.write_table(table, path, compression="none", use_dictionary=False)


def corrupt_values(path: Path, channel: int, sample: int, n_bytes: int = 64) -> None:
    """Overwrite ``n_bytes`` of a data page with random bytes (the footer stays intact)."""
    eeg = read_eeg(path).data
    rewrite_eeg(path, eeg)
    needle = eeg[channel, sample : sample + 4].astype("<f4").tobytes()
    raw = bytearray(path.read_bytes())
    at = raw.find(needle)
    assert at > 0 and raw.find(needle, at + 1) < 0, "the values to corrupt are not unique"
    rng = np.random.default_rng(14)
    junk = rng.integers(0, 256, n_bytes, dtype=np.uint8)
    junk[:8] = np.frombuffer(np.float32([3.4e38, -3.4e38]).tobytes(), np.uint8)  # as in issue 14
    raw[at : at + n_bytes] = junk.tobytes()
    path.write_bytes(bytes(raw))


def submission_ok(data: Path, out: Path) -> pd.DataFrame:
    """The submission holds every test.csv eeg_id once, in order, as probabilities."""
    sub = pd.read_csv(out)
    test = pd.read_csv(data / "test.csv")
    assert sub["eeg_id"].tolist() == list(dict.fromkeys(test["eeg_id"]))
    p = sub[list(VOTE_COLUMNS)].to_numpy()
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1.0, atol=1e-6)
    return sub.set_index("eeg_id")


# --- 1 + 2: non-physical values, corrupt data pages -------------------------------------------
def test_a_huge_finite_pair_costs_one_row_not_the_submission(data, run, tmp_path) -> None:
    """Item 1: ±3e38 µV (finite) overflowed in the montage → NaN → no submission at all."""
    eeg_id = int(pd.read_csv(data / "test.csv")["eeg_id"].iloc[0])
    path = data / "test_eegs" / f"{eeg_id}.parquet"
    x = read_eeg(path).data
    x[[1, 2], 5000] = [3.0e38, -3.0e38]  # F3, C3: their bipolar difference overflows float32
    rewrite_eeg(path, x)
    out = tmp_path / "submission.csv"
    result = iiic("predict", "--models", run, "--data", data, "--out", out, "--device", "cpu")
    assert result.exit_code == 3, result.output
    assert f"eeg_id {eeg_id}:" in result.stderr and "non-physical" in result.stderr
    sub = submission_ok(data, out)
    np.testing.assert_allclose(sub.loc[eeg_id].to_numpy(), prior_of(run), atol=1e-6)
    others = sub.drop(index=eeg_id).to_numpy()
    assert not np.allclose(others, prior_of(run), atol=1e-4)  # the others are real predictions


def test_a_prediction_that_is_not_finite_gets_the_fallback_whatever_the_cause(
    data, run, tmp_path
) -> None:
    """Item 1: a model that returns NaN (here: NaN weights) must not lose the submission."""
    broken = Path(shutil.copytree(run, tmp_path / "nan_run"))
    cfg = read_config(broken)
    for fold_dir in sorted(broken.glob("fold_*")):
        model = build_model(cfg)
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float("nan"))
        save_fold_model(fold_dir, model, int(fold_dir.name[5:]), {})
    out = tmp_path / "submission.csv"
    result = iiic("predict", "--models", broken, "--data", data, "--out", out, "--device", "cpu")
    assert result.exit_code == 3, result.output
    assert result.stderr.count("prediction is not finite") >= 2  # listed per row
    sub = submission_ok(data, out)
    np.testing.assert_allclose(sub.to_numpy(), np.tile(prior_of(run), (len(sub), 1)), atol=1e-6)


def test_a_corrupt_data_page_is_caught_by_validate_prepare_and_predict(data, run, tmp_path) -> None:
    """Item 2: random bytes in a data page read 'fine' as ±3.4e38 µV and passed everywhere."""
    train = pd.read_csv(data / "train.csv")
    eeg_id = int(train["eeg_id"].iloc[0])
    offsets = train.loc[train["eeg_id"] == eeg_id, "eeg_label_offset_seconds"].to_numpy()
    sample = 2000  # 10 s: inside the windows that start before it
    corrupt_values(data / "train_eegs" / f"{eeg_id}.parquet", channel=2, sample=sample)
    assert np.nanmax(np.abs(read_eeg(data / "train_eegs" / f"{eeg_id}.parquet").data)) > 1e30
    test_id = int(pd.read_csv(data / "test.csv")["eeg_id"].iloc[1])
    corrupt_values(data / "test_eegs" / f"{test_id}.parquet", channel=0, sample=4000)

    result = iiic("validate", data, "--workers", "1", "--no-progress")
    assert result.exit_code == 1, result.output
    errors = [ln for ln in result.stderr.splitlines() if "non-physical" in ln]
    assert len(errors) == 2 and all(("C3" in ln or "Fp1" in ln) for ln in errors), errors

    cache = tmp_path / "cache"
    result = iiic("prepare", data, "--out", cache, "--workers", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    hit = int(((offsets * 200 <= sample) & (sample < offsets * 200 + 10_000)).sum())
    assert hit >= 1 and "eeg_nonphysical" in result.stderr
    report = json.loads((cache / "cache_report.json").read_text())
    assert report["rows_dropped"]["eeg_nonphysical"] == hit
    assert report["counts"]["rows_kept"] == len(train) - hit
    assert report["counts"]["saturated_values"] == 0  # nothing clipped silently
    stored = np.load(cache / "eeg.npy").astype(np.float32)
    assert np.isfinite(stored).all() and np.abs(stored).max() < 1e5

    out = tmp_path / "submission.csv"
    result = iiic("predict", "--models", run, "--data", data, "--out", out, "--device", "cpu")
    assert result.exit_code == 3 and f"eeg_id {test_id}:" in result.stderr, result.output
    np.testing.assert_allclose(submission_ok(data, out).loc[test_id], prior_of(run), atol=1e-6)


# --- 3: windows without data ------------------------------------------------------------------
def test_an_all_nan_eeg_is_a_listed_fallback_and_excluded_from_training(
    data, run, tmp_path
) -> None:
    """Item 3: an all-NaN EEG was scored (and trained on) as a flat 0 µV recording."""
    test_id = int(pd.read_csv(data / "test.csv")["eeg_id"].iloc[0])
    path = data / "test_eegs" / f"{test_id}.parquet"
    rewrite_eeg(path, np.full_like(read_eeg(path).data, np.nan))
    train = pd.read_csv(data / "train.csv")
    train_id = int(train["eeg_id"].iloc[2])
    path = data / "train_eegs" / f"{train_id}.parquet"
    rewrite_eeg(path, np.full_like(read_eeg(path).data, np.nan))
    n_rows = int((train["eeg_id"] == train_id).sum())

    result = iiic("validate", data, "--workers", "1", "--no-progress")
    assert result.exit_code == 1
    assert result.stderr.count("no data") == n_rows + 1, result.stderr

    cache = tmp_path / "cache"
    result = iiic("prepare", data, "--out", cache, "--workers", "1", "--no-progress")
    assert result.exit_code == 0 and "eeg_no_data" in result.stderr, result.output
    rows = pd.read_parquet(cache / "rows.parquet")
    assert train_id not in set(rows["eeg_id"]) and len(rows) == len(train) - n_rows

    out = tmp_path / "submission.csv"
    result = iiic("predict", "--models", run, "--data", data, "--out", out, "--device", "cpu")
    assert result.exit_code == 3 and f"eeg_id {test_id}: " in result.stderr, result.output
    assert "no data" in result.stderr
    np.testing.assert_allclose(submission_ok(data, out).loc[test_id], prior_of(run), atol=1e-6)


# --- 4: duplicated test ids -------------------------------------------------------------------
def test_a_duplicated_test_id_is_predicted_once_and_named(data, run, tmp_path) -> None:
    """Item 4: a repeated eeg_id refused the whole run with 'np.int64(...)' and no file name."""
    test = pd.read_csv(data / "test.csv")
    pd.concat([test, test.iloc[[0]]]).to_csv(data / "test.csv", index=False)
    dup = int(test["eeg_id"].iloc[0])
    out = tmp_path / "submission.csv"
    result = iiic("predict", "--models", run, "--data", data, "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    warning = next(ln for ln in result.stderr.splitlines() if "more than once" in ln)
    assert str(data / "test.csv") in warning and f"[{dup}]" in warning and "np." not in warning
    assert len(submission_ok(data, out)) == len(test)
    result = iiic("validate", data, "--workers", "1", "--no-progress")
    assert result.exit_code == 0 and f"listed more than once, e.g. [{dup}]" in result.output

    from iiic.evaluate.submission import SubmissionError, validate_submission

    sub = pd.read_csv(out)
    with pytest.raises(SubmissionError, match=rf"e\.g\. \[{dup}\]"):
        validate_submission(pd.concat([sub, sub.iloc[[0]]]), test)


# --- 5: a failed train must not trap its --out ------------------------------------------------
def test_a_train_that_failed_before_its_first_epoch_can_be_rerun(data, tmp_path) -> None:
    """Item 5: a backbone weights file that does not fit left config.json behind; the rerun was
    refused ('pass --resume') and --resume reloaded the bad config."""
    spec2d = {**TINY, "model": "spec2d", "folds": [0], "stages": [{"epochs": 0, "lr": 1e-3}],
              "model_options": {"backbone": "tf_efficientnet_lite0", "in_chans": 3,
                                "use_eeg": True, "use_kaggle_spec": False,
                                "n_mels": 8, "fmax_hz": 9.0, "image_height": 32,
                                "image_width": 32}}  # fmt: skip
    config = tmp_path / "spec2d.yaml"
    config.write_text(yaml.safe_dump(spec2d))
    wrong = tmp_path / "wrong.safetensors"
    save_file({"head.weight": torch.zeros(3, 4)}, str(wrong))
    out = tmp_path / "run"
    args = ["train", "--config", config, "--data", data, "--out", out, "--device", "cpu", "--quiet"]
    assert "tensors of the backbone match" in error_line(iiic(*args, "--weights", wrong))
    assert (out / "config.json").is_file()  # left behind, as before
    result = iiic(*args)  # the same command without the bad file
    assert result.exit_code == 0, result.output
    assert (out / "fold_0" / "model.safetensors").is_file()
    assert read_config(out).model_options.get("weights") is None


# --- 6: tracebacks → one-line errors ----------------------------------------------------------
@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A 108-s synthetic EDF+ recording."""
    from iiic.synth.recording import write_recording

    path, _ = write_recording(tmp_path_factory.mktemp("recording") / "rec.edf", 0.03, seed=1)
    return path


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_corrupt_model_file_is_one_line_in_predict_export_and_analyze(
    data, run, recording, tmp_path, damage
) -> None:
    """Item 6: a corrupt or truncated model.safetensors gave tracebacks (predict/analyze/export);
    bytes flipped inside the tensors even loaded silently."""
    broken = Path(shutil.copytree(run, tmp_path / "run"))
    weights = broken / "fold_1" / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) - 100]
    else:  # bits flipped inside the tensor data: the header still parses
        raw[-40:-8] = bytes(b ^ 0xFF for b in raw[-40:-8])
    weights.write_bytes(bytes(raw))
    expected = "SHA-256" if damage == "flip" else "corrupt or truncated"
    line = error_line(iiic("predict", "--models", broken, "--data", data,
                           "--out", tmp_path / "s.csv", "--device", "cpu"))  # fmt: skip
    assert str(weights) in line and expected in line
    assert not (tmp_path / "s.csv").exists()
    line = error_line(iiic("export", broken, "--onnx"))
    assert str(weights) in line and expected in line
    line = error_line(iiic("analyze", recording, "--models", broken, "--out", tmp_path / "rep",
                           "--device", "cpu"))  # fmt: skip
    assert str(weights) in line and expected in line


def test_a_corrupt_onnx_file_is_one_line(data, run, tmp_path) -> None:
    """Item 6 (ONNX backend): onnxruntime's own exception types escaped as tracebacks."""
    exported = Path(shutil.copytree(run, tmp_path / "run"))
    assert iiic("export", exported, "--onnx").exit_code == 0
    onnx = exported / "fold_0" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:200])
    line = error_line(iiic("predict", "--models", exported, "--data", data, "--out",
                           tmp_path / "s.csv", "--backend", "onnx"))  # fmt: skip
    assert str(onnx) in line and "not a readable ONNX model" in line and "iiic export" in line


def test_a_corrupt_resume_state_is_one_line_with_the_way_out(data, tmp_path) -> None:
    """Item 6: a truncated state.safetensors gave a traceback on train --resume."""
    config = tmp_path / "tiny.yaml"
    tiny = {**TINY, "folds": [0], "stages": [{"epochs": 2, "lr": 1e-3}], "max_steps_per_epoch": 1}
    config.write_text(yaml.safe_dump(tiny))
    out = tmp_path / "run"
    args = ["train", "--data", data, "--out", out, "--device", "cpu", "--quiet"]
    result = iiic(*args, "--config", config, "--stop-after-epochs", "1")
    assert result.exit_code == 0 and "--resume" in result.output, result.output
    state = out / "fold_0" / "state" / "state.safetensors"
    state.write_bytes(state.read_bytes()[:-64])
    line = error_line(iiic(*args, "--resume"))
    assert str(state) in line and f"delete {state.parent}" in line
    shutil.rmtree(state.parent)  # the way out the message gives
    assert iiic(*args, "--resume").exit_code == 0


def test_unusable_output_paths_are_one_line_errors(data, run, recording, tmp_path) -> None:
    """Item 6: predict --out on a directory or under a file, analyze --out on a file."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for out, why in ((tmp_path, "is a directory"), (a_file / "sub.csv", "is a file")):
        line = error_line(iiic("predict", "--models", run, "--data", data, "--out", out))
        assert f"--out {out}" in line and why in line
    line = error_line(iiic("analyze", recording, "--models", run, "--out", a_file))
    assert f"--out {a_file}" in line and "is a file" in line
    line = error_line(iiic("prepare", data, "--out", a_file / "cache"))
    assert "is a file" in line


def test_a_second_prepare_of_the_same_out_is_refused_while_the_first_runs(data, tmp_path) -> None:
    """Item 6: two prepare runs into one --out ended in 'OSError: Directory not empty'."""
    import fcntl

    cache = tmp_path / "cache"
    with open(tmp_path / "cache.lock", "w") as held:  # what the first run holds while it works
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        line = error_line(iiic("prepare", data, "--out", cache, "--workers", "1"))
        assert "another run" in line and "cache.lock" in line
        assert not cache.exists() and not (tmp_path / "cache.partial").exists()
    result = iiic("prepare", data, "--out", cache, "--workers", "1", "--no-progress")
    assert result.exit_code == 0 and not (tmp_path / "cache.lock").exists()  # released: it runs


# --- 7: unfinished runs -----------------------------------------------------------------------
def test_an_unfinished_run_is_refused_unless_asked(data, run, tmp_path) -> None:
    """Item 7: a fold without its model was skipped silently, exit 0."""
    partial = Path(shutil.copytree(run, tmp_path / "run"))
    (partial / "fold_1" / "model.safetensors").unlink()
    out = tmp_path / "submission.csv"
    args = ["predict", "--models", partial, "--data", data, "--out", out, "--device", "cpu"]
    line = error_line(iiic(*args))
    assert "unfinished run: fold(s) [1]" in line and "--allow-partial" in line
    assert not out.exists()
    result = iiic(*args, "--allow-partial")
    assert result.exit_code == 0 and "fold(s) [0]" in result.stderr, result.output
    submission_ok(data, out)


# --- 8: workers die with their parent ---------------------------------------------------------
KILLER = """
import os, signal, sys
from pathlib import Path
from iiic.data.cache_build import build_cache

def kill_after_first_shard(result):
    me = os.getpid()
    kids = Path(f"/proc/{me}/task/{me}/children").read_text().split()
    Path(sys.argv[3]).write_text(" ".join(kids))
    os.kill(me, signal.SIGKILL)

build_cache(sys.argv[1], sys.argv[2], workers=2, shard_files=1, progress=False,
            on_shard=kill_after_first_shard)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_prepare_workers_die_with_a_killed_parent(data, tmp_path) -> None:
    """Item 8: after SIGKILL of prepare its workers kept running (seen >= 40 s)."""
    pids_file, log = tmp_path / "pids", tmp_path / "stderr.txt"
    with open(log, "w") as err:  # not a pipe: orphans holding it open must not block the wait
        proc = subprocess.run([sys.executable, "-c", KILLER, str(data), str(tmp_path / "cache"),
                               str(pids_file)], stdout=subprocess.DEVNULL, stderr=err, timeout=120)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, log.read_text()
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) >= 2  # the two workers (+ multiprocessing's resource tracker under spawn)
    deadline = time.monotonic() + 20  # a liveness bound, not a speed figure
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in pids if _alive(p)]
    for p in alive:  # do not leave orphans behind when the test fails
        os.kill(p, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their killed parent"


# --- 9: fold count ----------------------------------------------------------------------------
def test_presets_train_a_four_patient_twin_and_agree_with_prepare(data, tmp_path) -> None:
    """Item 9: every preset says n_folds: 5; a 4-patient twin could not be trained (no flag)."""
    cache = tmp_path / "cache"
    result = iiic("prepare", data, "--out", cache, "--workers", "1", "--no-progress")
    assert result.exit_code == 0 and "only 4 patients, so 4 folds" in result.stderr
    assert pd.read_parquet(cache / "rows.parquet")["fold"].nunique() == 4
    args = ["train", "--config", "eeg1d_cpu", "--data", cache, "--folds", "0", "--epochs", "0",
            "--device", "cpu", "--quiet"]  # fmt: skip
    result = iiic(*args, "--out", tmp_path / "a")
    assert result.exit_code == 0 and "only 4 patients, so 4 folds" in result.stderr, result.output
    assert read_config(tmp_path / "a").n_folds == 4  # as prepare: one fold per patient
    result = iiic(*args, "--out", tmp_path / "b", "--n-folds", "2")
    assert result.exit_code == 0, result.output
    assert read_config(tmp_path / "b").n_folds == 2


# --- 10: folds.csv ----------------------------------------------------------------------------
def test_folds_csv_is_part_of_the_finished_cache(data, tmp_path) -> None:
    """Item 10: folds.csv was written after the atomic rename: a kill there lost it for good
    (reruns said 'up to date'). It is now written before the rename and restored on reuse."""
    cache = tmp_path / "cache"
    assert iiic("prepare", data, "--out", cache, "--workers", "1", "--no-progress").exit_code == 0
    mtime = {name: (cache / name).stat().st_mtime_ns for name in ("folds.csv", "manifest.json")}
    assert mtime["folds.csv"] <= mtime["manifest.json"]  # the manifest (last file) comes after
    (cache / "folds.csv").unlink()  # a cache made by the old order, killed in that window
    result = iiic("prepare", data, "--out", cache, "--workers", "1", "--no-progress")
    assert result.exit_code == 0 and (cache / "folds.csv").is_file(), result.output
    folds = pd.read_csv(cache / "folds.csv")
    assert len(folds) == len(pd.read_parquet(cache / "rows.parquet"))


# --- 11: docs vs behaviour --------------------------------------------------------------------
def test_prepare_exits_2_on_bad_input(data, tmp_path) -> None:
    """Item 11: prepare exited 1 on bad input; the README promises 2."""
    pd.read_csv(data / "train.csv").drop(columns="patient_id").to_csv(
        data / "train.csv", index=False
    )
    line = error_line(iiic("prepare", data, "--out", tmp_path / "cache"))
    assert str(data / "train.csv") in line and "patient_id" in line


def test_extra_test_csv_columns_are_ignored_and_named(data, run, tmp_path) -> None:
    """Item 11: extra test.csv columns were accepted silently (the README said refused)."""
    test = pd.read_csv(data / "test.csv")
    test.insert(0, "Unnamed: 0", range(len(test)))
    test.to_csv(data / "test.csv", index=False)
    out = tmp_path / "submission.csv"
    result = iiic("predict", "--models", run, "--data", data, "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "['Unnamed: 0'] not used (ignored)" in result.stderr
    submission_ok(data, out)
    result = iiic("validate", data, "--workers", "1", "--no-progress")
    assert result.exit_code == 0 and "['Unnamed: 0'] not used" in result.output


def test_analyze_into_a_used_folder_keeps_no_pages_of_the_last_recording(
    run, recording, tmp_path
) -> None:
    """Item 11: re-running analyze into a used folder kept the previous recording's pages."""
    out = tmp_path / "report"
    args = ["analyze", recording, "--models", run, "--out", out, "--device", "cpu", "--fast"]
    assert iiic(*args, "--max-pages", "1").exit_code == 0
    assert list((out / "figures").glob("page_*.png"))
    assert iiic(*args, "--max-pages", "0").exit_code == 0
    assert not list((out / "figures").glob("page_*.png"))


# --- issue 26: model files, blend.json and the API ----------------------------------------------
def _other_run(run: Path, where: Path, seed: int) -> Path:
    """A copy of ``run`` whose folds hold other (seeded) weights."""
    other = Path(shutil.copytree(run, where))
    cfg = read_config(other)
    for k in range(cfg.n_folds):
        torch.manual_seed(seed + k)
        save_fold_model(other / f"fold_{k}", build_model(cfg), k, {})
    return other


def test_a_foreign_onnx_is_refused_or_exported_again(data, run, tmp_path) -> None:
    """Issue 26 item 5: another run's model.onnx copied into a run was trusted (the SHA-256
    covered the safetensors only): predict gave the other model's probabilities, exit 0."""
    mine = _other_run(run, tmp_path / "mine", seed=100)
    theirs = Path(shutil.copytree(run, tmp_path / "theirs"))
    assert iiic("export", theirs, "--onnx").exit_code == 0
    for f in ("model.onnx", "model.onnx.json"):  # the graph and its check file, copied over
        shutil.copy(theirs / "fold_0" / f, mine / "fold_0" / f)
    out = tmp_path / "s.csv"
    line = error_line(iiic("predict", "--models", mine, "--data", data, "--out", out,
                           "--backend", "onnx", "--device", "cpu"))  # fmt: skip
    assert str(mine / "fold_0" / "model.onnx") in line and "was not exported from" in line
    assert not out.exists()
    auto = iiic("predict", "--models", mine, "--data", data, "--out", out, "--device", "cpu")
    assert auto.exit_code == 0 and "exports the weights again" in auto.stderr, auto.output
    torch_out = tmp_path / "t.csv"
    assert iiic("predict", "--models", mine, "--data", data, "--out", torch_out, "--backend",
                "torch", "--device", "cpu").exit_code == 0  # fmt: skip
    np.testing.assert_allclose(pd.read_csv(out)[list(VOTE_COLUMNS)],
                               pd.read_csv(torch_out)[list(VOTE_COLUMNS)], atol=1e-4)  # fmt: skip
    assert iiic("export", mine, "--onnx").exit_code == 0  # its own graphs, checked
    (mine / "fold_1" / "model.onnx.json").unlink()  # a graph without its check file
    line = error_line(iiic("predict", "--models", mine, "--data", data, "--out", out,
                           "--backend", "onnx", "--device", "cpu"))  # fmt: skip
    assert "fold_1" in line and "model.onnx.json beside it" in line  # no check file: unchecked


def test_an_onnx_with_other_inputs_is_one_line(data, run, tmp_path) -> None:
    """Issue 26 item 6: an ONNX whose input is named 'x' gave a traceback (KeyError: 'x')."""
    import hashlib

    from iiic.runs.rundir import weights_digest

    other = Path(shutil.copytree(run, tmp_path / "run"))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(6))
    onnx = other / "fold_0" / "model.onnx"
    x = torch.zeros(1, 3, 7)
    model(x)
    torch.onnx.export(model, (x,), str(onnx), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}}, dynamo=False)  # fmt: skip
    check = {"onnx_sha256": hashlib.sha256(onnx.read_bytes()).hexdigest(),
             "weights_sha256": weights_digest(other / "fold_0")}  # fmt: skip
    (other / "fold_0" / "model.onnx.json").write_text(json.dumps(check))
    line = error_line(iiic("predict", "--models", other, "--data", data, "--out",
                           tmp_path / "s.csv", "--backend", "onnx", "--device", "cpu"))  # fmt: skip
    assert str(onnx) in line and "ONNX inputs x [" in line and "reads eeg (batch, " in line


@pytest.mark.parametrize("field", ["weight", "bias"])
@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_blend_json_with_a_non_finite_number_is_refused_naming_it(
    data, run, tmp_path, field, value
) -> None:
    """Issue 26 item 11: NaN/inf weights gave 'submission: 2 row(s) with NaN' (never naming
    blend.json); a NaN bias gave every row the class prior, blamed on the models (exit 3)."""
    from iiic.constants import CLASS_LABELS

    weight = value if field == "weight" else "1.0"
    bias = ", ".join(f'"{c}": {value if field == "bias" and c == "LPD" else 0.0}'
                     for c in CLASS_LABELS)  # fmt: skip
    blend = tmp_path / "blend.json"
    blend.write_text(
        f'{{"space": "log", "weights": {{"{run.name}": {weight}}}, "bias": {{{bias}}}}}'
    )
    line = error_line(iiic("predict", "--models", run, "--blend", blend, "--data", data,
                           "--out", tmp_path / "s.csv", "--device", "cpu"))  # fmt: skip
    name = f"weights.{run.name}" if field == "weight" else "bias.LPD"
    assert str(blend) in line and f"'{name}': expected a finite number" in line


def test_api_predict_windows_follows_the_cli_rules(run) -> None:
    """Issue 26 item 12: an all-NaN window got Other 0.95 without a warning (the CLI gives the
    class prior and lists it); complex, boolean and object arrays were accepted."""
    from iiic import api

    model = api.load_runs(run, device="cpu")
    rng = np.random.default_rng(0)
    x = rng.normal(scale=30.0, size=(3, len(EEG_CHANNELS), 10_000)).astype(np.float32)
    x[1] = np.nan  # no data
    x[2, 3, 100:300] = np.nan  # a NaN stretch: filled linearly, as read_eeg does
    filled = x[2].copy()
    filled[3, 100:300] = np.linspace(filled[3, 99], filled[3, 300], 202)[1:-1]
    with pytest.warns(UserWarning, match=r"eeg window 1: no data \(every electrode is NaN\)"):
        probs = api.predict_windows(model, x)
    np.testing.assert_allclose(probs[1], prior_of(run), atol=1e-9)
    np.testing.assert_allclose(probs[2], api.predict_windows(model, filled), atol=1e-6)
    for bad in (x[0].astype(np.complex64), x[0] > 0, x[0].astype(object)):
        with pytest.raises(
            ValueError, match=f"eeg: expected real numbers.*received dtype {bad.dtype}"
        ):
            api.predict_windows(model, bad)
