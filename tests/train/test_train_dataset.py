"""WindowDataset over a real cache of a tiny twin: the sample contract, sampling, workers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from iiic.constants import FLIP_PERMUTATION, N_CLASSES
from iiic.signal.preprocess import PreprocessConfig, preprocess
from iiic.train.augment import AugmentConfig, build_augment
from iiic.train.dataset import WindowDataset

PP = PreprocessConfig(downsample=10, bandpass_hz=(0.5, 9.0))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    from iiic.synth.twin import generate_twin
    from iiic.train.kfold import open_data

    out = generate_twin(tmp_path_factory.mktemp("twin"), n_patients=4, seed=2, max_eegs_per_patient=2,
                        max_rows_per_eeg=4)  # fmt: skip
    return open_data(out)[0]


def _ds(cache, **kw) -> WindowDataset:
    return WindowDataset(
        cache, cache.rows, preprocess=PP, with_spec=kw.pop("with_spec", False), **kw
    )


def test_item_follows_the_sample_contract(cache) -> None:
    ds = _ds(cache, with_spec=True, vote_weighting="sqrt")
    item = ds[1]
    assert item["eeg"].shape == (PP.n_chans, PP.n_times()) and item["eeg"].dtype == torch.float32
    assert item["spec"].shape == (4, 100, 300) and item["spec"].dtype == torch.float32
    assert item["target"].shape == (N_CLASSES,)
    assert abs(float(item["target"].sum()) - 1) < 1e-6
    row = cache.rows.iloc[item["index"]]
    assert float(item["weight"]) == pytest.approx(np.sqrt(row["total_votes"]))
    expected = preprocess(cache.eeg(row["eeg_id"], row["eeg_label_offset_seconds"]), PP)
    np.testing.assert_array_equal(item["eeg"].numpy(), expected)


def test_eeg_sampling_serves_one_row_per_eeg_redrawn_per_epoch(cache) -> None:
    ds = _ds(cache, sampling="eeg", seed=3)
    n_eegs = cache.rows["eeg_id"].nunique()
    assert len(ds) == n_eegs
    draws = []
    for epoch in range(6):
        ds.set_epoch(epoch)
        eegs = cache.rows["eeg_id"].to_numpy()[ds.indices]
        assert sorted(eegs) == sorted(cache.rows["eeg_id"].unique())
        draws.append(ds.indices.copy())
    ds.set_epoch(2)
    np.testing.assert_array_equal(ds.indices, draws[2])  # deterministic per (seed, epoch)
    assert any((d != draws[0]).any() for d in draws[1:])  # but epochs differ
    assert len(_ds(cache, sampling="period")) == cache.rows["period_id"].nunique()
    assert len(_ds(cache, sampling="all")) == len(cache.rows)


def test_flip_augmentation_runs_on_the_referential_window(cache) -> None:
    flip = build_augment(AugmentConfig(p_flip=1.0))
    ds = _ds(cache, augment=flip)
    row = cache.rows.iloc[0]
    x = cache.eeg(row["eeg_id"], row["eeg_label_offset_seconds"])
    np.testing.assert_allclose(
        ds[0]["eeg"].numpy(), preprocess(x[list(FLIP_PERMUTATION)], PP), atol=1e-5
    )


def test_works_in_dataloader_workers_and_pickles_without_arrays(cache) -> None:
    ds = _ds(cache, sampling="eeg")
    ds.cache.eeg(int(cache.rows["eeg_id"].iloc[0]), 0.0)  # open the memory maps here
    assert len(pickle.dumps(ds)) < 1_000_000
    batches = list(DataLoader(ds, batch_size=4, num_workers=1))
    eeg = torch.cat([b["eeg"] for b in batches])
    assert eeg.shape == (len(ds), PP.n_chans, PP.n_times())
    np.testing.assert_array_equal(eeg[0].numpy(), ds[0]["eeg"].numpy())


def test_invalid_arguments_are_named(cache) -> None:
    with pytest.raises(ValueError, match="sampling: expected"):
        _ds(cache, sampling="patient")
    with pytest.raises(ValueError, match="vote_weighting: expected"):
        _ds(cache, vote_weighting="log")
    with pytest.raises(ValueError, match="rows: .*empty"):
        WindowDataset(cache, cache.rows.iloc[:0], preprocess=PP, with_spec=False)


def test_dataset_flip_mirrors_eeg_and_spectrogram_together(cache) -> None:
    from iiic.train.dataset import SPEC_FLIP_PERMUTATION

    assert SPEC_FLIP_PERMUTATION == (1, 0, 3, 2)  # LL<->RL, LP<->RP
    plain, flipped = _ds(cache, with_spec=True), _ds(cache, with_spec=True, p_flip=1.0)
    row = cache.rows.iloc[2]
    x = cache.eeg(row["eeg_id"], row["eeg_label_offset_seconds"])
    np.testing.assert_allclose(
        flipped[2]["eeg"].numpy(), preprocess(x[list(FLIP_PERMUTATION)], PP), atol=1e-5
    )
    np.testing.assert_array_equal(
        flipped[2]["spec"].numpy(), plain[2]["spec"].numpy()[[1, 0, 3, 2]]
    )
    half = _ds(cache, p_flip=0.5, seed=4)
    n_flipped = sum(not torch.equal(half[i]["eeg"], plain[i]["eeg"]) for i in range(len(half)))
    assert 0 < n_flipped < len(half)
