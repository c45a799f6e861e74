"""The ``iiic`` command line: a thin typer layer over the stage sub-packages.

Each command imports its stage lazily, so ``iiic --help`` stays fast (no torch import).
Units in option names: seconds (_s), hertz (_hz), microvolts (_uv).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iiic.constants import (
    ANALYZE_BATCH_SIZE,
    ANALYZE_PRIOR,
    ANALYZE_STRIDE_S,
    ANALYZE_THRESHOLD,
    DEFAULT_BACKEND,
    PREDICT_BATCH_SIZE,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

# Options shared by several commands: one declaration each, so their help cannot drift.
Device = Annotated[
    str, typer.Option("--device", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N.")
]
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        help="auto (ONNX Runtime on the CPU, exported in memory when fold_k/model.onnx is absent "
        "or older than the weights; torch on CUDA), torch, or onnx (after iiic export).",
    ),
]
Models = Annotated[
    str | None,
    typer.Option(
        "--models",
        help="Trained run directories, comma-separated. Default: the model shipped with iiic "
        "(twin-trained; docs/default_model.md), announced on stderr.",
    ),
]
Blend = Annotated[
    Path | None,
    typer.Option("--blend", help="blend.json (weights + class bias) from iiic blend."),
]
TtaFlip = Annotated[bool, typer.Option("--tta-flip", help="Average with the L/R mirrored input.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Windows per model call.")]
Threads = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="CPU threads (torch, ONNX Runtime, FFT), per worker."),
]
AllowPartial = Annotated[
    bool,
    typer.Option(
        "--allow-partial",
        help="Use unfinished runs (folds of their config without a model): predict from the "
        "finished folds, listed on stderr. Refused otherwise.",
    ),
]
app = typer.Typer(
    name="iiic",
    help="Classify harmful brain activity (Seizure, LPD, GPD, LRDA, GRDA, Other) in scalp EEG.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _log_to_stderr(level: int = logging.WARNING) -> None:
    """Show the library's log records (warnings: folds reduced, rows excluded, runs partial) on
    this command's stderr; ``force`` rebinds the handler to the current stderr on every call."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


def _fail(message: str, code: int = 2) -> None:
    """Print a one-line error to stderr and exit with ``code`` (no stack trace)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _flag_error(err: ValidationError, flags: dict[str, str] | None = None) -> str:
    """The first error of a pydantic config built from command-line options, in
    :func:`iiic.utils.bad_value`'s wording and naming the option (field ``stride_s`` →
    ``--stride-s``; ``flags`` maps the fields whose option is named otherwise)."""
    from iiic.utils import bad_value

    first = err.errors()[0]
    field = ".".join(map(str, first["loc"]))
    flag = (flags or {}).get(field, "--" + field.replace("_", "-"))
    msg = first["msg"]
    if msg.startswith("Input should be "):  # "Input should be greater than 0"
        expected = msg.removeprefix("Input should be ")
    else:
        expected = f"a valid value ({msg})"
    return bad_value(flag, expected, repr(first["input"]))


def _comma_list(text: str) -> list[str]:
    """'a, b,,c' → ['a', 'b', 'c'] (options that take a comma-separated list)."""
    return [t.strip() for t in text.split(",") if t.strip()]


def _print_version(value: bool) -> None:
    if value:
        from iiic import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Classify harmful brain activity (Seizure, LPD, GPD, LRDA, GRDA, Other) in scalp EEG."""


# === demo (iiic.demo) ===
@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for every output (index.html).")],
    patients: Annotated[
        int, typer.Option("--patients", min=8, help="Patients of the synthetic twin.")
    ] = 24,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Epochs of every training stage (default: presets)."),
    ] = None,
    folds: Annotated[
        int, typer.Option("--folds", min=2, max=10, help="Patient-grouped folds.")
    ] = 3,
    presets: Annotated[
        str, typer.Option("--presets", help="Model presets to train, comma-separated.")
    ] = "morph_cpu,morph10_cpu,eeg1d_cpu",
    twin_seeds: Annotated[
        int,
        typer.Option(
            "--twin-seeds",
            min=1,
            max=10,
            help="Twins (seeds seed, seed+1, ...) the presets are trained on; the "
            "ensemble averages every run with an equal weight.",
        ),
    ] = 3,
    blend: Annotated[
        bool,
        typer.Option(
            "--fit-blend",
            help="Predict with log-space blend weights fit on the twin's OOF "
            "predictions instead of the equal-weight mean (needs --twin-seeds 1).",
        ),
    ] = False,
    edf_hours: Annotated[
        float, typer.Option("--edf-hours", help="Length of the synthetic EDF recording, h.")
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the twin and the folds.")] = 0,
    device: Device = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the contents of a non-empty --out.")
    ] = False,
) -> None:
    """Run the whole system on synthetic twins: synth → prepare → train → evaluate → ensemble →
    predict → analyze an EDF → score real IIIC segments; writes OUT/index.html.
    """
    from pydantic import ValidationError

    from iiic.demo import DemoConfig, run_demo

    _log_to_stderr()
    try:
        cfg = DemoConfig(
            patients=patients, folds=folds, epochs=epochs, edf_hours=edf_hours, seed=seed,
            device=device, presets=tuple(_comma_list(presets)),
            twin_seeds=twin_seeds, blend=blend,
        )  # fmt: skip
        run_demo(out, cfg, overwrite=overwrite)
    except ValidationError as err:
        _fail(_flag_error(err, {"blend": "--fit-blend"}))
    except (FileExistsError, ValueError) as err:
        _fail(str(err))


