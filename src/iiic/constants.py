"""Facts of the HMS / IIIC task that every stage shares: classes, channels, rates, windows, montage.

Nothing else in the package hard-codes 200 Hz, 50 s, the channel order or the class order.
"""

from __future__ import annotations

import math

# --- classes -------------------------------------------------------------------------------
CLASSES: tuple[str, ...] = ("seizure", "lpd", "gpd", "lrda", "grda", "other")
"""Class order everywhere (Kaggle's vote-column order)."""
CLASS_LABELS: tuple[str, ...] = ("Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other")
"""Display names; also the values of train.csv's ``expert_consensus``."""
VOTE_COLUMNS: tuple[str, ...] = tuple(f"{c}_vote" for c in CLASSES)
"""train.csv vote counts; in a submission the same names hold probabilities."""
PRED_COLUMNS: tuple[str, ...] = tuple(f"{c}_pred" for c in CLASSES)
"""Probability columns of an out-of-fold prediction table (next to the raw ``*_vote`` counts)."""
N_CLASSES = len(CLASSES)

# --- EEG -----------------------------------------------------------------------------------
SFREQ_HZ = 200.0
"""Sampling rate of every HMS EEG parquet file, Hz."""
ELECTRODES: tuple[str, ...] = (
    "Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1", "Fz", "Cz", "Pz",
    "Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2",
)  # fmt: skip
"""The 19 scalp electrodes of the 10-20 system, in HMS column order (10-20 names T3/T4/T5/T6)."""
EEG_CHANNELS: tuple[str, ...] = (*ELECTRODES, "EKG")
"""The 20 columns of an HMS EEG parquet file, in order (µV, float32)."""
EKG_INDEX = EEG_CHANNELS.index("EKG")

EEG_WINDOW_S = 50.0
"""Length of the EEG window of one train/test row, s."""
LABEL_WINDOW_S = 10.0
"""The central part of the EEG window that the experts labelled, s."""
EEG_WINDOW_SAMPLES = round(EEG_WINDOW_S * SFREQ_HZ)  # 10,000
NONPHYSICAL_UV = 1e6
"""Beyond ±1 V (or ±inf) a value is not a recording but a corrupt file: no scalp EEG amplifier
measures it (the real files here peak at 7 mV on the scalp, 45 mV on the EKG). Such windows are
refused (validate), excluded from training (prepare) and get the fallback (predict)."""

# --- Kaggle spectrograms -------------------------------------------------------------------
SPEC_WINDOW_S = 600.0
"""Length of the spectrogram window of one row, s."""
SPEC_STEP_S = 2.0
"""Time step between spectrogram rows, s (the 'time' column: 1, 3, 5, ...)."""
SPEC_WINDOW_ROWS = round(SPEC_WINDOW_S / SPEC_STEP_S)  # 300
SPEC_CHAINS: tuple[str, ...] = ("LL", "RL", "LP", "RP")
"""The four bipolar chains of a Kaggle spectrogram, in column order."""
SPEC_NFFT = 1024
"""The Kaggle frequency grid is bins 3..102 of a 1024-point FFT at 200 Hz (0.1953125 Hz steps)."""
SPEC_FREQS_HZ: tuple[float, ...] = tuple(k * SFREQ_HZ / SPEC_NFFT for k in range(3, 103))
"""The 100 frequencies of a Kaggle spectrogram, 0.586 .. 19.92 Hz."""


def _kaggle_label(f_hz: float) -> str:
    """Kaggle's column label of a frequency: rounded half-up to 2 decimals, no trailing zeros."""
    return f"{math.floor(f_hz * 100 + 0.5) / 100:g}"


SPEC_COLUMNS: tuple[str, ...] = tuple(
    f"{chain}_{_kaggle_label(f)}" for chain in SPEC_CHAINS for f in SPEC_FREQS_HZ
)
"""The 400 float32 columns after 'time' in a Kaggle spectrogram parquet (chain-major)."""

# --- montage -------------------------------------------------------------------------------
CHAINS: dict[str, tuple[tuple[str, str], ...]] = {
    "LL": (("Fp1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1")),
    "RL": (("Fp2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2")),
    "LP": (("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1")),
    "RP": (("Fp2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2")),
}
"""The bipolar 'double banana' montage: four chains of four pairs (anode, cathode)."""
CENTRAL_PAIRS: tuple[tuple[str, str], ...] = (("Fz", "Cz"), ("Cz", "Pz"))
"""Optional midline pairs."""
BIPOLAR_PAIRS: tuple[tuple[str, str], ...] = tuple(p for c in SPEC_CHAINS for p in CHAINS[c])
"""The 16 chain pairs in LL, RL, LP, RP order."""

HEMISPHERE_SWAP: dict[str, str] = {
    "Fp1": "Fp2", "F3": "F4", "C3": "C4", "P3": "P4", "F7": "F8", "T3": "T4", "T5": "T6", "O1": "O2",
}  # fmt: skip
"""Left electrode → its mirror on the right (midline electrodes and EKG map to themselves)."""
_MIRROR = {**HEMISPHERE_SWAP, **{v: k for k, v in HEMISPHERE_SWAP.items()}}
FLIP_PERMUTATION: tuple[int, ...] = tuple(
    EEG_CHANNELS.index(_MIRROR.get(name, name)) for name in EEG_CHANNELS
)
"""Index array over EEG_CHANNELS: ``x[..., FLIP_PERMUTATION, :]`` mirrors left and right."""

# --- vote quality --------------------------------------------------------------------------
HIGH_QUALITY_VOTES = 10
"""Rows with at least this many votes are 'high quality' (stage-2 training, validation)."""
QUALITY_BINS: tuple[tuple[str, int, int | None], ...] = (
    ("<3", 0, 3),
    ("3-9", 3, HIGH_QUALITY_VOTES),
    (">=10", HIGH_QUALITY_VOTES, None),
)
"""(name, lowest total votes, one past the highest or None): the vote-count bins of reports."""

# --- class prior of the real HMS windows ---------------------------------------------------
HMS_CLASS_PRIOR: tuple[float, ...] = (0.2083, 0.1317, 0.1287, 0.1391, 0.1796, 0.2125)
"""Mean vote distribution of the 106,519 rows of the real HMS train.csv (``CLASSES`` order,
sums to 1): the class prior of HMS-source windows, the windows Kaggle and the IIIC studies
label. A model trained on other windows (the synthetic twin: its sampled label mix) is shifted
to it by :mod:`iiic.predict.prior` (``--prior hms``). Recomputed from the real file by
tests/test_constants.py where it is present."""

# --- defaults of options shared by the CLI, iiic.api and batch analysis (declared once) -----
DEFAULT_BACKEND = "auto"
"""Inference engine: ONNX Runtime on the CPU, torch on CUDA (:data:`iiic.predict.predictor.BACKENDS`)."""
ANALYZE_STRIDE_S = 10.0
"""Distance between the starts of an analysis's 50-s windows, s (contiguous labelled centres)."""
ANALYZE_THRESHOLD = 0.5
"""Probability at which an analysis window counts for a pattern (minutes, events, pages)."""
ANALYZE_BATCH_SIZE = 64
"""Windows per model call of an analysis."""
ANALYZE_PRIOR = "monitoring"
"""Class prior of an analysis's probabilities (:mod:`iiic.predict.prior`)."""
PREDICT_BATCH_SIZE = 32
"""Windows per model call of ``iiic predict`` / ``score`` (:class:`iiic.predict.predictor.Predictor`)."""
