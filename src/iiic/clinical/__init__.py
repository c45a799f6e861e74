"""Whole-recording analysis of clinical EEG files: EDF/BDF → timeline → figures → HTML report.

- :func:`iiic.clinical.edf.read_recording` — EDF/EDF+/BDF → :class:`~iiic.clinical.edf.Recording`
  (20 channels of ``constants.EEG_CHANNELS``, µV, 200 Hz; channel mapping, interpolation).
- :func:`iiic.clinical.timeline.analyze_recording` — sliding 50-s windows → per-window
  probabilities and quality flags (:class:`~iiic.clinical.timeline.Timeline`).
- :func:`iiic.clinical.summary.summarize` — time in each pattern, events, seizure burden.
- :func:`iiic.clinical.pipeline.analyze_file` — all of it + tables, figures and the HTML report
  (``iiic analyze``); :mod:`iiic.clinical.scoring` — the scorer an analysis is built around
  (:func:`~iiic.clinical.scoring.load_scorer`: models, blend, backend, exact or fast, prior).
"""
