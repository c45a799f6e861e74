"""iiic.signal: windows → model inputs (montage, filters, the preprocessing path, spectrograms).

The numpy-only parts are re-exported here; import spectrograms (torch modules) from
``iiic.signal.spectrogram`` and Kaggle-style spectrograms from ``iiic.signal.kaggle_spec``.
"""

from iiic.signal.filters import bandpass, clip_scale, downsample, fill_nan, notch
from iiic.signal.montage import (
    bipolar,
    bipolar_flip_permutation,
    channel_names,
    flip_hemispheres,
    montage_matrix,
)
from iiic.signal.preprocess import PreprocessConfig, preprocess

__all__ = [
    "PreprocessConfig",
    "bandpass",
    "bipolar",
    "bipolar_flip_permutation",
    "channel_names",
    "clip_scale",
    "downsample",
    "fill_nan",
    "flip_hemispheres",
    "montage_matrix",
    "notch",
    "preprocess",
]
