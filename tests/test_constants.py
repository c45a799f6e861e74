"""The shared constants agree with the real Kaggle files and with themselves."""

from __future__ import annotations

import pyarrow.parquet as pq

from iiic import constants as C


def test_spectrogram_columns_match_real_file(shared_data):
    schema = pq.read_schema(shared_data / "hms-train-signals/train_spectrograms/353733.parquet")
    assert tuple(schema.names) == ("time", *C.SPEC_COLUMNS)


def test_eeg_columns_match_real_file(shared_data):
    schema = pq.read_schema(shared_data / "hms-train-signals/train_eegs/1628180742.parquet")
    assert tuple(schema.names) == C.EEG_CHANNELS


def test_spectrogram_grid():
    assert len(C.SPEC_FREQS_HZ) == 100
    assert C.SPEC_COLUMNS[0] == "LL_0.59" and C.SPEC_COLUMNS[-1] == "RP_19.92"
    assert C.SPEC_WINDOW_ROWS == 300 and C.EEG_WINDOW_SAMPLES == 10_000


def test_flip_is_an_involution_that_mirrors_hemispheres():
    perm = C.FLIP_PERMUTATION
    assert sorted(perm) == list(range(len(C.EEG_CHANNELS)))
    assert all(perm[perm[i]] == i for i in range(len(perm)))
    names = [C.EEG_CHANNELS[i] for i in perm]
    assert names[C.EEG_CHANNELS.index("Fp1")] == "Fp2"
    assert names[C.EEG_CHANNELS.index("T5")] == "T6"
    assert names[C.EEG_CHANNELS.index("Cz")] == "Cz"
    assert names[C.EKG_INDEX] == "EKG"


def test_montage_pairs_use_known_electrodes():
    assert len(C.BIPOLAR_PAIRS) == 16
    for anode, cathode in (*C.BIPOLAR_PAIRS, *C.CENTRAL_PAIRS):
        assert anode in C.ELECTRODES and cathode in C.ELECTRODES
    # each left chain mirrors its right chain pair by pair
    for left, right in (("LL", "RL"), ("LP", "RP")):
        mirrored = [(C.HEMISPHERE_SWAP[a], C.HEMISPHERE_SWAP[b]) for a, b in C.CHAINS[left]]
        assert mirrored == list(C.CHAINS[right])


def test_hms_class_prior_is_the_real_train_csv_mean_vote_distribution(shared_data):
    import numpy as np
    import pandas as pd

    from iiic.constants import HMS_CLASS_PRIOR, VOTE_COLUMNS

    train = pd.read_csv(shared_data / "hms-train-labels-reconstructed" / "train.csv.gz")
    votes = train[list(VOTE_COLUMNS)].to_numpy(float)
    assert len(train) == 106_519
    shares = (votes / votes.sum(axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(HMS_CLASS_PRIOR, shares, atol=5e-5)
    assert abs(sum(HMS_CLASS_PRIOR) - 1) < 1e-3
