"""The clinical report's interactive review: page size, its parts, and how fast Chromium opens it.

Measures an existing ``report.html`` (default: the demo's, ``demo/recording/analysis``; 1 h,
356 windows, the default 30 min of EEG embedded): its size and parts (the review's data, the
embedded EEG, the PNG figures), and in headless Chromium (Debian's package driven by Playwright)
the wall time from navigation until the review is ready and from a key press (→) until the next
window is drawn (median of 20). Baseline, same run: the same page with its embedded EEG removed.

The size for a longer recording follows from the layout, stated as an extrapolation (not
measured): the EEG stays capped at ``review_eeg_min``, the figures keep their size, and only the
per-window data grows (probabilities and flags, bytes per window measured here).
``--screenshot`` also writes ``docs/img/review.png`` (the README's picture) from the same report.
Writes benchmarks/results/review_page.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from iiic.utils import machine_info, write_json_atomic
from readme_table import Load, Rows

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "review_page.json"
SCREENSHOT = HERE.parent / "docs" / "img" / "review.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
MIB = 2**20


def _parts(html: str) -> dict[str, float]:
    """MiB of the review data (and its EEG) and of the embedded PNGs in a report."""
    data = re.search(r'id="iiic-review-data">(.*?)</script>', html, re.S)
    review = json.loads(data.group(1)) if data else {"eeg": {"segments": []}}
    eeg = sum(len(s["data"]) for s in review["eeg"]["segments"])
    pngs = sum(len(m) for m in re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]+", html))
    return {"report_mib": len(html.encode()) / MIB,
            "review_data_mib": (len(data.group(1)) if data else 0) / MIB,
            "embedded_eeg_mib": eeg / MIB, "png_figures_mib": pngs / MIB,
            "embedded_eeg_s": sum(s["n"] for s in review["eeg"]["segments"])
            / review["eeg"].get("sfreq_hz", 100.0)}  # fmt: skip


def _browser_timings(report: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(report.resolve().as_uri(), timeout=600_000)
        page.wait_for_selector("#review[data-ready='1']", timeout=600_000)
        open_s = time.perf_counter() - t0
        steps = []
        for _ in range(20):
            before = page.locator("#review").get_attribute("data-window")
            t0 = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "w => document.getElementById('review').dataset.window !== w",
                arg=before,
                timeout=600_000,
            )
            steps.append(time.perf_counter() - t0)
        browser.close()
    return {"open_until_ready_s": open_s, "next_window_median_s": statistics.median(steps)}


def _screenshot(report: Path) -> None:
    """The README's picture: the review section of ``report`` at the strongest event."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=ARGS)
        page = browser.new_page(viewport={"width": 1250, "height": 1000})
        page.goto(report.resolve().as_uri(), timeout=600_000)
        page.wait_for_selector("#review[data-ready='1']", timeout=600_000)
        box = page.locator("#review").bounding_box()
        end = page.locator("#eeg-note").bounding_box()
        clip = {"x": box["x"], "y": box["y"], "width": box["width"],
                "height": end["y"] + end["height"] - box["y"] + 8}  # fmt: skip
        page.screenshot(path=str(SCREENSHOT), clip=clip, full_page=True)
        browser.close()
    from PIL import Image  # a palette PNG: a quarter of the size, for the repository

    Image.open(SCREENSHOT).convert("RGB").quantize(256).save(SCREENSHOT, optimize=True)
    print(f"wrote {SCREENSHOT}")


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=HERE, check=False)  # fmt: skip
    return out.stdout.strip() or "unknown"


def _strip_eeg(html: str) -> str:
    """The same page with no embedded EEG segments (the baseline)."""
    m = re.search(r'(id="iiic-review-data">)(.*?)(</script>)', html, re.S)
    data = json.loads(m.group(2))
    data["eeg"]["segments"], data["eeg"]["windows"] = [], []
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return html[: m.start(2)] + text + html[m.end(2) :]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", type=Path, default=Path("demo/recording/analysis/report.html"))
    ap.add_argument("--screenshot", action="store_true", help="write docs/img/review.png")
    ap.add_argument("--extrapolate-hours", type=float, default=24.0)
    args = ap.parse_args()
    if args.screenshot:
        _screenshot(args.report)
    load_start = os.getloadavg()[0]
    html = args.report.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="iiic-review-data">(.*?)</script>', html, re.S).group(1))
    n = data["n_windows"]
    per_window = len(json.dumps({k: data[k] for k in ("probs", "flag_bits", "flag_text")},
                                separators=(",", ":"))) / n  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "report_without_eeg.html"
        base.write_text(_strip_eeg(html), encoding="utf-8")
        with_eeg = {**_parts(html), **_browser_timings(args.report)}
        without = {**_parts(base.read_text(encoding="utf-8")), **_browser_timings(base)}
    windows_long = round(args.extrapolate_hours * 3600 / data["stride_s"]) - 4
    long_mib = with_eeg["report_mib"] + (windows_long - n) * per_window / MIB
    write_json_atomic(RESULTS, {
        "benchmark": "review_page", "commit": _commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "report": args.report.name, "hours": data["duration_s"] / 3600,
        "windows": n, "review_eeg_min": data["eeg"]["budget_s"] / 60,
        "load_avg_1min_at_start": load_start, "with_eeg": with_eeg,
        "baseline_without_eeg": without, "per_window_bytes": per_window,
        "extrapolated": {"hours": args.extrapolate_hours, "windows": windows_long,
                         "report_mib": long_mib,
                         "how": "measured page + per-window bytes x extra windows; EEG capped"},
        "machine": machine_info(),
    })  # fmt: skip
    print(f"{args.report}: {with_eeg['report_mib']:.2f} MiB ({with_eeg['embedded_eeg_s'] / 60:.0f} "
          f"min of EEG: {with_eeg['embedded_eeg_mib']:.2f} MiB, PNGs {with_eeg['png_figures_mib']:.2f} "
          f"MiB), ready in {with_eeg['open_until_ready_s']:.2f} s, next window "
          f"{with_eeg['next_window_median_s'] * 1000:.0f} ms; without EEG {without['report_mib']:.2f} "
          f"MiB, ready in {without['open_until_ready_s']:.2f} s; {args.extrapolate_hours:g} h "
          f"({windows_long} windows): about {long_mib:.1f} MiB (extrapolated)")  # fmt: skip
    print(f"wrote {RESULTS}")


def readme_rows(load: Load) -> Rows:
    """Result row of review_page.json: the interactive report's size and time to ready."""
    rev = load("review_page")
    if not rev:
        return {}
    w, b, x = rev["with_eeg"], rev["baseline_without_eeg"], rev["extrapolated"]
    return {"speed": [(f"clinical `report.html` with the interactive review, {rev['hours']:.0f}-h "
                       f"demo recording ({rev['review_eeg_min']:.0f} min of EEG embedded)",
                       f"{w['report_mib']:.1f} MiB, ready in {w['open_until_ready_s']:.0f} s",
                       f"same page without EEG: {b['report_mib']:.1f} MiB, ready in "
                       f"{b['open_until_ready_s']:.0f} s; {x['hours']:.0f} h: about "
                       f"{x['report_mib']:.1f} MiB (extrapolated: EEG capped, "
                       f"{rev['per_window_bytes']:.0f} B per window)",
                       f"`benchmarks/review_page.py`: headless Chromium at nice 10, load average "
                       f"{rev['load_avg_1min_at_start']:.0f} on 2 cores (an upper bound); next window "
                       f"drawn in {w['next_window_median_s']:.1f} s")]}  # fmt: skip


if __name__ == "__main__":
    main()