# === end demo ===


# === validate (iiic.data) ===
@app.command()
def validate(
    data_dir: Annotated[
        Path, typer.Argument(help="Kaggle-layout directory (train.csv/test.csv + parquet folders).")
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Write the report as JSON to stdout.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Processes reading parquet files.")
    ] = 2,
    eeg_only: Annotated[
        bool,
        typer.Option(
            "--eeg-only", help="Skip spectrogram files (EEG-only sets, e.g. IIIC segments)."
        ),
    ] = False,
    progress: Annotated[
        bool,
        typer.Option("--progress/--no-progress", help="Progress bar on stderr (terminals only)."),
    ] = True,
) -> None:
    """Check a data directory: counts, NaN share per file, every problem. Exit 0 only without errors.

    Reads every referenced EEG (20 channels, 200 Hz, µV) and spectrogram file once and checks each
    row's 50-s EEG window and 600-s spectrogram window. Errors: missing/unreadable files, windows
    past the end, bad votes or columns. Warnings (NaN, unreferenced files) do not fail.
    """
    from iiic.data.validate import validate_data_dir

    report = validate_data_dir(data_dir, workers=workers, eeg_only=eeg_only, progress=progress)
    if json_output:
        typer.echo(report.model_dump_json(indent=2))
    else:
        _print_validation(report)
    raise typer.Exit(0 if report.ok else 1)


def _print_validation(report, max_lines: int = 50) -> None:
    """Human-readable summary of a ValidationReport (first ``max_lines`` of each list)."""
    typer.echo(f"data: {report.data_dir}")
    for title, table in (("counts", report.counts), ("classes", report.class_distribution),
                         ("quality", report.quality), ("agreement", report.agreement)):  # fmt: skip
        if table:
            typer.echo(f"{title}: " + ", ".join(f"{k}={v}" for k, v in table.items()))
    for title, items in (("warning", report.warnings), ("error", report.errors)):
        for line in items[:max_lines]:
            typer.echo(f"{title}: {line}", err=title == "error")
        if len(items) > max_lines:
            typer.echo(f"{title}: ... {len(items) - max_lines} more (use --json)")
    typer.echo(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")


# === end validate ===


# === synth (iiic.synth) ===
@app.command()
def synth(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output folder of the twin (Kaggle layout); with --edf the .edf file "
            "(.edf is added when the name lacks it).",
        ),
    ],
    patients: Annotated[
        int | None,
        typer.Option(
            help="Standalone: number of patients (default 20). With --labels: at most this many "
            "whole patients (default all)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the output is deterministic.")] = 0,
    labels: Annotated[
        Path | None,
        typer.Option(help="A real train.csv(.gz): reproduce its ids, offsets, patients, votes."),
    ] = None,
    fraction: Annotated[
        float | None,
        typer.Option(help="With --labels: share of whole patients to keep, in (0, 1]."),
    ] = None,
    test_eegs: Annotated[
        int | None, typer.Option(help="Number of test EEGs (default: patients / 4, within 2..200).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Parallel worker processes.")] = 1,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a dataset layout already in --out.")
    ] = False,
    eeg_only: Annotated[
        bool,
        typer.Option(
            "--eeg-only", help="No train spectrograms (EEG models; cache with --eeg-only)."
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write a realism report (PNG + JSON) comparing with real data."),
    ] = None,
    real_data: Annotated[
        Path | None,
        typer.Option(
            help="Real-data folder for --report (default $IIIC_SHARED_DATA or ../shared/data)."
        ),
    ] = None,
    edf: Annotated[
        float | None,
        typer.Option(
            help="Write a synthetic recording of this many HOURS as EDF+ to --out (+ episodes CSV)."
        ),
    ] = None,
) -> None:
    """Write a synthetic twin of the HMS dataset (or a long EDF+ recording with --edf)."""
    if edf is not None:
        from iiic.synth.recording import episodes_path, write_recording

        if out.suffix.lower() != ".edf":  # an EDF file without its extension helps no one
            out = out.with_name(out.name + ".edf")
        try:
            path, episodes = write_recording(out, edf, seed=seed, progress=True)
        except ValueError as err:
            _fail(str(err))
        typer.echo(f"wrote {path} ({edf:g} h, {len(episodes)} episodes) and {episodes_path(path)}")
        return
    from iiic.synth import generate_twin

    try:
        path = generate_twin(
            out, n_patients=patients if labels is not None else (patients or 20), seed=seed,
            labels=labels, fraction=fraction, n_test=test_eegs, workers=workers, progress=True,
            overwrite=overwrite, spectrograms=not eeg_only,
        )  # fmt: skip
    except ValueError as err:
        _fail(str(err))
    typer.echo(f"wrote the synthetic twin to {path} (summary: {path / 'synth_summary.json'})")
    if report is not None:
        from iiic.synth.realism import default_real_data, realism_report

        png, js = realism_report(path, real_data or default_real_data(), report)
        typer.echo(f"wrote {png} and {js}")


