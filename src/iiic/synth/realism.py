"""Realism check of the twin against real HMS / IIIC segments (``iiic synth --report``).

For 50-s windows of each class it measures, on the real segments (``iiic-real-segments`` with
their expert votes, plus the labelled HMS file in ``hms-train-signals``) and on the twin's
windows whose true distribution is dominated by one class:

- amplitude: median over electrodes of the demeaned RMS, µV;
- relative band powers (delta 0.5-4, theta 4-8, alpha 8-13, beta 13-30 Hz) per bipolar chain;
- left/right asymmetry: |log10| of the left/right chain power ratio (0.5-20 Hz);
- periodicity: the highest autocorrelation of the chain signal (0.5-20 Hz) at lags 0.3-2.5 s;
- sharpness: the kurtosis of the first difference (periodic discharges are spiky, RDA is not);

and the morphology that defines the patterns (ACNS 2021), which band powers cannot see:

- discharge rate and regularity: the lag (as a rate, Hz) and height of the autocorrelation peak
  (lags 0.3-2.5 s) of the discharge envelope (|first difference|, smoothed over 50 ms, summed
  over the chains): periodic discharges repeat at 0.5-3 Hz;
- lateralisation: the largest |log10| left/right power ratio over the 8 homologous chain pairs
  (Fp1-F7 vs Fp2-F8, ...), which sees a regional field that whole-hemisphere powers dilute;
- delta rhythmicity: the peak of the 0.5-4 Hz spectrum over its mean (a sharp peak: rhythmic);
- evolution: |log| of the ratio of the dominant frequency (1-12 Hz) and of the amplitude in the
  last vs the first 20 s of the window (seizures evolve).

It writes ``realism.json`` (per-class numbers and whether the synthetic medians fall inside the
real range) and ``realism.png`` (the numbers) + ``realism_traces.png`` (one real and one
synthetic window per class in the double-banana montage).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.signal
import scipy.stats

from iiic import constants
from iiic.signal.kaggle_spec import chain_matrix
from iiic.synth.twin import TRUE_COLUMNS
from iiic.utils import write_json_atomic

SFREQ = constants.SFREQ_HZ
BANDS_HZ: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0),
}  # fmt: skip
ACF_LAGS_S = (0.3, 2.5)
"""Lag range searched for the periodicity peak, s."""
DOMINANT_SHARE = 0.7
"""A twin window represents a class when its true share of that class is at least this."""
WINDOWS_PER_CLASS = 40
"""Twin windows measured per class (at most)."""
METRICS = ("rms_uv", "delta", "theta", "alpha", "beta", "asymmetry", "acf_peak", "sharpness",
           "pd_rate_hz", "pd_regularity", "lateralization", "delta_rhythmicity", "evolution_freq",
           "evolution_amp")  # fmt: skip
EVOLUTION_S = 20.0
"""Length of the first and last stretch compared for evolution, s."""
_CHAIN_M = chain_matrix()


def default_real_data() -> Path:
    """$IIIC_SHARED_DATA, else ../shared/data next to the working directory's repository."""
    env = os.environ.get("IIIC_SHARED_DATA")
    return Path(env) if env else Path.cwd().parent / "shared" / "data"


def window_features(x: np.ndarray) -> dict[str, Any]:
    """Features of one referential window ``x`` (20, n) µV (NaN filled by 0)."""
    x = np.nan_to_num(np.asarray(x, np.float64))
    eeg = x[: len(constants.ELECTRODES)]
    rms = float(np.median(np.std(eeg - eeg.mean(axis=1, keepdims=True), axis=1)))
    sos = scipy.signal.butter(4, [0.5, 20.0], btype="band", fs=SFREQ, output="sos")
    bip = scipy.signal.sosfiltfilt(sos, _CHAIN_M @ x, axis=1)  # (16, n)
    f, pxx = scipy.signal.welch(_CHAIN_M @ x, fs=SFREQ, nperseg=512, axis=1)
    chains = pxx.reshape(4, 4, -1).mean(axis=1)  # (4 chains, f)
    band = {b: chains[:, (f >= lo) & (f < hi)].sum(axis=1) for b, (lo, hi) in BANDS_HZ.items()}
    total = sum(band.values())
    rel = {b: (v / total) for b, v in band.items()}  # (4,) per chain each
    p = (bip**2).mean(axis=1).reshape(4, 4).mean(axis=1)
    asym = float(abs(np.log10((p[0] + p[2]) / (p[1] + p[3]))))
    return {
        "rms_uv": rms,
        **{b: float(np.median(v)) for b, v in rel.items()},
        "bands_per_chain": {b: v.tolist() for b, v in rel.items()},
        "asymmetry": asym,
        "acf_peak": _acf_peak(bip),
        "sharpness": float(np.median(scipy.stats.kurtosis(np.diff(bip, axis=1), axis=1))),
        **morphology(bip),
    }


