"""iiic.runs — trained run directories: what ``iiic train`` writes and inference reads.

:mod:`iiic.runs.rundir` owns the directory's format (file names, config.json as a
:class:`~iiic.runs.config.RunConfig`, class prior, fold checkpoints, OOF tables);
:mod:`iiic.runs.checked` the digest-checked safetensors files; :mod:`iiic.runs.device` the device
resolver. Training (:mod:`iiic.train`) and inference (:mod:`iiic.predict`, :mod:`iiic.ensemble`,
:mod:`iiic.clinical`, :mod:`iiic.api`) both import this layer; it imports neither.
"""