# === end synth ===


# === prepare (iiic.data.cache) ===
@app.command()
def prepare(
    data_dir: Annotated[
        Path,
        typer.Argument(
            help="Kaggle-layout directory (train.csv + train_eegs/ + train_spectrograms/)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Cache directory to create.")],
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Processes reading parquet files.")
    ] = 2,
    dtype: Annotated[
        str,
        typer.Option(
            "--dtype",
            help="Storage type of the raw EEG (µV): float16 (half the size, <= 0.25 µV error "
            "below ±1024 µV) or float32 (exact).",
        ),
    ] = "float16",
    eeg_only: Annotated[
        bool, typer.Option("--eeg-only", help="Skip spectrograms (EEG-only data sets).")
    ] = False,
    n_folds: Annotated[int, typer.Option(help="Patient-grouped folds stored in rows.parquet.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the fold split.")] = 42,
    progress: Annotated[
        bool,
        typer.Option("--progress/--no-progress", help="Progress bar on stderr (terminals only)."),
    ] = True,
    preset: Annotated[
        list[str] | None,
        typer.Option(
            "--preset",
            help="Also store model-ready inputs for this training preset (or config YAML): every "
            "EEG file preprocessed whole as the preset says, at its rate, float16 (rows' windows "
            "are sliced from it); repeatable. Added to an existing cache of the same data.",
        ),
    ] = None,
) -> None:
    """Read every train EEG (200 Hz, µV) and spectrogram once into a memory-mapped training cache.

    Resumable: run the same command again after a kill and it continues. The cache directory
    appears only when complete. Unreadable files are excluded and listed in cache_report.json;
    windows with non-physical values (beyond ±1 V) or no data (every electrode NaN) are
    dropped and counted on stderr. With --preset, `iiic train` with that preset reads
    preprocessed windows instead of filtering each one (model-ready inputs under CACHE/ready/,
    listed in manifest.json). Exit 2: bad input (nothing written).
    """
    from iiic.data.cache import EEG_DTYPES, build_cache
    from iiic.train.config import load_config
    from iiic.train.ready import build_ready
    from iiic.utils import check_option, check_output_dir

    _log_to_stderr()
    try:
        check_option("--dtype", dtype, EEG_DTYPES)
    except ValueError as exc:
        _fail(str(exc))
    try:
        configs = [load_config(p).preprocess for p in preset or []]
        cropped = [p for p, c in zip(preset or [], configs, strict=True) if c.crop_s is not None]
        if cropped:
            raise ValueError(f"{', '.join(cropped)} crop each window before filtering it and "
                             "train per window: no model-ready inputs to store")  # fmt: skip
    except ValueError as exc:
        _fail(f"--preset: {exc}")
    try:
        check_output_dir(out)
        path = build_cache(data_dir, out, workers=workers, dtype=dtype, eeg_only=eeg_only,
                           n_folds=n_folds, seed=seed, progress=progress)  # fmt: skip
        for name, cfg in zip(preset or [], configs, strict=True):
            ready = build_ready(path, cfg, workers=workers, progress=progress)
            typer.echo(f"model-ready inputs for {name}: {ready}")
    except ValueError as exc:  # DataError, LockError, bad --n-folds
        _fail(str(exc))
    import json

    report = json.loads((path / "cache_report.json").read_text(encoding="utf-8"))
    counts = report["counts"]
    typer.echo(f"cache: {path} ({counts['rows_kept']} rows, {counts['eegs']} EEGs, "
               f"{counts['spectrograms']} spectrograms, {report['eeg_dtype']})")  # fmt: skip
    if report["files_excluded"] or any(report["rows_dropped"].values()):
        typer.echo(f"warning: excluded {len(report['files_excluded'])} file(s), dropped rows "
                   f"{report['rows_dropped']}: see {path / 'cache_report.json'}", err=True)  # fmt: skip
    if counts.get("saturated_values"):
        typer.echo(f"warning: {counts['saturated_values']} value(s) beyond ±65,504 µV were clipped "
                   f"to fit {report['eeg_dtype']} (use --dtype float32 to keep them)", err=True)  # fmt: skip


# === end prepare ===