def morphology(bip: np.ndarray) -> dict[str, float]:
    """Morphology features of band-passed chain signals ``bip`` (16, n) µV (module docstring)."""
    env = np.abs(np.diff(bip, axis=1)).sum(axis=0)
    k = round(0.05 * SFREQ)
    env = np.convolve(env, np.ones(k) / k, mode="same")
    env = env - env.mean()
    n = len(env)
    acf = np.fft.irfft(np.abs(np.fft.rfft(env, n=2 * n)) ** 2)[:n]
    acf = acf / max(acf[0], 1e-12)
    lo, hi = (round(s * SFREQ) for s in ACF_LAGS_S)
    peaks = scipy.signal.argrelmax(acf[lo:hi])[0]
    best = peaks[np.argmax(acf[lo:hi][peaks])] if len(peaks) else None
    power = (bip**2).mean(axis=1).reshape(4, 4)  # LL, RL, LP, RP x 4 pairs
    li = np.log10(np.concatenate([power[0] / power[1], power[2] / power[3]]))
    f, pxx = scipy.signal.welch(bip, fs=SFREQ, nperseg=min(n, 1024), axis=1)
    delta = pxx[:, (f >= 0.5) & (f <= 4.0)].mean(axis=0)
    m = round(EVOLUTION_S * SFREQ)
    ends = [bip[:, :m], bip[:, -m:]]
    dom = []
    for seg in ends:
        fs, ps = scipy.signal.welch(seg, fs=SFREQ, nperseg=512, axis=1)
        band = (fs >= 1.0) & (fs <= 12.0)
        dom.append(fs[band][np.argmax(ps[:, band].mean(axis=0))])
    amp = [float(np.sqrt((seg**2).mean())) for seg in ends]
    return {
        "pd_rate_hz": float(SFREQ / (lo + best)) if best is not None else float("nan"),
        "pd_regularity": float(acf[lo + best]) if best is not None else 0.0,
        "lateralization": float(np.abs(li).max()),
        "delta_rhythmicity": float(delta.max() / max(delta.mean(), 1e-12)),
        "evolution_freq": float(abs(np.log(dom[1] / dom[0]))),
        "evolution_amp": float(abs(np.log(max(amp[1], 1e-6) / max(amp[0], 1e-6)))),
    }


def _acf_peak(bip: np.ndarray) -> float:
    """Highest autocorrelation at lags ACF_LAGS_S of the chain signals (median over channels)."""
    n = bip.shape[1]
    spec = np.fft.rfft(bip - bip.mean(axis=1, keepdims=True), n=2 * n, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :n]
    acf = acf / np.maximum(acf[:, :1], 1e-12)
    lo, hi = (round(s * SFREQ) for s in ACF_LAGS_S)
    seg = acf[:, lo:hi]
    # a peak, not the decaying shoulder of lag 0: require a local maximum
    peaks = [s[scipy.signal.argrelmax(s)[0]].max() if len(scipy.signal.argrelmax(s)[0]) else 0.0
             for s in seg]  # fmt: skip
    return float(np.median(peaks))


def _read_eeg(path: Path) -> np.ndarray:
    return pd.read_parquet(path).to_numpy(np.float32).T


def real_windows(real_dir: Path) -> list[tuple[str, str, np.ndarray]]:
    """(class, name, window (20, 10000)) for each labelled real segment found."""
    out = []
    seg_dir = real_dir / "iiic-real-segments"
    if (seg_dir / "train.csv").exists():
        df = pd.read_csv(seg_dir / "train.csv")
        for row in df.itertuples():
            votes = np.array([getattr(row, c) for c in constants.VOTE_COLUMNS])
            x = _read_eeg(seg_dir / "train_eegs" / f"{row.eeg_id}.parquet")
            out.append((constants.CLASSES[int(votes.argmax())], str(row.source_name), x))
    hms = real_dir / "hms-train-signals" / "train_eegs" / "1628180742.parquet"
    if hms.exists():  # 9 Seizure windows (3/3 votes): use offsets 0 and 40 s
        x = _read_eeg(hms)
        for off in (0, 40):
            s = round(off * SFREQ)
            out.append(("seizure", f"hms1628180742@{off}s", x[:, s : s + 10000]))
    return out


