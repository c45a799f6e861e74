"""ONNX export of fold models and their onnxruntime execution.

``export_run(RUN_DIR)`` writes ``RUN_DIR/fold_k/model.onnx`` per fold with a dynamic batch axis
(TorchScript-based exporter, ``dynamo=False``). Inputs are named ``eeg`` (B, n_chans, n_times)
and/or ``spec`` (B, 4, 100, 300) — only those the model reads — and the output ``logits`` (B, 6).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from iiic.constants import N_CLASSES, SPEC_CHAINS, SPEC_FREQS_HZ, SPEC_WINDOW_ROWS
from iiic.predict.runs import load_run
from iiic.signal.cwt import use_conv_cwt
from iiic.signal.spectrogram import use_conv_stft
from iiic.train.rundir import ONNX_FILE
from iiic.utils import atomic_path

logger = logging.getLogger(__name__)

OPSET = 17
"""ONNX opset of exported models."""
MAX_REASON_CHARS = 200
"""Length of the exporter's message quoted in an ExportError (its full text holds the graph)."""
EXPORT_BATCH = 2
"""Batch size of the example input traced at export (the batch axis stays dynamic)."""


class ExportError(RuntimeError):
    """A model that cannot be exported to ONNX; the message names the model and the fold."""


class _Inputs(nn.Module):
    """Wraps a model so that ONNX sees only the inputs it reads (no ``None`` arguments)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.needs_eeg = bool(getattr(model, "needs_eeg", True))
        self.needs_spec = bool(getattr(model, "needs_spec", False))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        eeg = inputs[0] if self.needs_eeg else None
        spec = inputs[-1] if self.needs_spec else None
        return self.model(eeg, spec)


def input_names(needs_eeg: bool, needs_spec: bool) -> list[str]:
    """ONNX input names of a model, in order."""
    return [n for n, used in (("eeg", needs_eeg), ("spec", needs_spec)) if used]


def _example(model: nn.Module, n_chans: int, n_times: int) -> tuple[torch.Tensor, ...]:
    wrapper = _Inputs(model)
    eeg = torch.randn(EXPORT_BATCH, n_chans, n_times)
    spec = torch.randn(EXPORT_BATCH, len(SPEC_CHAINS), len(SPEC_FREQS_HZ), SPEC_WINDOW_ROWS)
    return tuple(x for x, used in ((eeg, wrapper.needs_eeg), (spec, wrapper.needs_spec)) if used)


@contextlib.contextmanager
def _quiet_native_output() -> Iterator[None]:
    """Silence stdout/stderr at the file-descriptor level (the TorchScript exporter's C++ log
    prints the whole graph on failure); restored afterwards."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def export_model(model: nn.Module, path: Path, *, n_chans: int, n_times: int, label: str) -> Path:
    """Export one model (eval mode) to ``path``; ExportError naming ``label`` when it fails."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(export_bytes(model, n_chans=n_chans, n_times=n_times, label=label))
    return path


def export_bytes(model: nn.Module, *, n_chans: int, n_times: int, label: str) -> bytes:
    """The ONNX graph of one model (eval mode) as bytes; ExportError naming ``label`` on failure.

    Switches the model's STFTs and CWTs to their equivalent conv forms (``torch.stft`` and complex
    FFTs have no ONNX export).
    """
    use_conv_stft(model)
    use_conv_cwt(model)
    wrapper = _Inputs(
        model.eval()
    ).eval()  # a train-mode wrapper would leave the model in train mode
    names = input_names(wrapper.needs_eeg, wrapper.needs_spec)
    example = _example(model, n_chans, n_times)
    axes = {n: {0: "batch"} for n in [*names, "logits"]}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad(), _quiet_native_output():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, example, buffer, input_names=names, output_names=["logits"],
                dynamic_axes=axes, opset_version=OPSET, dynamo=False,
            )  # fmt: skip
    except Exception as exc:  # any exporter failure becomes one clear error
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:MAX_REASON_CHARS]
        raise ExportError(
            f"{label}: model {type(model).__name__!r} cannot be exported to ONNX ({reason})."
        ) from exc
    return buffer.getvalue()


def export_run(run_dir: str | Path) -> list[Path]:
    """Write ``fold_k/model.onnx`` for every fold of a run; returns the paths."""
    run = load_run(run_dir, with_prior=False, allow_partial=True)  # export what is finished
    n_chans, n_times = run.preprocess.n_chans, run.preprocess.n_times()
    paths = []
    for fold_dir, model in zip(run.fold_dirs, run.models, strict=True):
        paths.append(export_model(model, fold_dir / ONNX_FILE, n_chans=n_chans, n_times=n_times,
                                  label=str(fold_dir)))  # fmt: skip
        logger.info("exported %s", paths[-1])
    return paths


def providers(device: str | torch.device) -> list:
    """onnxruntime providers for ``device``: on a CUDA device, CUDA (that device) first when
    onnxruntime has it."""
    import onnxruntime as ort

    dev = torch.device(device)
    if dev.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return [("CUDAExecutionProvider", {"device_id": dev.index or 0}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session_options(n_threads: int | None = None, *, spinning: bool = False):
    """onnxruntime settings of every session: all graph optimisations (they fuse conv, batch norm
    and activation), no spin-waiting (spinning threads starve the preprocessing between runs:
    benchmarks/predict.py), ``n_threads`` intra-op threads (None: one per physical core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if n_threads is not None:
        opts.intra_op_num_threads = n_threads
        opts.inter_op_num_threads = 1
    return opts


class OnnxFold:
    """An onnxruntime session of one fold model: ``logits(eeg, spec) -> (B, 6)``.

    ``model`` is an exported file (``iiic export --onnx``) or the graph's bytes
    (:func:`export_bytes`).
    """

    def __init__(
        self, model: Path | bytes, device: str | torch.device = "cpu", n_threads: int | None = None
    ) -> None:
        import onnxruntime as ort

        if isinstance(model, Path) and not model.is_file():
            raise FileNotFoundError(
                f"{model}: missing; run `iiic export {model.parent.parent} --onnx`"
            )
        source = model if isinstance(model, bytes) else str(model)
        opts = session_options(n_threads)
        try:
            self.session = ort.InferenceSession(source, opts, providers=providers(device))
        except Exception as exc:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) are bare
            if not isinstance(model, Path):
                raise
            raise ValueError(f"{model}: not a readable ONNX model ({exc}); re-export it with "
                             f"`iiic export {model.parent.parent} --onnx`") from None  # fmt: skip
        self.inputs = [i.name for i in self.session.get_inputs()]

    def logits(self, eeg: np.ndarray | None, spec: np.ndarray | None) -> np.ndarray:
        """Logits, shape (B, 6), from float32 ``eeg`` (B, C, T) and/or ``spec`` (B, 4, 100, 300)."""
        feed = {name: np.ascontiguousarray({"eeg": eeg, "spec": spec}[name], dtype=np.float32)
                for name in self.inputs}  # fmt: skip
        try:
            out = self.session.run(["logits"], feed)[0]
        except Exception as exc:  # bare onnxruntime errors → what iiic.predict retries per row
            raise RuntimeError(f"onnxruntime: {exc}") from None
        if out.shape[-1] != N_CLASSES:
            raise ValueError(f"ONNX model returned shape {out.shape}, expected (B, {N_CLASSES})")
        return out