# === train (iiic.train) ===
def _parse_folds(folds: str) -> list[int] | None:
    """'all' → None; '0,2' → [0, 2]."""
    if folds.strip().lower() == "all":
        return None
    try:
        return [int(f) for f in folds.split(",") if f.strip()]
    except ValueError:
        from iiic.utils import bad_value

        _fail(
            bad_value("--folds", "'all' or comma-separated fold numbers such as 0,1", repr(folds))
        )
        raise  # unreachable: _fail exits


@app.command("train")
def train(
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="Kaggle layout dir (cached into DATA/.iiic_cache) or an iiic cache."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write (or resume).")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TrainConfig YAML, or a preset name (eeg1d_cpu, spec2d_gpu, …); optional with --resume.",
        ),
    ] = None,
    folds: Annotated[str, typer.Option("--folds", help="'all' or a list such as 0,1.")] = "all",
    n_folds: Annotated[
        int | None,
        typer.Option(
            "--n-folds",
            min=2,
            help="Patient-grouped folds (default: the config's; at most one per patient).",
        ),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=0, help="Epochs of every stage.")
    ] = None,
    device: Device = "auto",
    num_workers: Annotated[
        int | None, typer.Option("--num-workers", min=0, help="DataLoader workers.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="Local .safetensors weights of the image backbone (spec2d, multimodal); "
            "replaces the config's model_options weights.",
        ),
    ] = None,
    pseudo_labels: Annotated[
        str | None,
        typer.Option(
            "--pseudo-labels",
            help="First-stage runs (or their oof.parquet), comma-separated: rows with < 10 votes "
            "train towards their votes mixed with these runs' mean OOF prediction (same folds).",
        ),
    ] = None,
    pseudo_weight: Annotated[
        float | None,
        typer.Option(
            "--pseudo-weight",
            min=0.0,
            max=1.0,
            help="Share of the OOF prediction in a pseudo-labelled target (default 0.5).",
        ),
    ] = None,
    stop_after_epochs: Annotated[
        int | None, typer.Option("--stop-after-epochs", hidden=True, help="Debug: simulate a kill.")
    ] = None,
    model_ready: Annotated[
        str | None,
        typer.Option(
            "--model-ready",
            help="auto (config default): read the cache's model-ready inputs when `iiic prepare "
            "--preset` stored them for this preprocessing; require: fail otherwise; off: "
            "preprocess every window.",
        ),
    ] = None,
) -> None:
    """Train a model family with k-fold cross-validation; writes checkpoints, metrics and OOF.

    Multi-GPU: torchrun --nproc_per_node=N -m iiic train --config ... --data ... --out ...
    """
    import json

    from iiic.train.config import (
        load_config,
        with_backbone_weights,
        with_epochs,
        with_pseudo_labels,
    )
    from iiic.train.kfold import train_kfold
    from iiic.train.loop import TrainingInterrupted
    from iiic.utils import check_output_dir

    _log_to_stderr(logging.INFO)
    overrides = {"num_workers": num_workers, "n_folds": n_folds, "model_ready": model_ready}
    try:
        check_output_dir(out)
        if config is None and n_folds is not None:
            raise ValueError("--n-folds needs --config (a resumed run keeps its folds)")
        cfg = load_config(config, **overrides) if config is not None else None
        if cfg is not None and epochs is not None:
            cfg = with_epochs(cfg, epochs)
        if pseudo_labels is not None or pseudo_weight is not None:
            if cfg is None:
                raise ValueError("--pseudo-labels needs --config (a resumed run keeps its targets)")
            oof = None if pseudo_labels is None else _comma_list(pseudo_labels)
            cfg = with_pseudo_labels(cfg, oof, pseudo_weight)
        if weights is not None:
            if cfg is None:
                raise ValueError("--weights needs --config (a resumed run keeps its saved weights)")
            cfg = with_backbone_weights(cfg, weights)
        summary = train_kfold(
            cfg, data, out, folds=_parse_folds(folds), resume=resume, device=device,
            stop_after_epochs=stop_after_epochs, progress_bar=not quiet,
        )  # fmt: skip
    except TrainingInterrupted as exc:
        typer.echo(str(exc))
        return
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(summary, indent=2, default=str))


# === end train ===

# === predict / export (iiic.predict) ===
PREDICT_EXIT_FALLBACK = 3
"""Exit code of ``iiic predict`` when some rows got the class-prior fallback (file still complete)."""


def _run_dirs(models: str) -> list[Path]:
    """--models 'a,b' → [Path('a'), Path('b')]."""
    return [Path(p) for p in models.split(",") if p.strip()]


def _model_dirs(models: str | None, blend: Path | None, backend: str,
                device: str) -> tuple[list[Path], Path | None, str]:  # fmt: skip
    """The run directories, blend and backend of --models/--blend/--backend; without --models the
    default model shipped with iiic (:mod:`iiic.predict.default_model`), announced on stderr."""
    if models is not None:
        return _run_dirs(models), blend, backend
    from iiic.predict.default_model import (
        DefaultModelError,
        announcement,
        default_backend,
        default_runs,
    )

    if blend is not None:
        _fail("--blend: give --models too (the default model has its own blend)")
    try:
        run_dirs, blend = default_runs()
    except DefaultModelError as exc:
        _fail(str(exc))
    typer.echo(announcement(), err=True)
    return run_dirs, blend, default_backend(backend, device)


