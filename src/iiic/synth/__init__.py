"""iiic.synth — the synthetic twin of the HMS dataset and synthetic long recordings.

``generate_twin(out_dir, n_patients=20, seed=0)`` writes the Kaggle layout + ``truth.parquet``
(see :mod:`iiic.synth.twin`); :mod:`iiic.synth.recording` writes long EDF+ recordings with known
pattern episodes.
"""

from iiic.synth.twin import TRUE_COLUMNS, TWIN_REVISION, generate_twin

__all__ = ["TRUE_COLUMNS", "TWIN_REVISION", "generate_twin"]
