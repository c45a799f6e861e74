"""Bipolar montages as a matrix over the 20 referential channels, and the left/right flip.

A bipolar channel "A-B" is the potential difference of electrodes A and B. With the 20 HMS
columns (``constants.EEG_CHANNELS``, µV against a common reference) every bipolar montage is a
fixed ``(n_out, 20)`` matrix of +1/-1 entries, so the montage of a batch is one matrix product
that works the same for numpy arrays and torch tensors (CPU or GPU).

The default montage is the "double banana" of ``constants.BIPOLAR_PAIRS`` (LL, RL, LP, RP, four
pairs each), optionally followed by the midline pairs ``constants.CENTRAL_PAIRS`` (Fz-Cz, Cz-Pz)
and the EKG channel passed through unchanged (named "EKG").
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from iiic import constants
from iiic.utils import bad_value

logger = logging.getLogger(__name__)

Pair = tuple[str, str]
ArrayT = TypeVar("ArrayT")

EKG_NAME = "EKG"
"""Name of the EKG passthrough row of a montage (it is not a difference)."""


def _pairs_with_options(
    pairs: Sequence[Pair], central: bool
) -> tuple[Pair, ...]:  # the pairs, + midline if asked
    out = tuple((str(a), str(b)) for a, b in pairs)
    if central:
        out += tuple(p for p in constants.CENTRAL_PAIRS if p not in out)
    return out


def _electrode_index(name: str, param: str) -> int:
    if name not in constants.EEG_CHANNELS:
        raise ValueError(
            f"{param}: electrode {name!r} is not one of the HMS channels "
            f"{', '.join(constants.EEG_CHANNELS)}"
        )
    return constants.EEG_CHANNELS.index(name)


def montage_matrix(
    pairs: Sequence[Pair] = constants.BIPOLAR_PAIRS, *, central: bool = False, ekg: bool = False
) -> np.ndarray:
    """The bipolar montage as a matrix over the referential channels.

    Parameters
    ----------
    pairs : sequence of (anode, cathode)
        Electrode names from ``constants.EEG_CHANNELS``; default the 16 double-banana pairs.
    central : bool
        Append ``constants.CENTRAL_PAIRS`` (Fz-Cz, Cz-Pz) when not already in ``pairs``.
    ekg : bool
        Append one row passing the EKG channel through unchanged.

    Returns
    -------
    ndarray, shape (n_out, 20), float32
        Row ``i`` has +1 at the anode and -1 at the cathode (the EKG row a single +1), so
        ``matrix @ x_ref`` gives the bipolar channels in µV.
    """
    all_pairs = _pairs_with_options(pairs, central)
    if not all_pairs and not ekg:
        raise ValueError(
            bad_value("pairs", "at least one pair for the montage (or ekg=True)", "none")
        )
    n_out = len(all_pairs) + int(ekg)
    matrix = np.zeros((n_out, len(constants.EEG_CHANNELS)), dtype=np.float32)
    for row, (anode, cathode) in enumerate(all_pairs):
        if anode == cathode:
            raise ValueError(f"pairs: pair {anode}-{cathode} subtracts an electrode from itself")
        matrix[row, _electrode_index(anode, "pairs")] += 1.0
        matrix[row, _electrode_index(cathode, "pairs")] -= 1.0
    if ekg:
        matrix[-1, constants.EKG_INDEX] = 1.0
    return matrix


def channel_names(
    pairs: Sequence[Pair] = constants.BIPOLAR_PAIRS, *, central: bool = False, ekg: bool = False
) -> tuple[str, ...]:
    """Names of the rows of :func:`montage_matrix` with the same arguments ('Fp1-F7', ..., 'EKG')."""
    names = tuple(f"{a}-{b}" for a, b in _pairs_with_options(pairs, central))
    return (*names, EKG_NAME) if ekg else names


def bipolar(x: ArrayT, matrix: np.ndarray | None = None) -> ArrayT:
    """Apply a montage matrix to referential EEG.

    Parameters
    ----------
    x : ndarray or torch.Tensor, shape (..., 20, n_times)
        Referential EEG in µV (channels in ``constants.EEG_CHANNELS`` order).
    matrix : ndarray, shape (n_out, 20), optional
        From :func:`montage_matrix`; default the 16 double-banana pairs.

    Returns
    -------
    same type as ``x``, shape (..., n_out, n_times)
        Bipolar EEG in µV (float32 for float32 input; a torch tensor stays on its device).
    """
    torch = sys.modules.get("torch")  # a tensor implies torch is loaded; numpy users need no torch
    if not isinstance(x, np.ndarray) and not (torch is not None and isinstance(x, torch.Tensor)):
        raise TypeError(bad_value("x", "a numpy array or a torch tensor", type(x).__name__))
    m = montage_matrix() if matrix is None else np.asarray(matrix, dtype=np.float32)
    n_ref = len(constants.EEG_CHANNELS)
    if x.ndim < 2 or x.shape[-2] != n_ref or m.ndim != 2 or m.shape[1] != n_ref:
        raise ValueError(
            bad_value(
                "x",
                f"shape (..., {n_ref}, n_times) and matrix (n_out, {n_ref})",
                f"x {tuple(x.shape)} and matrix {m.shape}",
            )
        )
    if isinstance(x, np.ndarray):
        pairs = _pair_rows(m)
        if pairs is None:
            return np.matmul(m.astype(x.dtype, copy=False), x)
        # differences by index: the same values as the matrix product, without BLAS threads
        # (a (19, 20) @ (20, 10000) product took 24 ms on average, not 0.3 ms, while other
        # processes kept both cores busy: OpenBLAS threads waiting for each other)
        y = np.empty((*x.shape[:-2], len(pairs), x.shape[-1]), dtype=x.dtype)
        for row, (anode, cathode) in enumerate(pairs):  # row by row: no fancy-index copies
            if cathode is None:
                y[..., row, :] = x[..., anode, :]
            else:
                np.subtract(x[..., anode, :], x[..., cathode, :], out=y[..., row, :])
        return y
    return torch.matmul(torch.as_tensor(m, dtype=x.dtype, device=x.device), x)


def _pair_rows(m: np.ndarray) -> tuple[tuple[int, int | None], ...] | None:
    """``((anode, cathode or None), ...)`` per row when every row of float32 ``m`` is one +1 and
    at most one -1 (bipolar pairs, EKG passthrough); None for any other matrix."""
    return _pair_rows_of(m.tobytes(), m.shape)  # cached: a preprocessed file is one call


@functools.lru_cache(maxsize=64)
def _pair_rows_of(blob: bytes, shape: tuple[int, int]) -> tuple[tuple[int, int | None], ...] | None:
    m = np.frombuffer(blob, dtype=np.float32).reshape(shape)
    pos, neg = m == 1.0, m == -1.0
    if not np.all(pos | neg | (m == 0.0)) or np.any(pos.sum(axis=1) != 1):
        return None
    if np.any(neg.sum(axis=1) > 1):
        return None
    return tuple((int(p.argmax()), int(n.argmax()) if n.any() else None)
                 for p, n in zip(pos, neg, strict=True))  # fmt: skip


def flip_hemispheres(x: ArrayT) -> ArrayT:
    """Mirror left and right electrodes of referential EEG (Fp1↔Fp2, F3↔F4, ..., O1↔O2).

    Parameters
    ----------
    x : ndarray or torch.Tensor, shape (..., 20, n_times)
        Referential EEG; midline electrodes and EKG stay in place.

    Returns
    -------
    same type as ``x``, shape (..., 20, n_times)
        A new array ``x[..., constants.FLIP_PERMUTATION, :]``.
    """
    n_ref = len(constants.EEG_CHANNELS)
    if x.ndim < 2 or x.shape[-2] != n_ref:
        raise ValueError(bad_value("x", f"shape (..., {n_ref}, n_times)", tuple(x.shape)))
    return x[..., list(constants.FLIP_PERMUTATION), :]


def _mirror_electrode(name: str) -> str:
    swap = {**constants.HEMISPHERE_SWAP, **{v: k for k, v in constants.HEMISPHERE_SWAP.items()}}
    return swap.get(name, name)


def bipolar_flip_permutation(names: Sequence[str]) -> tuple[int, ...]:
    """Index array over bipolar channel names that mirrors left and right (LL↔RL, LP↔RP).

    Parameters
    ----------
    names : sequence of str
        Bipolar channel names as from :func:`channel_names` ('Fp1-F7', 'Fz-Cz', 'EKG').

    Returns
    -------
    tuple of int
        ``perm`` such that ``x_bip[..., perm, :]`` equals the montage of the flipped referential
        EEG (midline pairs and EKG map to themselves).
    """
    names = list(names)
    perm = []
    for name in names:
        if name == EKG_NAME:
            mirrored = name
        else:
            parts = name.split("-")
            if len(parts) != 2:
                raise ValueError(f"names: {name!r} is not 'anode-cathode' or 'EKG'")
            mirrored = "-".join(_mirror_electrode(p) for p in parts)
        if mirrored not in names:
            raise ValueError(
                f"names: the mirror {mirrored!r} of channel {name!r} is not in the montage "
                f"({', '.join(names)}); the flip needs both hemispheres"
            )
        perm.append(names.index(mirrored))
    return tuple(perm)
