"""ONNX export of fold models and their onnxruntime execution.

``export_run(RUN_DIR)`` writes ``RUN_DIR/fold_k/model.onnx`` per fold with a dynamic batch axis
(TorchScript-based exporter, ``dynamo=False``). Inputs are named ``eeg`` (B, n_chans, n_times)
and/or ``spec`` (B, 4, 100, 300) — only those the model reads — and the output ``logits`` (B, 6).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
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
from iiic.runs.rundir import MODEL_FILE, ONNX_CHECK_FILE, ONNX_FILE, weights_digest
from iiic.signal.cwt import use_conv_cwt
from iiic.signal.spectrogram import use_conv_stft
from iiic.utils import atomic_path, write_json_atomic

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


def expected_inputs(needs_eeg: bool, needs_spec: bool, n_chans: int,
                    n_times: int) -> dict[str, tuple[int, ...]]:  # fmt: skip
    """ONNX input name → shape after the batch axis: eeg (n_chans, n_times), spec (4, 100, 300)."""
    shapes = {"eeg": (n_chans, n_times),
              "spec": (len(SPEC_CHAINS), len(SPEC_FREQS_HZ), SPEC_WINDOW_ROWS)}  # fmt: skip
    return {n: shapes[n] for n in input_names(needs_eeg, needs_spec)}


def export_model(model: nn.Module, path: Path, *, n_chans: int, n_times: int, label: str,
                 weights_sha256: str | None = None) -> Path:  # fmt: skip
    """Export one model (eval mode) to ``path`` and its check file (:data:`ONNX_CHECK_FILE`: the
    SHA-256 of the graph and ``weights_sha256``, the weights it came from); ExportError naming
    ``label`` when it fails."""
    graph = export_bytes(model, n_chans=n_chans, n_times=n_times, label=label)
    check = {"onnx_sha256": hashlib.sha256(graph).hexdigest(), "weights_sha256": weights_sha256}
    with atomic_path(path) as tmp:
        tmp.write_bytes(graph)
    write_json_atomic(path.with_name(ONNX_CHECK_FILE), check)
    return path


def read_checked_onnx(path: Path) -> bytes:
    """The bytes of an exported ``fold_k/model.onnx`` after checking them against its check file
    and the fold's weights; ValueError naming the file and how to recover."""
    fix = f"re-export it with `iiic export {path.parent.parent} --onnx`"
    check_file = path.with_name(ONNX_CHECK_FILE)
    try:
        check = json.loads(check_file.read_text(encoding="utf-8"))
        recorded, weights = check["onnx_sha256"], check["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"{path}: no readable {ONNX_CHECK_FILE} beside it (exported by an older "
                         f"iiic, or not by iiic), so it cannot be checked; {fix}") from None  # fmt: skip
    graph = path.read_bytes()
    if hashlib.sha256(graph).hexdigest() != recorded:
        raise ValueError(f"{path}: not a readable ONNX model (its bytes fail the SHA-256 "
                         f"recorded at export); {fix}")  # fmt: skip
    if weights is None or weights != weights_digest(path.parent):
        raise ValueError(f"{path}: was not exported from this fold's {MODEL_FILE} (another "
                         f"model's graph?); {fix}")  # fmt: skip
    return graph


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
                                  label=str(fold_dir), weights_sha256=weights_digest(fold_dir)))  # fmt: skip
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


def _check_inputs(label: str, got: dict[str, list], expected: dict[str, tuple[int, ...]]) -> None:
    """ValueError naming ``label`` unless the graph's inputs are ``expected`` (names, and the
    fixed sizes after the batch axis)."""
    want = ", ".join(f"{n} (batch, {', '.join(map(str, s))})" for n, s in expected.items())
    fixed = {n: [d if isinstance(d, int) else None for d in shape[1:]] for n, shape in got.items()}
    ok = list(got) == list(expected) and all(
        len(fixed[n]) == len(s) and all(d in (None, e) for d, e in zip(fixed[n], s, strict=True))
        for n, s in expected.items()
    )
    if not ok:
        have = ", ".join(f"{n} {shape}" for n, shape in got.items())
        raise ValueError(f"{label}: ONNX inputs {have} do not fit the run's model, which reads "
                         f"{want}; re-export it with `iiic export RUN --onnx`")  # fmt: skip


class OnnxFold:
    """An onnxruntime session of one fold model: ``logits(eeg, spec) -> (B, 6)``.

    ``model`` is an exported file (``iiic export --onnx``; checked by :func:`read_checked_onnx`)
    or the graph's bytes (:func:`export_bytes`). ``inputs`` (:func:`expected_inputs`): the input
    names and shapes the run's model reads; a graph with others is refused at load.
    """

    def __init__(
        self, model: Path | bytes, device: str | torch.device = "cpu", n_threads: int | None = None,
        *, inputs: dict[str, tuple[int, ...]] | None = None, label: str = "in-memory ONNX export",
    ) -> None:  # fmt: skip
        import onnxruntime as ort

        if isinstance(model, Path) and not model.is_file():
            raise FileNotFoundError(
                f"{model}: missing; run `iiic export {model.parent.parent} --onnx`"
            )
        source = read_checked_onnx(model) if isinstance(model, Path) else model
        label = str(model) if isinstance(model, Path) else label
        opts = session_options(n_threads)
        try:
            self.session = ort.InferenceSession(source, opts, providers=providers(device))
        except Exception as exc:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) are bare
            if not isinstance(model, Path):
                raise
            raise ValueError(f"{model}: not a readable ONNX model ({exc}); re-export it with "
                             f"`iiic export {model.parent.parent} --onnx`") from None  # fmt: skip
        self.inputs = [i.name for i in self.session.get_inputs()]
        if inputs is not None:
            _check_inputs(label, {i.name: i.shape for i in self.session.get_inputs()}, inputs)

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