def twin_windows(twin_dir: Path, seed: int = 0) -> list[tuple[str, str, np.ndarray]]:
    """Windows of the twin dominated by one class (at most WINDOWS_PER_CLASS per class)."""
    train = pd.read_csv(twin_dir / "train.csv")
    truth = pd.read_parquet(twin_dir / "truth.parquet")
    df = train.merge(truth[["eeg_id", "eeg_sub_id", *TRUE_COLUMNS]], on=["eeg_id", "eeg_sub_id"])
    rng = np.random.default_rng(seed)
    out = []
    for k, cls in enumerate(constants.CLASSES):
        sel = df[df[TRUE_COLUMNS[k]] >= DOMINANT_SHARE]
        sel = sel.drop_duplicates("eeg_id")
        sel = sel.iloc[rng.permutation(len(sel))[:WINDOWS_PER_CLASS]]
        for row in sel.itertuples():
            x = _read_eeg(twin_dir / "train_eegs" / f"{row.eeg_id}.parquet")
            s = round(row.eeg_label_offset_seconds * SFREQ)
            out.append((cls, f"{row.eeg_id}/{row.eeg_sub_id}", x[:, s : s + 10000]))
    return out


def summarise(windows: list[tuple[str, str, np.ndarray]]) -> pd.DataFrame:
    """One row of features per window (columns class, name + METRICS)."""
    rows = []
    for cls, name, x in windows:
        feats = window_features(x)
        rows.append({"class": cls, "name": name, **{m: feats[m] for m in METRICS}})
    return pd.DataFrame(rows)


