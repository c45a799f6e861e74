"""The interactive review of report.html in headless Chromium: clicks, keys, event links and the
threshold sliders show the right moment; the embedded EEG decodes to the displayed signal."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.signal import resample_poly

from iiic.clinical.figures import IIICGRAM_AXES, display_bipolar
from iiic.clinical.pipeline import AnalyzeConfig, analyze_file
from iiic.clinical.review import EEG_SFREQ_HZ, PROB_DECIMALS, choose_eeg_windows
from iiic.clinical.summary import all_events
from iiic.clinical.timeline import Timeline
from iiic.constants import CLASSES, SFREQ_HZ
from iiic.predict.card import NO_CHECK


def _data(html_path) -> dict:
    text = html_path.read_text(encoding="utf-8")
    raw = re.search(
        r'<script type="application/json" id="iiic-review-data">(.*?)</script>', text, re.S
    )
    return json.loads(raw.group(1))


def _window(page) -> int:
    return int(page.locator("#review").get_attribute("data-window"))


def _click_window(page, timeline: Timeline, k: int) -> None:
    """Click the IIIC-gram image at the centre of window ``k`` (the time axis spans the axes)."""
    img = page.locator("#overview-img")
    box = img.bounding_box()
    frac = IIICGRAM_AXES["left"] + (IIICGRAM_AXES["right"] - IIICGRAM_AXES["left"]) * (
        timeline.table["center_s"].iloc[k] / timeline.duration_s
    )
    img.click(position={"x": box["width"] * frac, "y": box["height"] * 0.3})


def _events(timeline: Timeline, thresholds: dict[str, float]) -> list[tuple]:
    """Python's events (find_events) at per-pattern thresholds, on the page's rounded probabilities."""
    table = timeline.table.copy()
    table[list(CLASSES)] = np.round(table[list(CLASSES)].to_numpy(), PROB_DECIMALS)
    rounded = Timeline(table, timeline.stride_s, timeline.duration_s)
    frames = [all_events(rounded, t).query("pattern == @label") for label, t in thresholds.items()]
    ev = pd.concat(frames).sort_values(["start_s", "pattern"])
    return [(r.pattern, round(r.start_s, 3), int(r.n_windows)) for r in ev.itertuples()]


def _page_events(page) -> list[tuple]:
    rows = page.locator("#events tr[data-first]")
    return [(rows.nth(i).locator("td").first.inner_text(),
             round(float(rows.nth(i).get_attribute("data-start-s")), 3),
             int(rows.nth(i).get_attribute("data-n"))) for i in range(rows.count())]  # fmt: skip


@pytest.fixture(scope="module")
def review(analysed_edf, chromium):
    """The analysed recording's report open in Chromium: (page, timeline, review data)."""
    _, out, result = analysed_edf
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((out / "report.html").resolve().as_uri())
    assert page.locator("#review").get_attribute("data-ready") == "1"
    yield page, result.timeline, _data(out / "report.html")
    assert not errors, errors
    page.close()


def test_review_opens_on_the_strongest_event(review, analysed_edf) -> None:
    page, timeline, data = review
    events = pd.read_csv(analysed_edf[1] / "events.csv")
    first = int(np.argmin(np.abs(timeline.table["center_s"] - 5 - events["start_s"].iloc[0])))
    assert _window(page) == first
    assert page.locator("#review").get_attribute("data-top-class") == "Seizure"
    assert page.locator("#eeg").get_attribute("data-shown") == str(first)
    assert _page_events(page) == _events(timeline, dict.fromkeys(data["patterns"], 0.5))
    shot = analysed_edf[1] / "review.screenshot.png"
    page.locator("#review").screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000


def test_the_model_line_is_visible(review, analysed_edf) -> None:
    """A model without a card (here the stand-in scorer) is labelled as such in the header."""
    page = review[0]
    line = page.locator("#model-card")
    assert line.is_visible()
    assert line.inner_text() == f"Model: {NO_CHECK}"
    assert json.loads((analysed_edf[1] / "summary.json").read_text())["model"] == NO_CHECK


def test_a_click_shows_that_moment(review) -> None:
    page, timeline, _ = review
    for k in (3, 27):
        _click_window(page, timeline, k)
        assert _window(page) == k
        centre = timeline.table["center_time"].iloc[k].strftime("%Y-%m-%d %H:%M:%S")
        assert (
            f"Window {k + 1} of {len(timeline.table)} — centre {centre}"
            in page.locator("#sel-title").inner_text()
        )
        shown = [float(page.locator(f"#probs tr[data-class='{c}'] td.num").inner_text())
                 for c in ("Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other")]  # fmt: skip
        np.testing.assert_allclose(shown, timeline.probabilities[k], atol=5e-4)
        assert page.locator("#eeg").get_attribute("data-shown") == str(k)
        page_start = timeline.table["center_s"].iloc[k] - 7.5
        assert float(page.locator("#eeg").get_attribute("data-page-start-s")) == pytest.approx(
            page_start
        )
        assert page.url.endswith(f"#w={k}")


