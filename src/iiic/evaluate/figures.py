"""PNG figures of an OOF evaluation (matplotlib, Agg backend): confusion, calibration, KL by group.

Each function takes an :class:`~iiic.evaluate.breakdown.Evaluation` and writes one PNG atomically.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from iiic.constants import CLASS_LABELS
from iiic.evaluate.breakdown import Evaluation
from iiic.utils import atomic_path

DPI = 110
"""Resolution of every figure, dots per inch."""
_BAR_COLOR = "#4C72B0"
_REF_COLOR = "#C44E52"


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_confusion(ev: Evaluation, path: Path) -> Path:
    """Row-normalised confusion matrix (true consensus × predicted argmax), % and counts in cells."""
    counts = ev.confusion
    row_sum = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, row_sum, out=np.zeros_like(counts, dtype=float), where=row_sum > 0)
    fig, ax = plt.subplots(figsize=(7.5, 6.2))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(CLASS_LABELS)):
        for j in range(len(CLASS_LABELS)):
            color = "white" if frac[i, j] > 0.55 else "black"
            ax.text(j, i, f"{frac[i, j]:.0%}\n{counts[i, j]:,}", ha="center", va="center",
                    fontsize=9, color=color)  # fmt: skip
    ticks = range(len(CLASS_LABELS))
    ax.set_xticks(ticks, CLASS_LABELS)
    ax.set_yticks(
        ticks, [f"{c}\n(n={n:,})" for c, n in zip(CLASS_LABELS, row_sum[:, 0], strict=True)]
    )
    ax.set_xlabel("Predicted class (argmax of the prediction)")
    ax.set_ylabel("Expert consensus (argmax of the votes)")
    ax.set_title(f"Confusion matrix — accuracy {ev.accuracy:.1%} on {ev.n_rows:,} rows\n"
                 "(each row sums to 100%; cells: share of the row and count)")  # fmt: skip
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return _save(fig, path)


def plot_calibration(ev: Evaluation, path: Path) -> Path:
    """Reliability diagram per class: mean vote fraction vs mean predicted probability per bin."""
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.2), sharex=True, sharey=True)
    table = ev.calibration
    for ax, label in zip(axes.ravel(), CLASS_LABELS, strict=True):
        part = table[(table["class"] == label) & (table["n"] > 0)]
        centers = (part["lo"] + part["hi"]) / 2
        width = float((part["hi"] - part["lo"]).iloc[0]) if len(part) else 0.1
        share = part["n"] / part["n"].sum()
        ax.bar(centers, share, width=width * 0.9, color="#BBBBBB", label="share of rows in bin")
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
        ax.plot(part["mean_pred"], part["mean_true"], "o-", color=_BAR_COLOR,
                label="mean vote fraction")  # fmt: skip
        ax.set_title(f"{label}  (ECE {ev.ece[label]:.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("Predicted probability")
    for ax in axes[:, 0]:
        ax.set_ylabel("Observed vote fraction")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Calibration per class — mean ECE {ev.ece['mean']:.3f} (below the diagonal = "
                 "class over-predicted)", fontsize=13)  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


def _bars(ax, table, title: str, overall: float) -> None:
    """One horizontal bar chart of mean KL per group, n and share of total KL on each bar."""
    names = [str(g) for g in table["group"]][::-1]
    values = table["kl"].to_numpy()[::-1]
    ax.barh(names, values, color=_BAR_COLOR)
    ax.axvline(overall, color=_REF_COLOR, ls="--", lw=1.2, label=f"overall {overall:.3f}")
    for y, (v, n, s) in enumerate(
        zip(values, table["n"].to_numpy()[::-1], table["share_kl"].to_numpy()[::-1], strict=True)
    ):
        ax.text(v, y, f" {v:.3f}  (n={n:,}, {s:.0%} of KL)", va="center", fontsize=8.5)
    ax.set_xlim(0, max(values.max(), overall) * 1.8 if len(values) else 1)
    ax.set_xlabel("Mean KL divergence (nats, lower is better)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)


def plot_kl_breakdown(ev: Evaluation, path: Path) -> Path:
    """Mean KL by vote-quality bin, agreement category and true class (three panels)."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    _bars(axes[0], ev.by_quality, "By number of votes (quality bin)", ev.kl)
    _bars(axes[1], ev.by_agreement, "By expert agreement", ev.kl)
    _bars(axes[2], ev.by_class, "By expert consensus (true class)", ev.kl)
    fig.suptitle(f"Where the KL comes from — overall {ev.kl:.4f} on {ev.n_rows:,} rows",
                 fontsize=13)  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


def write_figures(ev: Evaluation, out_dir: Path) -> dict[str, Path]:
    """All figures of a report → {name: path}."""
    out_dir = Path(out_dir)
    return {
        "kl_breakdown": plot_kl_breakdown(ev, out_dir / "kl_breakdown.png"),
        "confusion": plot_confusion(ev, out_dir / "confusion.png"),
        "calibration": plot_calibration(ev, out_dir / "calibration.png"),
    }