def plot_traces(
    real: list[tuple[str, str, np.ndarray]],
    synth: list[tuple[str, str, np.ndarray]],
    path: Path,
    seconds: float = 15.0,
) -> Path:
    """One real and one synthetic window per class, double banana, central ``seconds`` s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(6, 2, figsize=(16, 26), sharex=True)
    n = round(seconds * SFREQ)
    t = np.arange(n) / SFREQ
    names = ["-".join(p) for p in constants.BIPOLAR_PAIRS]
    for k, cls in enumerate(constants.CLASSES):
        for j, (label, pool) in enumerate((("real", real), ("synthetic", synth))):
            ax = axes[k, j]
            match = [w for w in pool if w[0] == cls]
            if not match:
                ax.set_title(f"{label} {cls}: none")
                continue
            _, name, x = match[0]
            start = (x.shape[1] - n) // 2
            bip = _CHAIN_M @ np.nan_to_num(x[:, start : start + n])
            bip = bip - bip.mean(axis=1, keepdims=True)
            gap = 150.0
            for i in range(len(bip)):
                ax.plot(t, bip[i] - i * gap, lw=0.5, color="k")
            ax.set_yticks(-gap * np.arange(len(bip)), names, fontsize=6)
            ax.set_ylim(-gap * len(bip), gap)
            ax.set_title(
                f"{label} {constants.CLASS_LABELS[k]} ({name}); 150 µV/division", fontsize=9
            )
    axes[-1, 0].set_xlabel("time, s")
    axes[-1, 1].set_xlabel("time, s")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def compare(real: pd.DataFrame, synth: pd.DataFrame) -> dict[str, Any]:
    """Per class and metric: real values and range, synthetic median/10th/90th percentiles,
    whether the synthetic median lies inside the real range of that class (``inside``) or of
    all real segments (``inside_any_class``), and whether each real value lies inside the
    synthetic 5-95 % range of its class (``real_inside_synth_p5_p95``)."""
    out: dict[str, Any] = {}
    for cls in constants.CLASSES:
        r, s = real[real["class"] == cls], synth[synth["class"] == cls]
        out[cls] = {"n_real": len(r), "n_synth": len(s)}
        for m in METRICS:
            med = float(s[m].median()) if len(s) else None
            lo, hi = (float(r[m].min()), float(r[m].max())) if len(r) else (None, None)
            out[cls][m] = {
                "real": [round(float(v), 4) for v in r[m]],
                "synth_median": med,
                "synth_p10_p90": [float(s[m].quantile(0.1)), float(s[m].quantile(0.9))]
                if len(s) else None,
                "inside": bool(lo is not None and med is not None and lo <= med <= hi),
                "inside_any_class": bool(med is not None and real[m].min() <= med <= real[m].max()),
            }  # fmt: skip
    n_cells = len(constants.CLASSES) * len(METRICS)
    cells = [out[c][m] for c in constants.CLASSES for m in METRICS]
    out["share_inside_class_range"] = sum(v["inside"] for v in cells) / n_cells
    out["share_inside_any_class_range"] = sum(v["inside_any_class"] for v in cells) / n_cells
    # the converse question, better posed with 1-5 real segments per class: is each real value
    # a plausible draw from the twin's windows of its class (inside their 5-95 % range)?
    covered = []
    for cls in constants.CLASSES:
        r, s = real[real["class"] == cls], synth[synth["class"] == cls]
        if not len(s):
            continue
        for m in METRICS:
            lo, hi = s[m].quantile([0.05, 0.95])
            hits = [bool(lo <= v <= hi) for v in r[m]]
            out[cls][m]["real_inside_synth_p5_p95"] = hits
            covered += hits
    out["share_real_inside_synth_p5_p95"] = float(np.mean(covered)) if covered else 0.0
    return out


def plot_metrics(real: pd.DataFrame, synth: pd.DataFrame, path: Path) -> Path:
    """One panel per metric: synthetic per-class box plots with the real segments as red dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 7, figsize=(30, 8))
    for ax, m in zip(axes.ravel(), METRICS, strict=True):
        data = [synth.loc[synth["class"] == c, m].to_numpy() for c in constants.CLASSES]
        ax.boxplot(data, showfliers=False)
        for i, c in enumerate(constants.CLASSES):
            v = real.loc[real["class"] == c, m].to_numpy()
            ax.plot(np.full(len(v), i + 1), v, "o", color="tab:red", ms=5, alpha=0.8)
        ax.set_xticks(range(1, 7), constants.CLASS_LABELS, fontsize=8)
        ax.set_title(m)
        if m in ("rms_uv", "sharpness"):
            ax.set_yscale("symlog" if m == "sharpness" else "log")
    fig.suptitle("synthetic windows (boxes: 10-90 %) vs real segments (red dots)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def realism_report(
    twin_dir: str | Path, real_dir: str | Path, out_dir: str | Path
) -> tuple[Path, Path]:
    """Compare a twin with the real segments; write realism.png, realism_traces.png, realism.json.

    Returns the metrics figure and the JSON paths.
    """
    twin_dir, real_dir, out = Path(twin_dir), Path(real_dir), Path(out_dir)
    real_w = real_windows(real_dir)
    if not real_w:
        raise ValueError(f"{real_dir}: no real segments found (expected iiic-real-segments/)")
    synth_w = twin_windows(twin_dir)
    real, synth = summarise(real_w), summarise(synth_w)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_metrics(real, synth, out / "realism.png")
    plot_traces(real_w, synth_w, out / "realism_traces.png")
    result = {
        "twin": str(twin_dir), "real_data": str(real_dir), "metrics": list(METRICS),
        "bands_hz": BANDS_HZ, "by_class": compare(real, synth),
        "bands_per_chain_synth_median": _bands_per_chain(synth_w),
        "bands_per_chain_real_median": _bands_per_chain(real_w),
    }  # fmt: skip
    js = write_json_atomic(out / "realism.json", result)
    return png, js


def _bands_per_chain(windows: list[tuple[str, str, np.ndarray]]) -> dict[str, Any]:
    """Median relative band power per class, band and chain (LL, RL, LP, RP)."""
    acc: dict[str, dict[str, list]] = {}
    for cls, _, x in windows:
        f = window_features(x)["bands_per_chain"]
        for b, v in f.items():
            acc.setdefault(cls, {}).setdefault(b, []).append(v)
    return {
        c: {b: dict(zip(constants.SPEC_CHAINS, np.median(v, axis=0).round(4).tolist(), strict=True))
            for b, v in d.items()}
        for c, d in acc.items()
    }  # fmt: skip
