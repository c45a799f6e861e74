"""``Predictor``: referential EEG windows (+ Kaggle spectrograms) → class probabilities.

For each run: preprocess the window with that run's ``PreprocessConfig`` (the single
preprocessing path, :func:`iiic.signal.preprocess.preprocess`), run every fold model
(:meth:`Predictor.fold_logits`), softmax, average the folds (:meth:`Predictor.run_probs`; and the
left/right-flipped copy when ``tta_flip``). Runs are then combined (:meth:`Predictor.combine`):

- with a blend (weights + class bias, :mod:`iiic.ensemble.blend`): in log space,
  ``softmax(Σ w_m log p_m + bias)`` — the formula the blend was fitted with;
- otherwise: the weighted arithmetic mean of the runs' probabilities (equal weights by default).

``iiic analyze`` (:class:`iiic.clinical.scoring.RecordingScorer`) preprocesses a whole recording
itself and calls the same two steps with this predictor's models or ONNX Runtime sessions.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.special import softmax
from tqdm.auto import tqdm

from iiic.constants import (
    DEFAULT_BACKEND,
    EEG_CHANNELS,
    EEG_WINDOW_SAMPLES,
    FLIP_PERMUTATION,
    N_CLASSES,
    PREDICT_BATCH_SIZE,
    SPEC_CHAINS,
)
from iiic.ensemble.blend import blend_probabilities, load_blend
from iiic.predict.prior import shift_prior
from iiic.predict.runs import Run, load_run
from iiic.runs.device import resolve_device
from iiic.runs.rundir import MODEL_FILE, ONNX_FILE
from iiic.signal.preprocess import preprocess
from iiic.signal.spectrogram import kaggle_spec_features
from iiic.utils import bad_value, check_option

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")
"""auto: ONNX Runtime on the CPU (each fold's up-to-date model.onnx, or the graph exported in
memory when there is none; torch if a model cannot be exported), torch on CUDA."""
DEFAULT_BATCH_SIZE = PREDICT_BATCH_SIZE
"""Windows per forward pass."""
_MIRROR_CHAIN = {"LL": "RL", "RL": "LL", "LP": "RP", "RP": "LP"}
SPEC_FLIP: tuple[int, ...] = tuple(SPEC_CHAINS.index(_MIRROR_CHAIN[c]) for c in SPEC_CHAINS)
"""Chain permutation of a Kaggle spectrogram that mirrors left and right (LL↔RL, LP↔RP)."""


def _resolve_weights(runs: list[Run], weights) -> np.ndarray:
    """Weights per run from None (equal), a sequence, or a mapping run name → weight."""
    if weights is None:
        return np.full(len(runs), 1.0 / len(runs))
    if isinstance(weights, Mapping):
        missing = [r.name for r in runs if r.name not in weights]
        if missing:
            raise ValueError(
                f"weights: no weight for runs {missing}; the blend knows {sorted(weights)}"
            )
        weights = [weights[r.name] for r in runs]
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2:  # the blend net's per-class weights, used as they are
        if w.shape != (len(runs), N_CLASSES) or not np.isfinite(w).all():
            raise ValueError(
                bad_value(
                    "weights",
                    f"{len(runs)} finite per-class rows of {N_CLASSES}",
                    f"shape {w.shape}",
                )
            )
        return w
    if w.shape != (len(runs),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(
            bad_value("weights", f"{len(runs)} non-negative numbers with a positive sum", weights)
        )
    return w / w.sum()


class Predictor:
    """Averages folds and runs; see the module docstring for how.

    Use :meth:`from_runs`; :meth:`predict` maps (n, 20, 10000) µV windows to (n, 6) probabilities.
    """

    def __init__(self, runs: list[Run], *, backend: str = DEFAULT_BACKEND, device: str = "auto",
                 tta_flip: bool = False, weights=None, bias: np.ndarray | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, onnx_threads: int | None = None) -> None:  # fmt: skip
        check_option("backend", backend, BACKENDS)
        if batch_size < 1:
            raise ValueError(bad_value("batch_size", ">= 1", batch_size))
        self.runs, self.tta_flip = runs, tta_flip
        self.device = resolve_device(device)
        self.weights = _resolve_weights(runs, weights)
        self.bias = None if bias is None else np.asarray(bias, dtype=np.float64)
        if self.weights.ndim == 2 and self.bias is None:  # per-class weights act in log space
            self.bias = np.zeros(N_CLASSES)
        self.batch_size = batch_size
        self.card: dict | None = None
        """The model's card (:mod:`iiic.predict.card`; set by :meth:`from_runs`), None without."""
        self.prior_name: str | None = None
        self.target_prior: np.ndarray | None = None
        """Expected class prior (6,) of the data (:meth:`with_prior`); None: the training prior."""
        self.sessions = []
        """ONNX Runtime sessions, one list of folds per run (backend "onnx"; else empty)."""
        if backend == "auto":
            self.sessions = _auto_sessions(runs, self.device, onnx_threads)
            backend = "onnx" if self.sessions else "torch"
        elif backend == "onnx":
            from iiic.predict.onnx import OnnxFold

            self.sessions = [[OnnxFold(d / ONNX_FILE, self.device, onnx_threads,
                                       inputs=_onnx_inputs(r)) for d in r.fold_dirs]
                             for r in runs]  # fmt: skip
        self.backend = backend
        if backend == "torch":
            for run in runs:
                for m in run.models:
                    m.to(self.device).eval()

    @classmethod
    def from_runs(cls, run_dirs: Sequence[str | Path], *, backend: str = DEFAULT_BACKEND,
                  device: str = "auto", tta_flip: bool = False, weights=None,
                  bias: np.ndarray | None = None, blend: str | Path | None = None,
                  batch_size: int = DEFAULT_BATCH_SIZE, onnx_threads: int | None = None,
                  allow_partial: bool = False) -> Predictor:  # fmt: skip
        """Load run directories.

        Parameters
        ----------
        run_dirs : paths
            Run directories (config.json + fold_k/ + class_prior.json).
        backend : "auto", "torch" or "onnx"
            onnx runs ``fold_k/model.onnx`` (``iiic export --onnx``) with onnxruntime; auto
            runs onnxruntime on the CPU (exporting in memory when there is no up-to-date
            model.onnx) and torch on CUDA (see ``BACKENDS``).
        device : "auto", "cpu", "cuda" or "cuda:N"
            See :func:`iiic.runs.device.resolve_device`.
        tta_flip : bool
            Also predict the left/right mirrored window and average.
        weights : None, sequence or mapping run name → weight
            Run weights (blend.json's ``weights``); equal when None.
        bias : ndarray (6,), optional
            Class bias of a blend; when given, runs are combined in log space.
        blend : path, optional
            blend.json of ``iiic blend``: its weights and bias (instead of ``weights``/``bias``).
        batch_size : int
            Windows per model call.
        onnx_threads : int, optional
            Intra-op threads of each ONNX Runtime session (None: ONNX Runtime's default).
        allow_partial : bool
            Accept unfinished runs (folds of their config without a model): predict from the
            finished folds (logged) instead of refusing.
        """
        if not run_dirs:
            raise ValueError("run_dirs: give at least one run directory")
        if blend is not None:
            if weights is not None or bias is not None:
                raise ValueError("blend: give a blend.json or weights/bias, not both")
            weights, bias = load_blend(blend)
        from iiic.predict.card import card_dir, read_card

        runs = [load_run(d, with_torch=backend != "onnx", allow_partial=allow_partial)
                for d in run_dirs]  # fmt: skip
        predictor = cls(runs, backend=backend, device=device, tta_flip=tta_flip, weights=weights,
                        bias=bias, batch_size=batch_size, onnx_threads=onnx_threads)  # fmt: skip
        predictor.card = read_card(card_dir(list(run_dirs), blend))
        return predictor

    def only_run(self, i: int) -> Predictor:
        """A Predictor of run ``i`` alone (no blend), sharing this one's models and sessions."""
        single = copy.copy(self)
        single.runs, single.weights, single.bias = [self.runs[i]], np.ones(1), None
        single.sessions = self.sessions[i : i + 1]
        return single

    def reading(self, n_samples: int) -> Predictor | None:
        """This predictor if it reads windows of ``n_samples`` (200 Hz); else a Predictor of the
        runs that do (their weights renormalised, in linear space: a blend's bias was fit on all
        runs and is dropped), or None when no run reads them."""
        if n_samples in self.window_samples:
            return self
        keep = [i for i, r in enumerate(self.runs)
                if not r.needs_spec and r.preprocess.crop_samples == n_samples]  # fmt: skip
        if not keep:
            return None
        sub = copy.copy(self)
        w = self.weights if self.weights.ndim == 1 else np.abs(self.weights).mean(axis=1)
        sub.runs, sub.bias = [self.runs[i] for i in keep], None
        sub.weights = w[keep] / w[keep].sum()
        sub.sessions = [self.sessions[i] for i in keep] if self.sessions else []
        return sub

    @property
    def needs_eeg(self) -> bool:
        return any(r.needs_eeg for r in self.runs)

    @property
    def needs_spec(self) -> bool:
        return any(r.needs_spec for r in self.runs)

    @property
    def window_samples(self) -> tuple[int, ...]:
        """Window lengths (samples at 200 Hz) :meth:`predict` accepts: 50 s, and the runs' common
        crop (e.g. 2,000 for 10-s IIIC segments) when every run reads a central crop of it."""
        crops = {r.preprocess.crop_samples for r in self.runs}
        short = crops.pop() if len(crops) == 1 and not self.needs_spec else EEG_WINDOW_SAMPLES
        return tuple(sorted({EEG_WINDOW_SAMPLES, short}))

    def preprocessing(self) -> dict[str, str]:
        """ "preprocessing (run name)" → what the run's preprocessing applies
        (``PreprocessConfig.describe()``), one entry per run: the reports' Preprocessing lines."""
        return {f"preprocessing ({r.name})": r.preprocess.describe() for r in self.runs}

    @property
    def class_prior(self) -> np.ndarray:
        """Fallback prediction (6,): the runs' training class priors, weighted like the runs."""
        w = self.weights if self.weights.ndim == 1 else np.abs(self.weights).mean(axis=1)
        prior = np.tensordot(w, np.stack([r.prior for r in self.runs]), axes=1)
        return prior / prior.sum()

    def with_prior(self, spec: str | Path) -> Predictor:
        """This predictor with its probabilities shifted to the class prior ``spec`` (``training``:
        as trained, ``hms``, ``monitoring`` or a JSON file; :mod:`iiic.predict.prior`), sharing
        its models."""
        from iiic.predict.prior import resolve_prior

        shifted = copy.copy(self)
        shifted.target_prior = resolve_prior(spec)
        shifted.prior_name = str(spec)
        return shifted

    def report_info(self) -> dict[str, str]:
        """What the reports say about the model: its card's headline (:mod:`iiic.predict.card`),
        the class prior its probabilities are for, each run's preprocessing."""
        from iiic.predict.card import headline

        prior = "training (as trained)" if self.target_prior is None else (
            f"{self.prior_name}: " + " ".join(f"{v:.3f}" for v in self.target_prior)
            + " (Saerens et al. 2002 shift from the training prior)")  # fmt: skip
        return {"model": headline(self.card), "class prior": prior, **self.preprocessing()}

    def fold_logits(self, run_i: int, eeg: np.ndarray | None, feats: np.ndarray | None):
        """Logits (n_folds, B, 6) of every fold of run ``run_i`` (its torch models or sessions).

        ``eeg``: model input (B, n_chans, n_times) float32, preprocessed with the run's config;
        ``feats``: Kaggle spectrogram features (B, 4, 100, 300); None where the run reads none.
        """
        if self.backend == "onnx":
            return np.stack([s.logits(eeg, feats) for s in self.sessions[run_i]])
        t_eeg = None if eeg is None else torch.from_numpy(eeg).to(self.device)
        t_feats = None if feats is None else torch.from_numpy(feats).to(self.device)
        with torch.inference_mode():
            out = [m(t_eeg, t_feats).float().cpu().numpy() for m in self.runs[run_i].models]
        return np.stack(out)

    def run_probs(self, run_i: int, eeg: np.ndarray | None, feats: np.ndarray | None):
        """Fold-averaged probabilities (B, 6) of run ``run_i`` (inputs as :meth:`fold_logits`)."""
        return softmax(self.fold_logits(run_i, eeg, feats), axis=-1).mean(axis=0)

    def combine(self, per_run: np.ndarray) -> np.ndarray:
        """Runs' probabilities (n_runs, B, 6) → (B, 6): the blend, or the weighted mean; then
        shifted to :attr:`target_prior` when one is set."""
        if self.bias is not None:
            out = blend_probabilities(per_run, self.weights, self.bias)
        else:
            out = np.tensordot(self.weights, per_run, axes=1)
        if self.target_prior is not None:
            return shift_prior(out, self.class_prior, self.target_prior)
        return out / out.sum(axis=1, keepdims=True)

    def _view_probs(self, run_i: int, eeg_ref: np.ndarray, spec: np.ndarray | None) -> np.ndarray:
        """:meth:`run_probs` of referential windows (B, 20, 10000) µV (one TTA view)."""
        run = self.runs[run_i]
        eeg = preprocess(eeg_ref, run.preprocess) if run.needs_eeg else None
        feats = kaggle_spec_features(spec) if run.needs_spec else None
        return self.run_probs(run_i, eeg, feats)

    def _batch(self, eeg_ref: np.ndarray, spec: np.ndarray | None) -> np.ndarray:
        views = [(eeg_ref, spec)]
        if self.tta_flip:
            flipped_spec = None if spec is None else spec[:, :, list(SPEC_FLIP), :]
            views.append((eeg_ref[:, list(FLIP_PERMUTATION), :], flipped_spec))
        per_run = [np.mean([self._view_probs(i, e, s) for e, s in views], axis=0)
                   for i in range(len(self.runs))]  # fmt: skip
        return self.combine(np.stack(per_run))  # (n_runs, B, 6) → (B, 6)

    def _check(self, eeg_ref: np.ndarray, spec: np.ndarray | None) -> None:
        n_ch, lengths = len(EEG_CHANNELS), self.window_samples
        if eeg_ref.ndim != 3 or eeg_ref.shape[1] != n_ch or eeg_ref.shape[2] not in lengths:
            raise ValueError(
                bad_value(
                    "eeg_ref",
                    f"shape (n, {n_ch}, {' or '.join(map(str, lengths))}) µV",
                    eeg_ref.shape,
                )
            )
        if self.needs_spec and (spec is None or spec.ndim != 4 or len(spec) != len(eeg_ref)):
            got = None if spec is None else spec.shape
            raise ValueError(
                bad_value(
                    "spec",
                    f"shape ({len(eeg_ref)}, 300, 4, 100) (a model reads Kaggle spectrograms)",
                    got,
                )
            )

    def predict(self, eeg_ref: np.ndarray, spec: np.ndarray | None = None, *,
                progress: bool = False) -> np.ndarray:  # fmt: skip
        """Class probabilities of EEG windows.

        Parameters
        ----------
        eeg_ref : ndarray, shape (n, 20, 10000)
            Referential EEG, µV, channels ``constants.EEG_CHANNELS``, 50 s at 200 Hz (or the
            runs' common crop, e.g. 10 s, when every run reads one: :attr:`window_samples`).
        spec : ndarray, shape (n, 300, 4, 100), optional
            Kaggle spectrogram windows (needed when a model reads them).
        progress : bool
            Show a progress bar over batches.

        Returns
        -------
        ndarray, shape (n, 6), float64
            Probabilities in ``constants.CLASSES`` order; rows sum to 1.
        """
        eeg_ref = np.asarray(eeg_ref, dtype=np.float32)
        spec = None if spec is None else np.asarray(spec, dtype=np.float32)
        self._check(eeg_ref, spec)
        out = np.empty((len(eeg_ref), N_CLASSES))
        starts = range(0, len(eeg_ref), self.batch_size)
        for s in tqdm(starts, desc="predict", unit="batch", disable=not progress):
            sl = slice(s, s + self.batch_size)
            out[sl] = self._batch(eeg_ref[sl], None if spec is None else spec[sl])
        return out


