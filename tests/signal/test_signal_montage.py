"""Bipolar montage matrix, channel names and the left/right flip, checked against name lookups."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iiic import constants as C
from iiic.signal import montage

RNG = np.random.default_rng(0)
LEFT_CHAINS = ("LL", "LP")
RIGHT_CHAINS = ("RL", "RP")


def _ref(*names: str, n_times: int = 50) -> np.ndarray:
    """Referential data (20, n_times) with random signals on ``names`` only."""
    x = np.zeros((len(C.EEG_CHANNELS), n_times), dtype=np.float32)
    for name in names:
        x[C.EEG_CHANNELS.index(name)] = RNG.normal(0, 50, n_times)
    return x


def _chain_rows(chains: tuple[str, ...]) -> list[int]:
    names = montage.channel_names()
    return [names.index(f"{a}-{b}") for c in chains for a, b in C.CHAINS[c]]


def test_matrix_shapes_and_entries():
    assert montage.montage_matrix().shape == (16, 20)
    assert montage.montage_matrix(central=True).shape == (18, 20)
    m = montage.montage_matrix(central=True, ekg=True)
    assert m.shape == (19, 20) and m.dtype == np.float32
    assert set(np.unique(m)) == {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(m[:-1].sum(axis=1), 0.0)  # differences
    assert m[-1, C.EKG_INDEX] == 1.0 and m[-1].sum() == 1.0  # EKG passthrough


def test_channel_names_follow_pairs():
    names = montage.channel_names(central=True, ekg=True)
    assert names[:4] == ("Fp1-F7", "F7-T3", "T3-T5", "T5-O1")
    assert names[4] == "Fp2-F8" and names[8] == "Fp1-F3" and names[12] == "Fp2-F4"
    assert names[-3:] == ("Fz-Cz", "Cz-Pz", "EKG")


def test_bipolar_equals_differences_by_name():
    x = RNG.normal(0, 30, (3, 20, 40)).astype(np.float32)
    m = montage.montage_matrix(central=True, ekg=True)
    y = montage.bipolar(x, m)
    assert y.shape == (3, 19, 40) and y.dtype == np.float32
    for row, name in enumerate(montage.channel_names(central=True, ekg=True)):
        if name == "EKG":
            expected = x[:, C.EKG_INDEX]
        else:
            a, b = name.split("-")
            expected = x[:, C.EEG_CHANNELS.index(a)] - x[:, C.EEG_CHANNELS.index(b)]
        np.testing.assert_allclose(y[:, row], expected, rtol=1e-6, atol=1e-4)


def test_torch_and_numpy_montage_agree():
    x = RNG.normal(0, 30, (2, 20, 64)).astype(np.float32)
    m = montage.montage_matrix(central=True)
    y_np = montage.bipolar(x, m)
    y_t = montage.bipolar(torch.from_numpy(x), m)
    assert isinstance(y_t, torch.Tensor) and y_t.dtype == torch.float32
    np.testing.assert_allclose(y_t.numpy(), y_np, rtol=1e-6, atol=1e-4)
    y64 = montage.bipolar(torch.from_numpy(x).double(), m)
    assert y64.dtype == torch.float64


def test_left_only_signal_moves_to_right_chains_after_flip():
    x = _ref("Fp1", "F7", "T3", "C3", "O1")
    y = montage.bipolar(x)
    assert np.abs(y[_chain_rows(LEFT_CHAINS)]).max() > 1.0
    np.testing.assert_array_equal(y[_chain_rows(RIGHT_CHAINS)], 0.0)
    y_flip = montage.bipolar(montage.flip_hemispheres(x))
    np.testing.assert_array_equal(y_flip[_chain_rows(LEFT_CHAINS)], 0.0)
    np.testing.assert_array_equal(y_flip[_chain_rows(RIGHT_CHAINS)], y[_chain_rows(LEFT_CHAINS)])


def test_flip_keeps_midline_and_ekg_and_works_on_torch():
    x = RNG.normal(0, 1, (2, 20, 10)).astype(np.float32)
    flipped = montage.flip_hemispheres(x)
    for name in ("Fz", "Cz", "Pz", "EKG"):
        i = C.EEG_CHANNELS.index(name)
        np.testing.assert_array_equal(flipped[:, i], x[:, i])
    np.testing.assert_array_equal(flipped[:, C.EEG_CHANNELS.index("O2")], x[:, 7])  # O1 → O2
    np.testing.assert_array_equal(montage.flip_hemispheres(torch.from_numpy(x)).numpy(), flipped)


@pytest.mark.parametrize("central,ekg", [(False, False), (True, False), (True, True)])
def test_bipolar_flip_permutation_commutes_with_montage(central, ekg):
    names = montage.channel_names(central=central, ekg=ekg)
    perm = montage.bipolar_flip_permutation(names)
    assert [perm[p] for p in perm] == list(range(len(names)))  # an involution
    assert names[perm[names.index("Fp1-F7")]] == "Fp2-F8"
    assert names[perm[names.index("C3-P3")]] == "C4-P4"
    m = montage.montage_matrix(central=central, ekg=ekg)
    x = RNG.normal(0, 20, (4, 20, 30)).astype(np.float32)
    np.testing.assert_array_equal(
        montage.bipolar(montage.flip_hemispheres(x), m), montage.bipolar(x, m)[:, list(perm)]
    )


def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match="x: expected shape"):
        montage.bipolar(np.zeros((19, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="'Xx'"):
        montage.montage_matrix([("Fp1", "Xx")])
    with pytest.raises(ValueError, match="mirror 'Fp2-F8'"):
        montage.bipolar_flip_permutation(["Fp1-F7"])
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        montage.bipolar([[0.0] * 3] * 20)  # a list has no matmul path


def test_bipolar_by_index_equals_matrix_product():
    """The numpy path subtracts by index: bit-identical to the matrix product, any dtype."""
    x = RNG.normal(0, 300, (2, 20, 500)).astype(np.float32)
    for m in (montage.montage_matrix(central=True, ekg=True), montage.montage_matrix()):
        np.testing.assert_array_equal(montage.bipolar(x, m), np.matmul(m, x))
    weighted = montage.montage_matrix() * 0.5  # not a ±1 pair matrix: the matrix product
    np.testing.assert_allclose(montage.bipolar(x, weighted), np.matmul(weighted, x), rtol=1e-6)
    y16 = montage.bipolar(x.astype(np.float16), montage.montage_matrix())
    assert y16.dtype == np.float16