@app.command("predict")
def predict_cmd(
    data: Annotated[
        Path, typer.Option("--data", help="Kaggle-layout dir with test.csv, test_eegs/.")
    ],
    out: Annotated[Path, typer.Option("--out", help="submission.csv to write.")],
    models: Models = None,
    blend: Blend = None,
    tta_flip: TtaFlip = False,
    backend: Backend = DEFAULT_BACKEND,
    device: Device = "auto",
    batch_size: BatchSize = PREDICT_BATCH_SIZE,
    allow_partial: AllowPartial = False,
) -> None:
    """Write submission.csv for a test directory.

    Rows without a usable Kaggle spectrogram get one computed from their EEG when a model reads
    spectrograms (listed on stderr). Exit codes: 0 all rows predicted; 3 submission written but
    some rows got the class-prior fallback (missing/unreadable/short test file, no data or
    non-physical values, a failed or non-finite prediction; listed on stderr); 2 bad input
    (nothing written). Probabilities keep the training (HMS) class prior.
    """
    from iiic.predict.predictor import Predictor
    from iiic.predict.submission import predict_test_dir
    from iiic.utils import check_output_file

    _log_to_stderr()
    run_dirs, blend, backend = _model_dirs(models, blend, backend, device)
    try:
        check_output_file(out)
        predictor = Predictor.from_runs(run_dirs, backend=backend, device=device,
                                        tta_flip=tta_flip, blend=blend, batch_size=batch_size,
                                        allow_partial=allow_partial)  # fmt: skip
        summary = predict_test_dir(predictor, data, out)
    except (ValueError, OSError) as exc:  # DataError, RunError, unwritable --out
        _fail(str(exc))
    typer.echo(f"wrote {summary.out} ({summary.n_rows} rows, {len(run_dirs)} runs)")
    if summary.spec_from_eeg:
        typer.echo(f"note: {len(summary.spec_from_eeg)} rows had no usable Kaggle spectrogram; "
                   "it was computed from their EEG:", err=True)  # fmt: skip
        for eeg_id, why in summary.spec_from_eeg.items():
            typer.echo(f"  eeg_id {eeg_id}: {why}", err=True)
    if summary.fallback:
        typer.secho(f"warning: {len(summary.fallback)} rows got the class-prior fallback:",
                    fg=typer.colors.YELLOW, err=True)  # fmt: skip
        for eeg_id, why in summary.fallback.items():
            typer.echo(f"  eeg_id {eeg_id}: {why}", err=True)
        raise typer.Exit(PREDICT_EXIT_FALLBACK)


@app.command("export")
def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (config.json + fold_k/).")],
    onnx: Annotated[bool, typer.Option("--onnx", help="Write fold_k/model.onnx per fold.")] = False,
) -> None:
    """Export a run's fold models (ONNX: dynamic batch axis, opset 17)."""
    from iiic.predict.onnx import ExportError, export_run
    from iiic.runs.rundir import RunError

    _log_to_stderr()
    if not onnx:
        _fail("choose an export format: --onnx")
    try:
        paths = export_run(run_dir)
    except (ExportError, RunError) as exc:
        _fail(str(exc))
    for p in paths:
        typer.echo(f"wrote {p}")