def _auto_sessions(runs: list[Run], device: torch.device, n_threads: int | None) -> list:
    """ONNX Runtime sessions of every fold for backend "auto" on the CPU: each fold's model.onnx
    when it is newer than its weights, else the model exported in memory; [] (use torch) when a
    model cannot be exported or the device is CUDA."""
    if device.type != "cpu":
        return []
    from iiic.predict.onnx import ExportError, OnnxFold, export_bytes

    sessions = []
    for run in runs:
        folds = []
        for fold_dir, model in zip(run.fold_dirs, run.models, strict=True):
            onnx_file, weights = fold_dir / ONNX_FILE, fold_dir / MODEL_FILE
            fresh = onnx_file.is_file() and onnx_file.stat().st_mtime >= weights.stat().st_mtime
            if fresh:
                try:
                    folds.append(OnnxFold(onnx_file, device, n_threads, inputs=_onnx_inputs(run)))
                    continue
                except ValueError as exc:  # never a graph that fails its checks: export anew
                    logger.warning("%s; backend auto exports the weights again instead", exc)
            try:
                graph = export_bytes(model, n_chans=run.preprocess.n_chans,
                                     n_times=run.preprocess.n_times(), label=str(fold_dir))  # fmt: skip
            except ExportError as exc:
                logger.info("backend auto: torch (%s)", exc)
                return []
            folds.append(OnnxFold(graph, device, n_threads, inputs=_onnx_inputs(run),
                                  label=f"{fold_dir}: in-memory ONNX export"))  # fmt: skip
        sessions.append(folds)
    return sessions


def _onnx_inputs(run: Run) -> dict[str, tuple[int, ...]]:
    from iiic.predict.onnx import expected_inputs

    return expected_inputs(run.needs_eeg, run.needs_spec, run.preprocess.n_chans,
                           run.preprocess.n_times())  # fmt: skip
