"""Spectrogram windows of Kaggle-layout rows: the Kaggle file, or computed from the EEG.

Spectrogram models (spec2d, multimodal) read a 600-s Kaggle spectrogram window per row. A row
whose Kaggle spectrogram cannot be used — no spectrogram folder (EEG-only data such as
``iiic-real-segments``), the file missing or unreadable, or its window running past the file —
gets the Kaggle-style spectrogram computed from its EEG instead, as ``iiic analyze`` does
(:func:`iiic.signal.kaggle_spec.kaggle_style_spectrogram`): the 600 s centred on the centre of the
row's 50-s EEG window, NaN where they run past the EEG file (a 50-s EEG fills the central 25 of
the 300 rows; the model input takes the chain's mean there). The reason is kept per row:
``iiic predict`` lists those rows on stderr, ``iiic score`` writes a ``spec_source`` column.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from iiic.constants import EEG_WINDOW_S
from iiic.data.errors import DataError
from iiic.data.readers import EEG, Spectrogram, read_spectrogram
from iiic.signal.kaggle_spec import kaggle_style_spectrogram, spectrogram_windows

SPEC_FILE = "kaggle"
"""``spec_source`` of a row that read its Kaggle spectrogram file."""
SPEC_FROM_EEG = "eeg"
"""``spec_source`` of a row whose spectrogram was computed from its EEG."""


class RowSpectrograms:
    """Spectrogram windows (300, 4, 100) of rows, with each file read (or computed) once.

    Parameters
    ----------
    spec_path : callable spectrogram_id → path of its Kaggle parquet file
    """

    def __init__(self, spec_path: Callable[[int], Path]) -> None:
        self._spec_path = spec_path
        self._files: dict[int, Spectrogram | DataError] = {}
        self._computed: dict[Path, tuple[np.ndarray, np.ndarray]] = {}

    def _kaggle(self, spectrogram_id: int) -> Spectrogram:
        if spectrogram_id not in self._files:
            try:
                self._files[spectrogram_id] = read_spectrogram(self._spec_path(spectrogram_id))
            except (DataError, OSError) as exc:
                self._files[spectrogram_id] = DataError(str(exc))
        found = self._files[spectrogram_id]
        if isinstance(found, DataError):
            raise found
        return found

    def from_eeg(self, eeg: EEG, eeg_offset_s: float) -> np.ndarray:
        """Kaggle-style window (300, 4, 100) computed from ``eeg``, centred on its 50-s window."""
        key = Path(eeg.source)
        if key not in self._computed:
            self._computed[key] = kaggle_style_spectrogram(eeg.data, eeg.sfreq_hz)
        times, spec = self._computed[key]
        return spectrogram_windows(times, spec, np.array([eeg_offset_s + EEG_WINDOW_S / 2]))[0]

    def window(self, spectrogram_id: int, cut: Callable[[Spectrogram], np.ndarray], eeg: EEG,
               eeg_offset_s: float) -> tuple[np.ndarray, str | None]:  # fmt: skip
        """(window, None) from the Kaggle file, or (window from the EEG, why the file was not used).

        ``cut(spectrogram) -> (300, 4, 100)`` cuts the row's window (raising DataError when it
        runs past the file); ``eeg_offset_s`` is the start of the row's EEG window, s.
        """
        try:
            return cut(self._kaggle(int(spectrogram_id))), None
        except DataError as exc:
            return self.from_eeg(eeg, eeg_offset_s), str(exc)