@app.command("score")
def score_cmd(
    data: Annotated[
        Path,
        typer.Argument(help="Labelled Kaggle-layout dir: train.csv (raw votes) + train_eegs/."),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for score.json/.md, segments.csv, predictions.")
    ],
    models: Models = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="Published probabilities for the same rows (eeg_id + the six vote columns), "
            "e.g. sparcnet_predictions.csv.",
        ),
    ] = None,
    blend: Blend = None,
    tta_flip: TtaFlip = False,
    backend: Backend = DEFAULT_BACKEND,
    device: Device = "auto",
    batch_size: BatchSize = PREDICT_BATCH_SIZE,
    allow_partial: AllowPartial = False,
    prior: Annotated[
        str,
        typer.Option(
            "--prior",
            help="Class prior the probabilities are for: hms (default: the real HMS windows' "
            "prior, which labelled windows of the HMS source have), training (as trained), "
            "monitoring or a JSON file of six class priors.",
        ),
    ] = "hms",
    write_card: Annotated[
        bool,
        typer.Option(
            "--write-card",
            help="Record this score in the model's card (model_card.json beside --blend, or in "
            "the single run's directory), under the data folder's name: KL with a bootstrap "
            "90 percent interval, top-class count, worst segment, baselines, confusions.",
        ),
    ] = False,
) -> None:
    """Predict the labelled rows of DATA/train.csv and score them against the expert votes.

    Each row's window is [eeg_label_offset_seconds, +50 s) of its EEG, as in training, or the row's
    segment_seconds (10-s segments: scored by the runs that read a central 10 s). The KL of the
    models is reported next to the uniform prediction, the class prior and --baseline.
    For real data such as ../shared/data/iiic-real-segments (EEG only: runs that read Kaggle
    spectrograms get them computed from the EEG, column spec_source of segments.csv).
    `iiic evaluate OUT/predictions.parquet` gives the full breakdown.
    """
    from iiic.data.errors import DataError
    from iiic.predict.card import card_dir, real_set_section, write_real_set
    from iiic.predict.predictor import Predictor
    from iiic.predict.score import ScoreError, score_data_dir, write_score
    from iiic.runs.rundir import RunError

    _log_to_stderr()
    run_dirs, blend, backend = _model_dirs(models, blend, backend, device)
    target = card_dir(run_dirs, blend) if write_card else None
    if write_card and (models is None or (blend is None and len(run_dirs) > 1)):
        _fail("--write-card: give one run, or --models with --blend (the card goes beside the "
              "blend); the default model's card is written by benchmarks/default_model.py")  # fmt: skip
    try:
        predictor = Predictor.from_runs(run_dirs, backend=backend, device=device,
                                        tta_flip=tta_flip, blend=blend, batch_size=batch_size,
                                        allow_partial=allow_partial).with_prior(prior)  # fmt: skip
        result = score_data_dir(predictor, data, baseline=baseline, progress=True)
        if len(result.info["runs"]) < len(predictor.runs):
            typer.echo(f"{', '.join(result.info['segment_seconds_text'])} segments: scored by the "
                       f"runs that read them ({len(result.info['runs'])} of "
                       f"{len(predictor.runs)})", err=True)  # fmt: skip
    except (DataError, RunError, ScoreError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    paths = write_score(result, out)
    if target is not None:
        card = write_real_set(target, Path(data).resolve().name, real_set_section(result))
        typer.echo(f"wrote {card}")
    typer.echo(f"{result.info['n_rows']} rows of {data}; KL (nats, lower is better):")
    for name, s in result.summary.items():
        typer.echo(f"  {name:<24} {s['kl']:.4f}   accuracy {s['accuracy']:.0%}")
    if result.info["spec_from_eeg"]:
        typer.echo(f"note: {len(result.info['spec_from_eeg'])} rows had no usable Kaggle "
                   "spectrogram; it was computed from their EEG (spec_source = eeg)")  # fmt: skip
    typer.echo(f"wrote {paths['md']} and {paths['json']}")


# === end predict ===


# === evaluate / blend (iiic.evaluate, iiic.ensemble) ===
@app.command("evaluate")
def evaluate_cmd(
    oof: Annotated[
        Path, typer.Argument(help="OOF table (.parquet or .csv[.gz]; iiic or gunesevitan format).")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Report directory (report.md/html, PNGs, metrics.json).")
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="train.csv or a directory with it: raw votes + patient_id to join."
        ),
    ] = None,
    renormalize: Annotated[
        bool,
        typer.Option("--renormalize", help="Renormalise clipped predictions (Kaggle does not)."),
    ] = False,
) -> None:
    """KL overall / by vote quality / agreement / class, accuracy, calibration, confusion matrix."""
    from iiic.evaluate.oof import OOFError, read_oof
    from iiic.evaluate.report import write_report
    from iiic.runs.rundir import preprocessing_of

    try:
        table = read_oof(oof, labels=data)
        preprocessing = preprocessing_of(oof)
    except (OOFError, ValueError) as exc:  # RunError: the run's config.json
        _fail(str(exc))
    ev = write_report(table, out, renormalize=renormalize, preprocessing=preprocessing)
    hq = "n/a" if ev.kl_high_quality is None else f"{ev.kl_high_quality:.4f}"
    typer.echo(
        f"KL {ev.kl:.4f} ({'renormalised' if renormalize else 'Kaggle exact, not renormalised'}) "
        f"on {ev.n_rows:,} rows; >=10 votes: {hq}; accuracy {ev.accuracy:.2%}; "
        f"mean ECE {ev.ece['mean']:.4f}\nreport: {out / 'report.html'}"
    )


