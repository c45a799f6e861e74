"""Channel-name mapping: every naming style of clinical EDF files reaches the right electrode."""

from __future__ import annotations

import numpy as np
import pytest

from iiic.clinical.channels import (
    NEIGHBOURS,
    interpolation_matrix,
    map_channels,
    missing_electrodes,
    normalize_name,
    target_of,
)
from iiic.constants import EEG_CHANNELS, ELECTRODES


@pytest.mark.parametrize(
    ("label", "target"),
    [
        ("EEG FP1-REF", "Fp1"),
        ("Fp1.", "Fp1"),
        ("FP1-LE", "Fp1"),
        ("EEG Fp1", "Fp1"),
        ("fp1", "Fp1"),
        ("EEG FZ-REF", "Fz"),
        ("Cz..", "Cz"),
        ("O2-AVG", "O2"),
        ("EEG C3-A2", "C3"),
        ("T7..", "T3"),
        ("T8", "T4"),
        ("EEG P7-REF", "T5"),
        ("P8-LE", "T6"),
        ("EEG T3-REF", "T3"),
        ("EKG1", "EKG"),
        ("ECG", "EKG"),
        ("EKG", "EKG"),
        ("EEG EKG1-REF", "EKG"),
        ("ECG EKG", "EKG"),
    ],
)
def test_labels_map_to_their_electrode(label: str, target: str) -> None:
    found = target_of(label)
    assert found is not None, label
    assert found[0] == target


@pytest.mark.parametrize(
    "label", ["EEG A1-REF", "PHOTIC-REF", "IBI", "BURSTS", "Fpz.", "T9..", "FP1-F7", "EEG ROC-REF"]
)
def test_other_labels_do_not_map(label: str) -> None:
    assert target_of(label) is None


def test_normalize_keeps_bipolar_derivations_apart() -> None:
    assert normalize_name("EEG FP1-F7") == "FP1-F7"
    assert normalize_name("Fp1.") == "FP1"


def test_exact_1020_name_wins_over_1010_alias() -> None:
    names = ["T7", "T3", *[e for e in ELECTRODES if e != "T3"]]
    chosen, matches = map_channels(names)
    assert names[chosen["T3"]] == "T3"
    assert next(m for m in matches if m.target == "T3").how == "exact"


def test_ekg_preference_order() -> None:
    chosen, _ = map_channels(["ECG", "EKG1", "Fp1"])
    assert chosen["EKG"] == 1


def test_missing_electrodes_listed_in_order() -> None:
    chosen, _ = map_channels([e for e in ELECTRODES if e not in ("O1", "Fz")])
    assert missing_electrodes(chosen) == ["O1", "Fz"]


def test_interpolation_is_neighbour_mean() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((len(EEG_CHANNELS), 50))
    w = interpolation_matrix(["C3"])
    y = w @ x
    idx = [EEG_CHANNELS.index(n) for n in NEIGHBOURS["C3"]]
    np.testing.assert_allclose(y[EEG_CHANNELS.index("C3")], x[idx].mean(axis=0))
    others = [i for i, n in enumerate(EEG_CHANNELS) if n != "C3"]
    np.testing.assert_array_equal(y[others], x[others])


def test_interpolation_needs_a_present_neighbour() -> None:
    with pytest.raises(ValueError, match="all its neighbours"):
        interpolation_matrix(["F7", "Fp1", "F3", "T3"])


def test_neighbour_table_is_symmetric_and_complete() -> None:
    assert set(NEIGHBOURS) == set(ELECTRODES)
    for name, adjacent in NEIGHBOURS.items():
        for other in adjacent:
            assert name in NEIGHBOURS[other], (name, other)
