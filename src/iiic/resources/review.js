/* iiic interactive review (inlined into report.html; data: iiic/clinical/review.py).
   No libraries, no network. Overview: the IIIC-gram image + a strip of windows at or above each
   pattern's threshold; a click or the keys select a window; its probabilities and EEG page are
   drawn; events (runs of consecutive windows >= threshold, not across an EDF+D gap, as
   iiic.clinical.summary.find_events)
   are listed with jump links (#w=<window>). */
(function () {
  "use strict";
  const root = document.getElementById("review");
  const D = JSON.parse(document.getElementById("iiic-review-data").textContent);
  const $ = (id) => document.getElementById(id);
  const N = D.n_windows, K = D.classes.length, P = D.probs, E = D.eeg;
  const patternIdx = D.patterns.map((label) => D.classes.indexOf(label));
  const thr = D.patterns.map(() => D.threshold);
  const start = D.start ? new Date(D.start + "Z") : null; // clock time, formatted as UTC
  const MAX_EVENT_ROWS = 500, ROW_PX = 12, NICE_UV = [20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 2000, 5000];
  const segments = E.segments.map((s) => Object.assign({ q: null, end_s: s.start_s + s.n / E.sfreq_hz }, s));
  const embedded = new Set(E.windows);
  let sel = 0;

  const C = D.centers_s; // window centres where EDF+D gaps break the regular grid, else null
  const center = (k) => (C ? C[k] : D.first_center_s + k * D.stride_s);
  const prob = (k, c) => P[k * K + c];
  const clampK = (k) => Math.max(0, Math.min(N - 1, k));
  function windowAt(t) {
    if (!C) return clampK(Math.round((t - D.first_center_s) / D.stride_s));
    let lo = 0, hi = N - 1; // the window whose centre is nearest to t
    while (lo < hi) { const m = (lo + hi) >> 1; if (C[m] < t) lo = m + 1; else hi = m; }
    return lo > 0 && t - C[lo - 1] < C[lo] - t ? lo - 1 : lo;
  }
  const joined = (k) => center(k) - center(k - 1) <= 1.5 * D.stride_s; // no gap before window k
  const axX = (t) => D.axes.left + (D.axes.right - D.axes.left) * (t / D.duration_s); // figure fraction
  const timeAt = (frac) => ((frac - D.axes.left) / (D.axes.right - D.axes.left)) * D.duration_s;

  function hms(s) {
    s = Math.max(0, s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
    return `${h}:${String(m).padStart(2, "0")}:${x.toFixed(1).padStart(4, "0")}`;
  }
  function clock(s) {
    if (!start) return `${hms(s)} after the start`;
    const d = new Date(start.getTime() + s * 1000);
    return `${d.toISOString().slice(0, 19).replace("T", " ")} (${hms(s)} after the start)`;
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /* ---- events: runs of consecutive windows >= the pattern's threshold ---- */
  function events() {
    const out = [];
    patternIdx.forEach((c, j) => {
      for (let k = 0; k < N; ) {
        if (prob(k, c) < thr[j]) { k++; continue; }
        let e = k, mx = 0, sum = 0;
        for (; e < N && prob(e, c) >= thr[j] && (e === k || joined(e)); e++) { mx = Math.max(mx, prob(e, c)); sum += prob(e, c); }
        const s = Math.max(0, center(k) - D.stride_s / 2), en = Math.min(D.duration_s, center(e - 1) + D.stride_s / 2);
        out.push({ pattern: D.patterns[j], first: k, last: e - 1, start_s: s, end_s: en, n: e - k, max: mx, mean: sum / (e - k) });
        k = e;
      }
    });
    return out.sort((a, b) => a.start_s - b.start_s || D.patterns.indexOf(a.pattern) - D.patterns.indexOf(b.pattern));
  }

  /* ---- overview: cursor over the IIIC-gram, strip of windows >= threshold ---- */
  function drawCursor() {
    const cur = $("cursor"), a = Math.max(0, center(sel) - D.label_s / 2);
    cur.style.left = `${axX(a) * 100}%`;
    cur.style.width = `${Math.max(0.15, (axX(D.label_s) - D.axes.left) * 100)}%`;
    cur.style.top = `${(1 - D.axes.top) * 100}%`;
    cur.style.height = `${(D.axes.top - D.axes.bottom) * 100}%`;
  }
  function drawStrip() {
    const cv = $("strip"), dpr = window.devicePixelRatio || 1;
    const W = cv.clientWidth, rows = D.patterns.length + 1, H = rows * ROW_PX + 4;
    cv.width = W * dpr; cv.height = H * dpr; cv.style.height = `${H}px`;
    const g = cv.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, W, H);
    const x0 = D.axes.left * W, pw = (D.axes.right - D.axes.left) * W;
    const xs = (t) => x0 + (pw * t) / D.duration_s;
    g.font = "10px sans-serif"; g.textAlign = "right"; g.textBaseline = "middle";
    const label = (text, y) => { g.fillStyle = "#333"; g.fillText(text, x0 - 4, y + ROW_PX / 2); };
    patternIdx.forEach((c, j) => {
      const y = j * ROW_PX;
      g.fillStyle = "#f4f4f4"; g.fillRect(x0, y + 1, pw, ROW_PX - 2);
      g.fillStyle = D.colors[c];
      for (let k = 0; k < N; k++) {
        if (prob(k, c) < thr[j]) continue;
        const a = xs(center(k) - D.stride_s / 2), b = xs(center(k) + D.stride_s / 2);
        g.fillRect(a, y + 1, Math.max(1, b - a), ROW_PX - 2);
      }
      label(`${D.patterns[j]} ≥ ${thr[j].toFixed(2)}`, y);
    });
    const y = D.patterns.length * ROW_PX;
    g.fillStyle = "#888";
    for (const s of segments) g.fillRect(xs(s.start_s), y + 3, Math.max(1, xs(s.end_s) - xs(s.start_s)), ROW_PX - 6);
    label("EEG in page", y);
    g.fillStyle = "#000";
    g.fillRect(xs(center(sel)) - 1, 0, 2, H);
  }

  /* ---- the selected window ---- */
  function drawProbs() {
    const t = $("probs");
    t.replaceChildren();
    let top = 0;
    for (let c = 1; c < K; c++) if (prob(sel, c) > prob(sel, top)) top = c;
    for (let c = 0; c < K; c++) {
      const p = prob(sel, c), j = patternIdx.indexOf(c), tr = el("tr", { "data-class": D.classes[c] });
      if (c === top) tr.className = "top";
      tr.append(el("td", {}, D.classes[c]));
      const bar = el("td", { class: "bar" }), fill = el("div");
      fill.style.width = `${p * 100}%`; fill.style.background = D.colors[c];
      bar.append(fill); tr.append(bar, el("td", { class: "num" }, p.toFixed(3)));
      tr.append(el("td", { class: "note" }, j >= 0 && p >= thr[j] ? "≥ threshold" : ""));
      t.append(tr);
    }
    const bits = D.flag_bits[sel], names = D.flag_names.filter((_, i) => bits & (1 << i));
    $("sel-flags").textContent = names.length ? `quality flags: ${D.flag_text[sel] || names.join(", ")}` : "no quality flag";
    $("sel-title").textContent = `Window ${sel + 1} of ${N} — centre ${clock(center(sel))} — top class ${D.classes[top]} (${prob(sel, top).toFixed(2)})`;
    root.dataset.window = String(sel);
    root.dataset.topClass = D.classes[top];
  }
  function pageSegment(a, b) {
    return segments.find((s) => s.start_s <= a + 0.02 && s.end_s >= b - 0.02);
  }
  function decode(s) {
    if (!s.q) {
      const bin = atob(s.data), q = new Int8Array(bin.length);
      for (let i = 0; i < bin.length; i++) q[i] = (bin.charCodeAt(i) << 24) >> 24;
      s.q = q;
    }
    return s.q;
  }
  function nearestEmbedded(k) {
    let best = -1;
    for (const w of E.windows) if (best < 0 || Math.abs(w - k) < Math.abs(best - k)) best = w;
    return best;
  }
  function drawEEG() {
    const cv = $("eeg"), dpr = window.devicePixelRatio || 1, nCh = E.channels.length;
    const nGroups = Math.max(...E.groups) + 1, W = cv.clientWidth, H = 620;
    cv.width = W * dpr; cv.height = H * dpr; cv.style.height = `${H}px`;
    const g = cv.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, W, H);
    const c = center(sel), a = Math.max(0, c - D.page_s / 2), b = Math.min(D.duration_s, c + D.page_s / 2);
    const seg = pageSegment(a, b), note = $("eeg-note"), jump = $("eeg-nearest");
    cv.dataset.pageStartS = a.toFixed(2);
    if (!seg) {
      const w = nearestEmbedded(sel);
      cv.dataset.shown = "none";
      g.fillStyle = "#555"; g.font = "14px sans-serif"; g.textAlign = "center";
      g.fillText("The EEG of this window is not embedded in this page.", W / 2, H / 2 - 10);
      note.textContent = `The page embeds ${Math.round(segments.reduce((t, s) => t + s.end_s - s.start_s, 0))} s of EEG ` +
        `(events first, then the windows with the highest pattern probability; budget ${E.budget_s} s).`;
      jump.hidden = w < 0;
      if (w >= 0) { jump.textContent = `Show the nearest window with EEG: window ${w + 1} at ${clock(center(w))}`; jump.dataset.window = String(w); }
      return;
    }
    cv.dataset.shown = String(sel);
    jump.hidden = true;
    const q = decode(seg), n0 = Math.round((a - seg.start_s) * E.sfreq_hz), n = Math.round((b - a) * E.sfreq_hz);
    const amp = [];
    for (let ch = 0; ch < nCh; ch++) {
      const v = [];
      for (let j = 0; j < n; j++) v.push(Math.abs(q[ch * seg.n + n0 + j] * seg.scale_uv[ch]));
      v.sort((x, y) => x - y);
      amp.push(v[Math.floor(0.99 * (v.length - 1))] || 0);
    }
    amp.sort((x, y) => x - y);
    const median = amp[Math.floor(amp.length / 2)];
    const spacing = NICE_UV.find((s) => s >= 1.2 * median) || NICE_UV[NICE_UV.length - 1];
    const left = 78, right = 12, top = 10, units = nCh + (nGroups - 1) * 0.8 + 2.0;
    const rowPx = (H - top - 30) / units, pxPerUv = rowPx / spacing, pw = W - left - right;
    const xs = (t) => left + (pw * (t - (c - D.page_s / 2))) / D.page_s;
    g.fillStyle = "#fff8dc";
    g.fillRect(xs(c - D.label_s / 2), 0, xs(c + D.label_s / 2) - xs(c - D.label_s / 2), H - 22);
    g.strokeStyle = "#cccccc"; g.lineWidth = 1;
    for (let s = Math.ceil(c - D.page_s / 2); s <= c + D.page_s / 2; s++) {
      g.beginPath(); g.moveTo(xs(s), 0); g.lineTo(xs(s), H - 22); g.stroke();
    }
    g.font = "11px sans-serif"; g.textBaseline = "middle";
    for (let ch = 0; ch < nCh; ch++) {
      const y0 = top + rowPx * (ch + E.groups[ch] * 0.8 + 0.5);
      g.fillStyle = "#222"; g.textAlign = "right"; g.fillText(E.channels[ch], left - 6, y0);
      g.strokeStyle = "#000"; g.lineWidth = 0.8; g.beginPath();
      for (let j = 0; j < n; j++) {
        const x = xs(a + j / E.sfreq_hz), y = y0 - q[ch * seg.n + n0 + j] * seg.scale_uv[ch] * pxPerUv;
        if (j === 0) g.moveTo(x, y); else g.lineTo(x, y);
      }
      g.stroke();
    }
    const bx = W - right - 70, by = H - 30;
    g.strokeStyle = "#0050a0"; g.lineWidth = 2.5; g.beginPath();
    g.moveTo(bx, by); g.lineTo(bx + pw / D.page_s, by); g.moveTo(bx, by); g.lineTo(bx, by - spacing * pxPerUv); g.stroke();
    g.fillStyle = "#0050a0"; g.textAlign = "left"; g.fillText("1 s", bx + 4, by + 10);
    g.textAlign = "right"; g.fillText(`${spacing} µV`, bx - 4, by - (spacing * pxPerUv) / 2);
    cv.dataset.spacingUv = String(spacing);
    note.textContent = `Double banana montage, display filter ${E.band_hz[0]}–${E.band_hz[1]} Hz, ` +
      `${E.sfreq_hz} samples/s; ${D.page_s} s from ${clock(a)}; shaded: the 10 s the model scored; trace spacing ${spacing} µV.`;
  }

  /* ---- tables: events (jump links) and minutes per pattern ---- */
  function drawEvents() {
    const ev = events(), t = $("events");
    t.replaceChildren();
    const head = el("tr");
    for (const h of ["pattern", "start", "duration, s", "windows", "max P", "mean P"]) head.append(el("th", {}, h));
    t.append(head);
    for (const e of ev.slice(0, MAX_EVENT_ROWS)) {
      const tr = el("tr", { "data-first": String(e.first), "data-start-s": String(e.start_s), "data-n": String(e.n) }), link = el("a", { href: `#w=${e.first}` }, clock(e.start_s));
      const td = el("td"); td.append(link);
      tr.append(el("td", {}, e.pattern), td, el("td", { class: "num" }, (e.end_s - e.start_s).toFixed(0)),
        el("td", { class: "num" }, String(e.n)), el("td", { class: "num" }, e.max.toFixed(2)), el("td", { class: "num" }, e.mean.toFixed(2)));
      t.append(tr);
    }
    $("event-count").textContent = `${ev.length} event(s) at the thresholds above` +
      (ev.length > MAX_EVENT_ROWS ? `; the first ${MAX_EVENT_ROWS} listed (events.csv has those of the analysis threshold).` : ".");
    const m = $("minutes");
    m.replaceChildren();
    const hr = el("tr");
    for (const h of ["pattern", "threshold", "minutes", "% of analysed", "events"]) hr.append(el("th", {}, h));
    m.append(hr);
    patternIdx.forEach((c, j) => {
      let n = 0;
      for (let k = 0; k < N; k++) if (prob(k, c) >= thr[j]) n++;
      const tr = el("tr", { "data-pattern": D.patterns[j] });
      tr.append(el("td", {}, D.patterns[j]), el("td", { class: "num" }, thr[j].toFixed(2)),
        el("td", { class: "num" }, ((n * D.stride_s) / 60).toFixed(1)), el("td", { class: "num" }, N ? ((100 * n) / N).toFixed(1) : "0"),
        el("td", { class: "num" }, String(ev.filter((e) => e.pattern === D.patterns[j]).length)));
      m.append(tr);
    });
    return ev;
  }

  function select(k, fromHash) {
    sel = clampK(k);
    drawCursor(); drawStrip(); drawProbs(); drawEEG();
    if (!fromHash) {
      try { history.replaceState(null, "", `#w=${sel}`); } catch (err) { /* file:// without history */ }
    }
  }
  function hashWindow() {
    const m = /^#w=(\d+)$/.exec(location.hash);
    return m ? Number(m[1]) : null;
  }
  function neighbourEvent(dir) {
    const ev = events();
    if (dir > 0) { const e = ev.find((x) => x.first > sel); return e ? e.first : sel; }
    const before = ev.filter((x) => x.first < sel);
    return before.length ? before[before.length - 1].first : sel;
  }

  /* ---- controls ---- */
  const box = $("thresholds");
  D.patterns.forEach((label, j) => {
    const lab = el("label", {}, `${label} `);
    const input = el("input", { type: "range", min: "0.01", max: "1", step: "0.01", value: String(D.threshold), id: `thr-${label}`, "aria-label": `${label} threshold` });
    const out = el("output", { for: `thr-${label}` }, D.threshold.toFixed(2));
    input.addEventListener("input", () => {
      thr[j] = Number(input.value); out.textContent = thr[j].toFixed(2);
      drawStrip(); drawProbs(); drawEvents();
    });
    lab.append(input, out);
    box.append(lab);
  });
  const pick = (evt, elem) => {
    const r = elem.getBoundingClientRect();
    select(windowAt(timeAt((evt.clientX - r.left) / r.width)));
  };
  $("overview-img").addEventListener("click", (evt) => pick(evt, $("overview-img")));
  $("strip").addEventListener("click", (evt) => pick(evt, $("strip")));
  $("eeg-nearest").addEventListener("click", () => select(Number($("eeg-nearest").dataset.window)));
  document.addEventListener("keydown", (evt) => {
    if (evt.target instanceof HTMLInputElement || evt.altKey || evt.ctrlKey || evt.metaKey) return;
    const moves = { ArrowRight: () => (evt.shiftKey ? neighbourEvent(1) : sel + 1), ArrowLeft: () => (evt.shiftKey ? neighbourEvent(-1) : sel - 1),
      PageDown: () => neighbourEvent(1), PageUp: () => neighbourEvent(-1), Home: () => 0, End: () => N - 1 };
    if (!(evt.key in moves)) return;
    evt.preventDefault();
    select(moves[evt.key]());
  });
  window.addEventListener("hashchange", () => {
    const k = hashWindow();
    if (k !== null) { select(k, true); $("selected").scrollIntoView({ block: "nearest" }); }
  });
  window.addEventListener("resize", () => { drawStrip(); drawEEG(); });

  const ev = drawEvents();
  let first = hashWindow();
  if (first === null) { // the window with the highest pattern probability
    let best = -1;
    first = 0;
    for (let k = 0; k < N; k++) for (const c of patternIdx) if (prob(k, c) > best) { best = prob(k, c); first = k; }
    if (ev.length) first = ev.reduce((a, e) => (e.max > a.max ? e : a)).first;
  }
  select(first, true);
  root.dataset.ready = "1";
})();