@app.command("blend")
def blend_cmd(
    oofs: Annotated[list[Path], typer.Argument(help="Two or more OOF tables (one per model/run).")],
    out: Annotated[Path, typer.Option("--out", help="blend.json to write.")],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="train.csv (or its directory) for formats without raw votes."),
    ] = None,
    cv_folds: Annotated[
        int, typer.Option("--cv-folds", min=2, help="Patient-grouped CV folds.")
    ] = 5,
    no_bias: Annotated[
        bool, typer.Option("--no-bias", help="Learn weights only, no class bias.")
    ] = False,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="weights: one non-negative weight per model; net: the blend net (a weight per "
            "model and class); auto: both scored on the same held-out folds, the better kept.",
        ),
    ] = "auto",
) -> None:
    """Learn model weights + a class bias on OOF tables; report an honest CV'd KL."""
    import numpy as np

    from iiic.ensemble.blend import blend_oof, oof_run_names
    from iiic.evaluate.oof import OOFError, read_oof
    from iiic.utils import write_json_atomic

    names = oof_run_names(oofs)
    try:
        tables = [read_oof(p, labels=data) for p in oofs]
        result = blend_oof(tables, names, n_splits=cv_folds, fit_bias=not no_bias, method=method)
    except (OOFError, ValueError) as exc:
        _fail(str(exc))
    result.sources = [str(p) for p in oofs]
    write_json_atomic(out, result.to_json())
    typer.echo(f"KL on {result.n_rows:,} shared rows (nats, lower is better):")
    for name, w in zip(names, result.weights, strict=True):
        shown = (
            f"weight {w:.3f}"
            if np.ndim(w) == 0
            else "class weights " + " ".join(f"{v:.2f}" for v in w)
        )
        typer.echo(f"  {name:<28} {result.model_kl[name]:.4f}   {shown}")
    typer.echo(f"  {'plain average':<28} {result.mean_kl:.4f}")
    typer.echo(f"  {'blend (in-sample)':<28} {result.blend_kl_in_sample:.4f}")
    for m, kl in result.cv_by_method.items():
        typer.echo(f"  {'blend ' + m + ' (patient-grouped CV)':<36} {kl:.4f}")
    typer.echo(f"kept: {result.method} (blend CV {result.blend_kl_cv:.4f})")
    typer.echo(f"wrote {out}")


# === end evaluate ===


# === analyze (iiic.clinical) ===
ANALYZE_EXIT_FAILED = 3
"""Exit code of ``iiic analyze`` over several recordings when some failed (the rest is written)."""


