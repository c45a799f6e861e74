"""Map the channel names of a clinical EDF onto the 19 electrodes + EKG of ``constants.EEG_CHANNELS``.

EDF files name the same electrode in many ways: ``'EEG FP1-REF'`` (TUH), ``'Fp1.'`` (PhysioNet),
``'FP1-LE'``, ``'EEG Fp1'``, the 10-10 names T7/T8/P7/P8 for T3/T4/T5/T6, and ``'EKG1'``,
``'ECG'``, ``'EKG'`` for the electrocardiogram. :func:`normalize_name` reduces a name to its
electrode; :func:`map_channels` picks one source channel per target.

Missing electrodes can be interpolated (:func:`interpolation_matrix`): the average of the present
10-20 neighbours listed in :data:`NEIGHBOURS` (equal weights). This is coarser than MNE's
spherical splines but needs no head model, works block by block on a 24-h file and is easy to
check; it is only offered for a few channels (``allow_missing``) and always reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from iiic.constants import EEG_CHANNELS, ELECTRODES

TEN_TEN_ALIASES: dict[str, str] = {"T7": "T3", "T8": "T4", "P7": "T5", "P8": "T6"}
"""10-10 name → the 10-20 name used by ``constants.ELECTRODES``."""

REFERENCE_SUFFIXES: tuple[str, ...] = (
    "REF", "LE", "RE", "AR", "AVG", "AV", "A1", "A2", "M1", "M2", "A1A2", "LINKED", "CAR",
)  # fmt: skip
"""Reference names that may follow a '-' in a referential channel name ('FP1-LE')."""

TYPE_PREFIXES: tuple[str, ...] = ("EEG", "ECG", "EKG", "POL")
"""Signal-type prefixes separated by a space ('EEG FP1-REF', 'POL Fp1')."""

EKG_NAMES: tuple[str, ...] = ("EKG", "EKG1", "ECG", "ECG1", "EKGL", "ECGL", "EKG2", "ECG2")
"""Normalised names accepted for the EKG channel, in order of preference."""

NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "Fp1": ("Fp2", "F7", "F3", "Fz"), "Fp2": ("Fp1", "F8", "F4", "Fz"),
    "F7": ("Fp1", "F3", "T3"), "F3": ("Fp1", "F7", "Fz", "C3"), "Fz": ("Fp1", "Fp2", "F3", "F4", "Cz"),
    "F4": ("Fp2", "F8", "Fz", "C4"), "F8": ("Fp2", "F4", "T4"),
    "T3": ("F7", "C3", "T5"), "C3": ("F3", "T3", "Cz", "P3"), "Cz": ("Fz", "C3", "C4", "Pz"),
    "C4": ("F4", "T4", "Cz", "P4"), "T4": ("F8", "C4", "T6"),
    "T5": ("T3", "P3", "O1"), "P3": ("C3", "T5", "Pz", "O1"), "Pz": ("Cz", "P3", "P4", "O1", "O2"),
    "P4": ("C4", "T6", "Pz", "O2"), "T6": ("T4", "P4", "O2"),
    "O1": ("T5", "P3", "Pz", "O2"), "O2": ("T6", "P4", "Pz", "O1"),
}  # fmt: skip
"""Adjacent electrodes of each 10-20 site (used to interpolate a missing electrode)."""

_UPPER_TARGETS = {name.upper(): name for name in ELECTRODES}


@dataclass(frozen=True)
class ChannelMatch:
    """How one target channel of ``EEG_CHANNELS`` was obtained.

    ``how`` is 'exact' (name equal up to case/prefix/suffix), 'alias' (10-10 name or EKG
    variant), 'interpolated' (from neighbours) or 'zeros' (EKG absent).
    """

    target: str
    source: str | None
    how: str


def normalize_name(name: str) -> str:
    """Reduce an EDF channel label to an upper-case electrode name.

    Examples: 'EEG FP1-REF' → 'FP1', 'Fp1.' → 'FP1', 'FP1-LE' → 'FP1', 'EEG Fp1' → 'FP1',
    'EEG EKG1-REF' → 'EKG1', 'ECG EKG' → 'EKG', 'T7..' → 'T7'.
    """
    text = name.strip().upper().replace(".", "").strip()
    parts = text.split()
    if len(parts) > 1 and parts[0] in TYPE_PREFIXES:
        text = "".join(parts[1:])
    text = text.replace(" ", "")
    if "-" in text:
        head, _, tail = text.partition("-")
        if tail in REFERENCE_SUFFIXES:
            text = head
    return text


def target_of(name: str) -> tuple[str, str] | None:
    """The target channel of an EDF label and how it matched, or None.

    Returns
    -------
    (target, how) : target in ``EEG_CHANNELS``; how is 'exact' or 'alias'.
    """
    norm = normalize_name(name)
    if norm in _UPPER_TARGETS:
        return _UPPER_TARGETS[norm], "exact"
    if norm in TEN_TEN_ALIASES:
        return TEN_TEN_ALIASES[norm], "alias"
    if norm in EKG_NAMES:
        return "EKG", "exact" if norm == "EKG" else "alias"
    return None


def map_channels(names: list[str]) -> tuple[dict[str, int], list[ChannelMatch]]:
    """Choose one source channel (index into ``names``) for each target channel.

    An exact 10-20 name wins over its 10-10 alias; for the EKG the order of ``EKG_NAMES`` decides;
    otherwise the first occurrence wins.

    Returns
    -------
    chosen : dict target → index in ``names`` (targets without a source are absent)
    matches : list of ChannelMatch, one per found target, in ``EEG_CHANNELS`` order
    """
    best: dict[str, tuple[int, int]] = {}  # target -> (rank, index)
    for index, name in enumerate(names):
        found = target_of(name)
        if found is None:
            continue
        target, how = found
        norm = normalize_name(name)
        rank = EKG_NAMES.index(norm) if target == "EKG" else (0 if how == "exact" else 1)
        if target not in best or rank < best[target][0]:
            best[target] = (rank, index)
    chosen = {target: index for target, (_, index) in best.items()}
    matches = [
        ChannelMatch(t, names[chosen[t]], target_of(names[chosen[t]])[1])  # type: ignore[index]
        for t in EEG_CHANNELS
        if t in chosen
    ]
    return chosen, matches


def interpolation_matrix(missing: list[str]) -> np.ndarray:
    """Matrix ``W`` (20, 20) such that ``W @ x`` fills the ``missing`` electrodes of ``x``.

    Rows of present channels are the identity; the row of a missing electrode averages its
    present :data:`NEIGHBOURS` with equal weights.

    Raises
    ------
    ValueError
        When a missing electrode has no present neighbour, or a name is not an electrode.
    """
    weights = np.eye(len(EEG_CHANNELS), dtype=np.float64)
    for name in missing:
        if name not in NEIGHBOURS:
            raise ValueError(f"missing: cannot interpolate {name!r}; allowed: {list(ELECTRODES)}")
        present = [n for n in NEIGHBOURS[name] if n not in missing]
        if not present:
            raise ValueError(
                f"cannot interpolate {name}: all its neighbours {NEIGHBOURS[name]} are missing"
            )
        row = EEG_CHANNELS.index(name)
        weights[row] = 0.0
        for n in present:
            weights[row, EEG_CHANNELS.index(n)] = 1.0 / len(present)
    return weights


def missing_electrodes(chosen: dict[str, int]) -> list[str]:
    """The electrodes (not EKG) absent from ``chosen``, in ``ELECTRODES`` order."""
    return [name for name in ELECTRODES if name not in chosen]


_BIPOLAR_RE = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+$")


def looks_bipolar(names: list[str]) -> bool:
    """True when most labels look like bipolar derivations ('FP1-F7'), not referential."""
    norms = [normalize_name(n) for n in names]
    bipolar = [n for n in norms if _BIPOLAR_RE.match(n) and target_of(n) is None]
    return len(bipolar) > len(names) // 2
