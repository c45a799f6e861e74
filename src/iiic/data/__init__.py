"""iiic.data — Kaggle-layout files → records → windows, labels, folds, validation, the cache.

- :mod:`~iiic.data.layout`: ``DataDir`` paths, ``read_train_csv`` / ``read_test_csv`` (schema-checked).
- :mod:`~iiic.data.readers` / :mod:`~iiic.data.writers`: EEG and spectrogram parquet files.
- :mod:`~iiic.data.windows`: a row's 50-s EEG window and 600-s spectrogram window.
- :mod:`~iiic.data.labels`: targets, quality bins, agreement categories, stationary periods.
- :mod:`~iiic.data.folds`: patient-grouped, consensus-stratified folds.
- :mod:`~iiic.data.validate`: ``iiic validate``; :mod:`~iiic.data.cache`: ``iiic prepare``.

Errors are :class:`~iiic.data.errors.DataError` (a ``ValueError``) whose message starts with the
file or row concerned. Sub-modules are imported on demand (``import iiic.data`` stays light).
"""