@app.command("analyze")
def analyze(
    recordings: Annotated[
        list[Path],
        typer.Argument(
            help="EDF/EDF+/BDF recordings (referential montage) and/or folders searched "
            "recursively for *.edf/*.bdf. One file: its outputs go straight into --out; "
            "several or a folder: OUT/<name>/ each, plus OUT/index.html and OUT/recordings.csv."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder (tables, figures, report).")],
    models: Models = None,
    blend: Blend = None,
    prior: Annotated[
        str,
        typer.Option(
            "--prior",
            help="Class prior the probabilities are for: monitoring (default: continuous "
            "recordings are mostly Other; P(Other) = 0.8, sources in the README), hms (the real "
            "HMS windows' prior), training (as trained) or a JSON file of six class "
            "prevalences; recorded in the report.",
        ),
    ] = ANALYZE_PRIOR,
    stride_s: Annotated[
        float, typer.Option("--stride-s", help="Distance between window starts, s.")
    ] = ANALYZE_STRIDE_S,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Probability at which a window counts.")
    ] = ANALYZE_THRESHOLD,
    allow_missing: Annotated[
        int,
        typer.Option(
            "--allow-missing",
            help="Electrodes that may be absent; each is interpolated as the mean of its "
            "10-20 neighbours and reported.",
        ),
    ] = 0,
    backend: Backend = DEFAULT_BACKEND,
    device: Device = "auto",
    max_pages: Annotated[int, typer.Option("--max-pages", help="EEG pages drawn per pattern.")] = 2,
    batch_size: BatchSize = ANALYZE_BATCH_SIZE,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast/--exact",
            help="Both preprocess the recording once per run, as training's model-ready inputs "
            "(iiic.clinical.scoring); --fast runs the zero-phase filters on the FFT inside the "
            "recording (probabilities equal to about 1e-6), --exact the runs' own filters.",
        ),
    ] = False,
    threads: Threads = None,
    annotated_copy: Annotated[
        bool,
        typer.Option(
            "--annotated-copy",
            help="Also write OUT/<name>.annotated.edf: the recording with the events and the "
            "timeline in its EDF+ annotation channel (OUT/annotations/ always has them as EDF+ "
            "and MNE annotation files).",
        ),
    ] = False,
    review_eeg_min: Annotated[
        float,
        typer.Option(
            "--review-eeg-min",
            help="Minutes of EEG embedded in report.html's interactive review (windows in events "
            "first, then the highest pattern probabilities; 2.4 kB per second of EEG).",
        ),
    ] = 30.0,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Recordings analysed in parallel (processes, each loading the models once). "
            "Finished recordings are skipped when analyze runs again (resumable after a kill).",
        ),
    ] = 1,
    allow_partial: AllowPartial = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="I/N: analyse only shard I (0-based) of N of the recordings (a stable share, by "
            "a hash of each file's path under its folder), e.g. one per cluster job "
            "($SLURM_ARRAY_TASK_ID/N). Shards may run at once into one --out; each rebuilds "
            "OUT/recordings.csv and index.html from the finished shards (iiic collect OUT).",
        ),
    ] = None,
) -> None:
    """Analyse whole recordings: timeline, summary, IIIC-gram, EEG pages, annotation files and an
    HTML report with an interactive review (click the IIIC-gram to see the EEG of that moment).

    Exit codes: 0 done; 2 bad input (nothing analysed); 3 several recordings and some failed
    (each listed in OUT/recordings.csv and OUT/index.html; the others are written).
    """
    from dataclasses import replace

    from pydantic import ValidationError

    from iiic.clinical.edf import RecordingError, read_recording
    from iiic.clinical.outdir import BATCH, RECORDING, OutputError, check_writable, replacing
    from iiic.clinical.pipeline import AnalyzeConfig, analyze_file
    from iiic.clinical.scoring import ScorerSpec, load_scorer
    from iiic.predict.prior import resolve_prior
    from iiic.utils import LockError, check_output_dir

    _log_to_stderr()
    many = len(recordings) > 1 or recordings[0].is_dir() or shard is not None
    try:
        check_output_dir(out)
        check_writable(out, BATCH if many else RECORDING)  # before any work
    except ValueError as err:
        _fail(str(err))
    try:
        cfg = AnalyzeConfig(
            stride_s=stride_s, threshold=threshold, allow_missing=allow_missing,
            max_pages=max_pages, batch_size=batch_size, fft_workers=threads or 1,
            annotated_copy=annotated_copy, review_eeg_min=review_eeg_min,
        )  # fmt: skip
    except ValidationError as err:
        _fail(_flag_error(err, {"fft_workers": "--threads"}))
    rec = None
    if not many:
        try:
            rec = read_recording(recordings[0], allow_missing=cfg.allow_missing)
        except RecordingError as err:
            _fail(str(err))
    run_dirs, blend, backend = _model_dirs(models, blend, backend, device)
    try:
        resolve_prior(prior)
    except ValueError as err:
        _fail(str(err))
    spec = ScorerSpec(
        tuple(map(str, run_dirs)), blend=None if blend is None else str(blend), backend=backend,
        device=device, threads=threads, fast=fast, allow_partial=allow_partial, prior=prior,
    )  # fmt: skip
    try:
        scorer = load_scorer(spec)
    except (ValueError, OSError, RuntimeError) as err:
        _fail(f"--models {models or '(default)'}: cannot load the models: {err}")
    if many:
        _analyze_many(recordings, replace(spec, threads=threads or 1), scorer, out, cfg,
                      workers=workers, shard=shard)  # fmt: skip
        return
    try:
        with replacing(out) as partial:  # published by rename when complete
            result = analyze_file(rec, scorer, partial, config=cfg)
    except (OutputError, LockError) as err:
        _fail(str(err))
    except ValueError as err:
        _fail(f"{recordings[0]}: {err}")
    s = result.summary
    typer.echo(
        f"{rec.name}: {s['n_windows']} windows over {s['duration_s'] / 3600:.2f} h; seizure "
        f"burden {s['seizure_burden_min_per_hour']:.1f} min/h; report {out / 'report.html'}"
    )


def _analyze_many(recordings: list[Path], spec, scorer, out: Path, cfg, *, workers: int,
                  shard: str | None = None) -> None:  # fmt: skip
    from iiic.clinical.batch import FAILED, BatchError, Shard, analyze_many
    from iiic.utils import LockError

    try:
        table = analyze_many(recordings, spec, out, config=cfg, workers=workers,
                             say=lambda m: typer.echo(m, err=True),
                             shard=Shard.parse(shard) if shard else None,
                             scorer=scorer if workers <= 1 else None)  # fmt: skip
    except (BatchError, LockError) as err:
        _fail(str(err))
    failed = table[table["status"] == FAILED]
    typer.echo(f"{len(table)} recordings ({len(table) - len(failed)} analysed or already done, "
               f"{len(failed)} failed); index {out / 'index.html'}, table {out / 'recordings.csv'}")  # fmt: skip
    if len(failed):
        for r in failed.itertuples():
            typer.echo(f"  {r.file}: {r.error}", err=True)
        raise typer.Exit(ANALYZE_EXIT_FAILED)


@app.command("collect")
def collect(
    out: Annotated[Path, typer.Argument(help="The --out folder the shards of analyze wrote.")],
) -> None:
    """Rebuild OUT/recordings.csv and OUT/index.html from the tables of every finished shard of
    `iiic analyze --shard I/N` (each shard also does it when it ends); names unfinished shards."""
    from iiic.clinical.batch import BatchError
    from iiic.clinical.batch import collect as collect_shards

    try:
        table = collect_shards(out, say=lambda m: typer.echo(m, err=True))
    except BatchError as err:
        _fail(str(err))
    typer.echo(
        f"{len(table)} recordings; index {out / 'index.html'}, table {out / 'recordings.csv'}"
    )


# === end analyze ===
