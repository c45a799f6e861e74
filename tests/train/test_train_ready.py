"""Model-ready inputs per recording: slices of each preprocessed file (float16 bound), equal to the
per-window path away from the windows' ends, file ends, detection, kill/resume, augmentations."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from iiic.cli import app
from iiic.constants import EEG_WINDOW_SAMPLES
from iiic.data.cache import Cache
from iiic.data.errors import DataError
from iiic.signal.preprocess import PreprocessConfig, preprocess, preprocess_recording
from iiic.train.augment import AugmentConfig, OutputAugment, build_augment, raw_only_augmentations
from iiic.train.config import TrainConfig, load_config
from iiic.train.dataset import WindowDataset
from iiic.train.inputs import choose_inputs, window_augment
from iiic.train.ready import (
    FLOAT16_ABSOLUTE_ERROR,
    FLOAT16_RELATIVE_ERROR,
    build_ready,
    find_ready,
    ready_key,
)

CONFIGS = {
    "eeg1d_cpu": load_config("eeg1d_cpu").preprocess,
    "spec2d_cpu": load_config("spec2d_cpu").preprocess,
    "fft_ekg_200hz": PreprocessConfig(ekg=True, notch_hz=60.0, filter_method="fft"),
}


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    from iiic.synth.twin import generate_twin

    return generate_twin(tmp_path_factory.mktemp("ready_twin"), n_patients=4, seed=5,
                         max_eegs_per_patient=2, max_rows_per_eeg=5)  # fmt: skip


@pytest.fixture()
def cache_dir(twin: Path, tmp_path: Path) -> Path:
    """A fresh cache of the twin (built once per module, copied per test)."""
    from iiic.data.cache import build_cache

    built = twin.parent / "cache"
    if not built.exists():
        build_cache(twin, built, workers=1, progress=False)
    shutil.copytree(built, tmp_path / "cache")
    return tmp_path / "cache"


def _within_float16(got: np.ndarray, ref: np.ndarray, slack: float = 1e-6) -> None:
    bound = (
        FLOAT16_RELATIVE_ERROR * np.abs(ref) + FLOAT16_ABSOLUTE_ERROR + slack * np.abs(ref).max()
    )
    assert got.shape == ref.shape
    assert np.all(np.abs(got - ref) <= bound), float(np.abs(got - ref).max())


def _middle(x: np.ndarray) -> np.ndarray:
    """The central 30 s of 50-s windows (..., n_times): beyond the filters' edge effects."""
    return x[..., x.shape[-1] // 5 : 4 * x.shape[-1] // 5]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_model_ready_windows_are_slices_of_the_preprocessed_files(cache_dir: Path, name) -> None:
    cfg = CONFIGS[name]
    out = build_ready(cache_dir, cfg, workers=1, progress=False)
    cache = Cache.open(cache_dir)
    ready, why = find_ready(cache, cfg)
    assert ready is not None and why == "" and out == ready.root
    assert len(cache.rows) >= 10
    ds, n_t = cfg.downsample, cfg.n_times()
    files = {
        i: preprocess_recording(cache.eeg_record(i), cfg) for i in cache.rows["eeg_id"].unique()
    }
    for _, row in cache.rows.iterrows():  # every row: what WindowDataset now serves
        got = ready.window(int(row["eeg_start"]))
        first = round(row["eeg_label_offset_seconds"] * cache.sfreq_hz) // ds
        _within_float16(got, files[row["eeg_id"]][:, first : first + n_t])
        per_window = preprocess(cache.eeg(row["eeg_id"], row["eeg_label_offset_seconds"]), cfg)
        _within_float16(_middle(got), _middle(per_window), slack=2e-5)
    meta = json.loads((out / "ready.json").read_text())
    assert meta["n_chans"] == cfg.n_chans and meta["n_files"] == len(files)
    assert meta["n_samples"] == sum(f.shape[1] for f in files.values())
    assert meta["saturated"] == 0 and meta["channels"] == list(cfg.channel_names)
    assert meta["rows_off_grid"] == 0
    assert cache.manifest["ready"][ready_key(cfg)]["preprocess"] == cfg.model_dump(mode="json")


@pytest.mark.parametrize(("method", "edge_slack"), [("iir", 2e-5), ("fft", 2e-4)])
def test_windows_at_a_files_ends(cache_dir: Path, method: str, edge_slack: float) -> None:
    """A window at either end of a file is cut from the file preprocessed whole, whose ends the
    filters extend as preprocess extends any input's ends (a 50-s Kaggle test file is one such
    call: the same to 2e-5 of the window's largest value with the recursive filters, 2e-4 on the
    FFT, whose odd extension is the same but whose transform spans the whole input); a window
    reaching past a file's end, or between files, is refused."""
    cfg = CONFIGS["eeg1d_cpu"].model_copy(update={"filter_method": method})
    build_ready(cache_dir, cfg, workers=1, progress=False)
    cache = Cache.open(cache_dir)
    ready, _ = find_ready(cache, cfg)
    ds, n_t, n = cfg.downsample, cfg.n_times(), EEG_WINDOW_SAMPLES
    for eeg_id in cache.rows["eeg_id"].unique():
        start, n_raw = (int(v) for v in cache.eeg_index.loc[eeg_id, ["start", "n_samples"]])
        record = cache.eeg_record(eeg_id)
        whole = preprocess_recording(record, cfg)
        last = (n_raw - n) // ds * ds  # the last window on the grid
        _within_float16(ready.window(start), whole[:, :n_t])
        _within_float16(ready.window(start + last), whole[:, last // ds : last // ds + n_t])
        one_file = preprocess(record[:, :n], cfg)  # the file's first 50 s as its own file
        head = ready.window(start)[:, : n_t // 2]  # its start: the same end treatment
        _within_float16(head[:, : n_t // 5], one_file[:, : n_t // 5], slack=edge_slack)
        with pytest.raises(DataError, match="no preprocessed file holds"):
            ready.window(start + n_raw - n + 1)
    with pytest.raises(DataError, match="no preprocessed file holds"):
        ready.window(-1)


def test_changed_preprocessing_is_detected_and_named(cache_dir: Path, caplog) -> None:
    cfg = CONFIGS["eeg1d_cpu"]
    ready, why = find_ready(cache_dir, cfg)
    assert ready is None and "no model-ready inputs" in why
    build_ready(cache_dir, cfg, workers=1, progress=False)
    changed = cfg.model_copy(update={"downsample": 4})
    assert ready_key(changed) != ready_key(cfg)
    ready, why = find_ready(cache_dir, changed)
    assert ready is None and "other preprocessing" in why and "downsample 5 (this run: 4)" in why
    run = load_config("eeg1d_cpu", preprocess=changed.model_dump(), model_ready="require")
    with pytest.raises(ValueError, match=r"model_ready='require'.*downsample 5 \(this run: 4\)"):
        choose_inputs(Cache.open(cache_dir), run)
    with caplog.at_level(logging.WARNING, logger="iiic.train.inputs"):
        assert choose_inputs(Cache.open(cache_dir), run.model_copy(update={"model_ready": "auto"})) is None  # fmt: skip
    assert "other preprocessing" in caplog.text
    same = load_config("eeg1d_cpu", model_ready="require")
    assert choose_inputs(Cache.open(cache_dir), same) is not None
    off = same.model_copy(update={"model_ready": "off"})
    assert choose_inputs(Cache.open(cache_dir), off) is None


def test_augmentations_that_need_the_referential_signal_fall_back(cache_dir: Path) -> None:
    cfg = load_config("eeg1d_cpu")
    build_ready(cache_dir, cfg.preprocess, workers=1, progress=False)
    dropout = cfg.model_copy(update={"augment": AugmentConfig(p_channel_dropout=0.2)})
    assert raw_only_augmentations(dropout.augment) == ["p_channel_dropout"]
    assert choose_inputs(Cache.open(cache_dir), dropout) is None
    with pytest.raises(ValueError, match="p_channel_dropout"):
        choose_inputs(Cache.open(cache_dir), dropout.model_copy(update={"model_ready": "require"}))
    with pytest.raises(ValueError, match="referential"):
        OutputAugment(dropout.augment, cfg.preprocess)
    ready = choose_inputs(Cache.open(cache_dir), cfg)
    assert isinstance(window_augment(cfg.augment, ready), OutputAugment)
    assert not isinstance(window_augment(cfg.augment, None), OutputAugment)


def test_kill_and_resume_give_the_same_set(cache_dir: Path, tmp_path: Path) -> None:
    cfg = CONFIGS["spec2d_cpu"]
    other = tmp_path / "other"
    shutil.copytree(cache_dir, other)
    whole = build_ready(other, cfg, workers=1, progress=False, shard_files=3)

    def kill_after_one(result: dict) -> None:
        raise KeyboardInterrupt  # the process dies after its first shard is saved

    with pytest.raises(KeyboardInterrupt):
        build_ready(cache_dir, cfg, workers=1, progress=False, shard_files=3,
                    on_shard=kill_after_one)  # fmt: skip
    key = ready_key(cfg)
    partial = cache_dir / "ready" / f"{key}.partial"
    assert partial.is_dir() and not (cache_dir / "ready" / key).exists()
    assert find_ready(cache_dir, cfg)[0] is None  # an unfinished set is never read
    later: list[dict] = []
    out = build_ready(cache_dir, cfg, workers=1, progress=False, shard_files=3,
                      on_shard=later.append)  # fmt: skip
    n_shards = -(-json.loads((out / "ready.json").read_text())["n_files"] // 3)
    assert n_shards >= 2
    assert len(later) == n_shards - 1  # the saved shard was not redone
    assert not partial.exists() and not (out / "shards").exists()
    np.testing.assert_array_equal(np.load(out / "eeg.npy"), np.load(whole / "eeg.npy"))
    assert build_ready(cache_dir, cfg, workers=2, progress=False) == out  # up to date


def test_dataset_serves_ready_windows_with_flip_and_output_augment(cache_dir: Path) -> None:
    cfg = CONFIGS["eeg1d_cpu"]
    build_ready(cache_dir, cfg, workers=1, progress=False)
    cache = Cache.open(cache_dir)
    ready, _ = find_ready(cache, cfg)
    raw = WindowDataset(cache, cache.rows, preprocess=cfg, with_spec=True, p_flip=1.0)
    fast = WindowDataset(cache, cache.rows, preprocess=cfg, with_spec=True, p_flip=1.0,
                         ready=ready)  # fmt: skip
    for i in range(len(raw)):  # flipped on both paths: a channel permutation commutes
        a, b = raw[i], fast[i]
        _within_float16(_middle(b["eeg"].numpy()), _middle(a["eeg"].numpy()), slack=2e-5)
        np.testing.assert_array_equal(a["spec"].numpy(), b["spec"].numpy())
    scale = AugmentConfig(p_flip=0.0, p_amplitude_scale=1.0)  # linear: equal on both paths
    raw_aug = WindowDataset(cache, cache.rows, preprocess=cfg, with_spec=False,
                            augment=build_augment(scale), seed=3)  # fmt: skip
    ready_aug = WindowDataset(cache, cache.rows, preprocess=cfg, with_spec=False,
                              augment=OutputAugment(scale, cfg), seed=3, ready=ready)  # fmt: skip
    a, b = raw_aug[0]["eeg"].numpy(), ready_aug[0]["eeg"].numpy()
    assert not np.allclose(a, fast[0]["eeg"].numpy())  # the factor was applied
    np.testing.assert_allclose(_middle(b), _middle(a), rtol=1e-3, atol=1e-4 * np.abs(a).max())
    with pytest.raises(ValueError, match="another preprocessing"):
        WindowDataset(cache, cache.rows, preprocess=CONFIGS["spec2d_cpu"], with_spec=False,
                      ready=ready)  # fmt: skip


def test_preset_augmentations_act_on_the_sliced_windows(cache_dir: Path) -> None:
    """The preset's augmentations (flip, time shift; here also reversal and amplitude) act on
    the window sliced from its file, with the draws of (seed, epoch, row); the file stays as
    stored."""
    cfg = load_config("eeg1d_cpu")
    build_ready(cache_dir, cfg.preprocess, workers=1, progress=False)
    cache = Cache.open(cache_dir)
    ready, _ = find_ready(cache, cfg.preprocess)
    aug = cfg.augment.model_copy(update={"p_time_shift": 1.0, "p_time_reverse": 0.5,
                                         "p_amplitude_scale": 0.5})  # fmt: skip
    stored = np.load(ready.root / "eeg.npy").copy()
    ds = WindowDataset(cache, cache.rows, preprocess=cfg.preprocess, with_spec=False, seed=7,
                       augment=window_augment(aug, ready), p_flip=aug.p_flip, ready=ready)  # fmt: skip
    ds.set_epoch(2)
    output_aug = OutputAugment(aug.model_copy(update={"p_flip": 0.0}), cfg.preprocess)
    flip_perm = list(ds._ready_flip)
    changed = 0
    for i in range(len(ds)):
        pos = int(ds.indices[i])
        rng = np.random.default_rng([7, 2, pos])
        y = ready.window(int(cache.rows["eeg_start"].iloc[pos]))
        if rng.random() < aug.p_flip:
            y = y[flip_perm]
        want = output_aug(y, rng)
        got = ds[i]["eeg"].numpy()
        np.testing.assert_array_equal(got, want)
        changed += not np.array_equal(got, ready.window(int(cache.rows["eeg_start"].iloc[pos])))
    assert changed == len(ds)  # every window was shifted
    np.testing.assert_array_equal(np.load(ready.root / "eeg.npy"), stored)


def test_cli_prepare_preset_then_train_requires_the_ready_set(twin: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cache"
    config = tmp_path / "tiny.yaml"  # a one-fold, one-epoch eeg1d that trains in seconds
    config.write_text(json.dumps({
        "model": "eeg1d", "model_options": {"widths": [6, 8], "kernel_sizes": [3, 5], "gru_hidden": 4},
        "preprocess": {"downsample": 10, "bandpass_hz": [0.5, 9.0]},
        "augment": {"p_flip": 0.5, "p_time_shift": 0.5}, "n_folds": 2, "folds": [0],
        "batch_size": 4, "stages": [{"epochs": 1, "lr": 3e-3}], "val_min_rows": 2,
        "model_ready": "require",
    }))  # fmt: skip
    res = runner.invoke(app, ["prepare", str(twin), "--out", str(out), "--workers", "1",
                              "--no-progress", "--preset", str(config)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "model-ready inputs for" in res.output
    cfg = TrainConfig.model_validate(json.loads(config.read_text()))
    assert find_ready(out, cfg.preprocess)[0] is not None
    res = runner.invoke(app, ["train", "--data", str(out), "--config", str(config), "--out",
                              str(tmp_path / "run"), "--epochs", "1", "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "fold_0" / "model.safetensors").is_file()
    bad = runner.invoke(app, ["prepare", str(twin), "--out", str(out), "--preset", "nope"])
    assert bad.exit_code == 2 and "--preset" in bad.output


def test_a_cropping_preset_trains_per_window(cache_dir: Path) -> None:
    """morph10_cpu crops each window before filtering it (as a 10-s segment is filtered alone):
    per-recording inputs cannot give that, so it trains per window and building them is refused."""
    cfg = load_config("morph10_cpu")
    assert cfg.preprocess.crop_s == 10.0
    with pytest.raises(ValueError, match="cropped before"):
        build_ready(cache_dir, cfg.preprocess, workers=1, progress=False)
    assert choose_inputs(Cache.open(cache_dir), cfg) is None
    with pytest.raises(ValueError, match="crop_s=10"):
        choose_inputs(Cache.open(cache_dir), cfg.model_copy(update={"model_ready": "require"}))