def test_keys_and_event_links_move_the_selection(review) -> None:
    page, timeline, _ = review
    _click_window(page, timeline, 5)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert _window(page) == 7
    page.keyboard.press("ArrowLeft")
    assert _window(page) == 6
    page.keyboard.press("End")
    assert _window(page) == len(timeline.table) - 1
    page.keyboard.press("Home")
    assert _window(page) == 0
    first = int(page.locator("#events tr[data-first]").first.get_attribute("data-first"))
    page.keyboard.press("PageDown")  # next event
    assert _window(page) == first
    page.keyboard.press("End")
    page.locator("#events a").first.click()  # the jump link of the event
    assert _window(page) == first and page.url.endswith(f"#w={first}")


def test_threshold_sliders_recompute_events(review) -> None:
    page, timeline, data = review
    before = _page_events(page)
    slider = page.locator("#thr-Seizure")
    slider.focus()
    for _ in range(38):  # 0.50 -> 0.12, one step of 0.01 per key, as a user would
        page.keyboard.press("ArrowLeft")
    assert page.locator("output[for='thr-Seizure']").inner_text() == "0.12"
    expected = _events(timeline, {**dict.fromkeys(data["patterns"], 0.5), "Seizure": 0.12})
    assert _page_events(page) == expected and expected != before
    minutes = page.locator("#minutes tr[data-pattern='Seizure'] td").nth(2).inner_text()
    seizure = np.round(timeline.table["seizure"].to_numpy(), PROB_DECIMALS)
    assert float(minutes) == pytest.approx((seizure >= 0.12).sum() * 10 / 60, abs=0.05)
    page.keyboard.press("End")  # keys on a focused slider move the slider, not the window
    assert page.locator("output[for='thr-Seizure']").inner_text() == "1.00"


def test_embedded_eeg_decodes_to_the_displayed_signal(analysed_edf) -> None:
    _, out, result = analysed_edf
    data = _data(out / "report.html")
    from iiic.clinical.edf import read_recording

    rec = read_recording(analysed_edf[0])
    seg = data["eeg"]["segments"][0]
    q = np.frombuffer(base64.b64decode(seg["data"]), np.int8).reshape(18, seg["n"])
    shown = q * np.asarray(seg["scale_uv"])[:, None]
    a = round(seg["start_s"] * SFREQ_HZ)
    ref = resample_poly(display_bipolar(rec.data, a, a + 2 * seg["n"]), 1, 2, axis=1)
    inside = np.abs(ref) < 127 * np.asarray(seg["scale_uv"])[:, None]  # not clipped
    assert inside.mean() > 0.99
    err = np.abs(shown - ref)[inside].max()
    assert err <= 0.51 * max(seg["scale_uv"])
    assert data["eeg"]["sfreq_hz"] == EEG_SFREQ_HZ and len(data["eeg"]["windows"]) == 32


def test_a_small_budget_embeds_the_event_first(
    analysed_edf, chromium, tmp_path, stand_in_scorer
) -> None:
    path, _, result = analysed_edf
    timeline = result.timeline
    chosen = choose_eeg_windows(timeline, 0.5, 60.0)
    seizure = np.flatnonzero(timeline.table["seizure"].to_numpy() >= 0.5)
    assert set(chosen) <= set(seizure) and len(chosen) == 5  # 15 + 4 x 10 s... within 60 s
    out = analyze_file(
        path, stand_in_scorer, tmp_path, config=AnalyzeConfig(max_pages=0, review_eeg_min=1.0)
    )
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(out.files["report_html"].resolve().as_uri())
        page.keyboard.press("Home")
        assert page.locator("#eeg").get_attribute("data-shown") == "none"
        button = page.locator("#eeg-nearest")
        assert button.is_visible() and "nearest window with EEG" in button.inner_text()
        button.click()
        assert _window(page) == min(_data(tmp_path / "report.html")["eeg"]["windows"])
        assert page.locator("#eeg").get_attribute("data-shown") == str(_window(page))
    finally:
        page.close()


def test_markup_in_a_file_name_cannot_swallow_the_review_script(
    tmp_path, edf_writer, make_background, tuh_labels, stand_in_scorer
) -> None:
    """Issue 26 item 9: a file name with '<!--<script>' put the HTML tokenizer of the embedded
    JSON into its 'escaped' state, so the review script became data (clicks did nothing)."""
    name = "x<!--<script>y.edf"
    data = make_background(len(tuh_labels), round(60 * 200), seed=3)
    path = edf_writer(tmp_path / name, data, 200.0, tuh_labels)
    out = tmp_path / "out"
    analyze_file(path, stand_in_scorer, out, config=AnalyzeConfig(max_pages=0))
    text = (out / "report.html").read_text(encoding="utf-8")
    raw = re.search(r'id="iiic-review-data">(.*?)</script>', text, re.S).group(1)
    assert "<" not in raw  # nothing the tokenizer could read as markup
    assert name in json.dumps(json.loads(raw), ensure_ascii=False)
    assert text.count("<script>") == 1 and "<script>" in text[text.index(raw) + len(raw) :]
