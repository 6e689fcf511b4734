/**
 * card.js: one chart card of pulse.Dashboard: its elements, the points of
 * its lines, its drawing, legend, figures, help and exports.
 *
 * A card shows one chart spec (families.js). Its lines' points come from
 * the page's source (ranges.js) as plotted: a counter's per-second rate
 * (the RATE/TOTAL button switches to the running total), a gauge's value,
 * an average's Δsum/Δcount. A card with one line shows its value big; one
 * with more has a legend whose items toggle their line; past TOP_LINES
 * lines only the TOP_LINES largest are drawn until "show all".
 *
 * The card never reads the wire or the client's state beyond pulse.js's
 * API: app.source for points, app.client for the current value of a
 * single-series card.
 */
import { paint } from "./chart.js";
import { labelText } from "./families.js";
import { exactTime, formatValue, isNoun, joined, text, unitOf, unitText } from "./format.js";
import { chartImage, download, fileName, toCSV } from "./export.js";

/** Lines drawn at first when a chart has more. */
export const TOP_LINES = 8;

let uid = 0;

export class Card {
  constructor(spec, app, template) {
    this.app = app;
    this.el = template.cloneNode(true);
    this.id = "c" + ++uid;
    const q = (sel) => this.el.querySelector(sel);
    Object.assign(this, {
      nameEl: q(".name"), labelsEl: q(".labels"), modeBtn: q(".mode"), helpBtn: q(".info"), pinBtn: q(".pin"),
      moreBtn: q(".more"), grip: q(".grip"), figure: q(".figure"), num: q(".num"), unitEl: q(".unit"), sub: q(".sub"),
      canvas: q("canvas"), legendEl: q(".legend"), helpEl: q(".help"), actions: q(".actions"),
    });
    this.ctx = null;
    this.w = this.h = this.cssW = this.cssH = 0;
    this.drawnGen = -1;
    this.off = new Set();   // line ids toggled off in the legend
    this.top = null;        // with more than TOP_LINES lines: the ids drawn until "show all"
    this.showAll = false;
    this.pinned = false;
    this.constant = false;
    this.stale = false;
    this.drawn = null;      // what the last draw drew: {win, lines, result}
    this.match = null;      // the line ids the filter lets through, null for all
    this.helpEl.id = this.id + "-help";
    this.actions.id = this.id + "-actions";
    this.helpBtn.setAttribute("aria-controls", this.helpEl.id);
    this.moreBtn.setAttribute("aria-controls", this.actions.id);
    this.bindButtons();
    this.setSpec(spec);
  }

  bindButtons() {
    this.modeBtn.addEventListener("click", () => this.setMode(this.mode === "rate" ? "value" : "rate"));
    this.helpBtn.addEventListener("click", () => this.toggle(this.helpBtn, this.helpEl));
    this.moreBtn.addEventListener("click", () => this.toggle(this.moreBtn, this.actions));
    this.pinBtn.addEventListener("click", () => this.app.togglePin(this.spec.id));
    const done = (fn) => () => {
      fn();
      this.toggle(this.moreBtn, this.actions); // the menu closes
      this.moreBtn.focus();
    };
    this.actions.querySelector(".csv").addEventListener("click", done(() => this.saveCSV()));
    this.actions.querySelector(".png").addEventListener("click", done(() => this.savePNG()));
    this.actions.querySelector(".earlier").addEventListener("click", () => this.app.movePin(this.spec.id, -1));
    this.actions.querySelector(".later").addEventListener("click", () => this.app.movePin(this.spec.id, 1));
    this.el.addEventListener("keydown", (ev) => {
      if (ev.key !== "Escape") return;
      for (const [button, panel] of [[this.helpBtn, this.helpEl], [this.moreBtn, this.actions]]) {
        if (panel.hidden) continue;
        this.toggle(button, panel);
        button.focus();
        ev.stopPropagation();
        ev.preventDefault();
      }
    });
    this.legendEl.addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (!b) return;
      if (b.classList.contains("all")) this.setShowAll(!this.showAll);
      else this.toggleLine(b.dataset.line);
    });
  }

  // toggle opens or closes a panel over the chart (help, actions); one at a time.
  toggle(button, panel) {
    const open = panel.hidden;
    for (const [b, p] of [[this.helpBtn, this.helpEl], [this.moreBtn, this.actions]]) {
      const show = p === panel && open;
      p.hidden = !show;
      b.setAttribute("aria-expanded", String(show));
    }
  }

  /** setSpec takes a new spec of the same chart id; lines kept keep their state. */
  setSpec(spec) {
    this.spec = spec;
    const e = spec.entry;
    this.unit = unitOf(e);
    this.counter = spec.counter;
    if (this.mode === undefined || !this.counter) this.mode = this.counter ? "rate" : "value";
    this.single = spec.lines.length === 1;
    this.el.dataset.chart = spec.id;
    this.el.dataset.type = spec.type;
    this.el.dataset.key = this.single ? spec.lines[0].id : "";
    this.el.dataset.kind = e.kind;
    const ids = new Set(spec.lines.map((l) => l.id));
    for (const id of this.off) if (!ids.has(id)) this.off.delete(id);
    this.haystack = (spec.title + " " + spec.id).toLowerCase();
    // Long names may wrap after an underscore.
    const parts = spec.title.split(/(?<=_)/);
    this.nameEl.replaceChildren(...parts.flatMap((p, i) => (i ? [document.createElement("wbr"), p] : [p])));
    this.modeBtn.hidden = !this.counter;
    this.figure.hidden = !this.single;
    this.sub.hidden = !this.single;
    this.chooseTop();
    this.buildLegend();
    this.buildHelp();
    this.showMode();
  }

  setMode(mode) {
    this.mode = mode;
    this.chooseTop();
    this.buildLegend();
    this.showMode();
    this.redraw();
  }

  showMode() {
    const rate = this.mode === "rate";
    // A chart of several lines says its unit once, here; its legend gives numbers.
    const labels = labelText(this.single ? this.spec.lines[0].labels : this.spec.labels);
    const unit = this.single ? "" : unitText(this.unit, rate && this.counter);
    this.labelsEl.textContent = [labels, unit].filter(Boolean).join(" · ");
    this.modeBtn.textContent = rate ? "rate" : "total";
    this.modeBtn.setAttribute("aria-label", rate ? "Plotting the rate per second; show the running total" : "Plotting the running total; show the rate per second");
    this.el.dataset.plot = rate ? "rate" : "value";
    const what = unitText(this.unit, rate && this.counter);
    this.canvas.setAttribute("aria-label", `${this.spec.title} ${labelText(this.spec.labels)}: ${this.spec.lines.length} ` +
      `${this.spec.lines.length === 1 ? "line" : "lines"}${what ? ", " + what : ""}. Time cursor: arrow keys move it, + and - zoom.`);
  }

  setPinned(p) {
    this.pinned = p;
    this.pinBtn.setAttribute("aria-pressed", String(p));
    this.pinBtn.textContent = p ? "★" : "☆";
    this.pinBtn.setAttribute("aria-label", (p ? "Unpin " : "Pin ") + this.spec.title);
    this.pinBtn.title = p ? "Unpin: back to its place" : "Pin to the top (kept in the address)";
    this.grip.hidden = !p;
    this.actions.querySelector(".earlier").hidden = !p;
    this.actions.querySelector(".later").hidden = !p;
    this.el.classList.toggle("pinned", p);
  }

  redraw() {
    this.drawnGen = -1;
    this.app.schedule();
  }

  // ---- Lines ----

  rate(line) {
    return this.mode === "rate" && line.kind === "counter";
  }

  /** lineData is a line's points as plotted: {times, vals}. */
  lineData(line, source) {
    if (line.avg) return average(source.history(line.sumKey), source.history(line.countKey));
    const h = source.history(line.key);
    if (!h) return { times: [], vals: [], hist: null };
    return { times: h.times, vals: this.rate(line) ? h.rates || [] : h.values, hist: h };
  }

  /** shownLines are the lines drawn: not toggled off, let through by the filter, in the top set. */
  shownLines() {
    return this.spec.lines.filter((l) => this.listed(l) && !this.off.has(l.id));
  }

  // listed: the line has a legend item (the filter lets it through and it is in the top set).
  listed(l) {
    return (!this.match || this.match.has(l.id)) && (this.showAll || !this.top || this.top.has(l.id));
  }

  // chooseTop picks the TOP_LINES lines with the largest latest values.
  chooseTop() {
    const lines = this.spec.lines;
    if (lines.length <= TOP_LINES) {
      this.top = null;
      return;
    }
    const latest = (l) => {
      const d = this.lineData(l, this.app.source);
      for (let i = d.vals.length - 1; i >= 0; i--) if (d.vals[i] !== null && Number.isFinite(d.vals[i])) return d.vals[i];
      return -Infinity;
    };
    const ranked = lines.map((l) => [l.id, latest(l)]).sort((a, b) => b[1] - a[1]);
    this.top = new Set(ranked.slice(0, TOP_LINES).map(([id]) => id));
  }

  setShowAll(all) {
    this.showAll = all;
    this.buildLegend();
    this.redraw();
  }

  toggleLine(id) {
    if (this.off.has(id)) this.off.delete(id); else this.off.add(id);
    const b = this.legendItems.get(id);
    if (b) b.setAttribute("aria-pressed", String(!this.off.has(id)));
    this.redraw();
  }

  /** setMatch sets the lines the filter lets through (null: all). */
  setMatch(ids) {
    const same = ids === this.match || ids && this.match && ids.size === this.match.size && [...ids].every((id) => this.match.has(id));
    if (same) return;
    this.match = ids;
    this.buildLegend();
    this.redraw();
  }

  color(line) {
    const c = this.app.colors;
    if (this.single) return this.rate(line) ? c.rate : c.line;
    return c.palette[this.spec.lines.indexOf(line) % c.palette.length];
  }

  // ---- Legend and help ----

  buildLegend() {
    this.legendItems = new Map();
    this.legendVals = new Map();
    if (this.single) {
      this.legendEl.hidden = true;
      this.legendEl.replaceChildren();
      return;
    }
    const items = [];
    for (const l of this.spec.lines) {
      if (!this.listed(l)) continue;
      const b = document.createElement("button");
      b.type = "button";
      b.className = "item";
      b.dataset.line = l.id;
      b.setAttribute("aria-pressed", String(!this.off.has(l.id)));
      b.title = (l.avg ? `average: Δ${l.sumKey} / Δ${l.countKey}` : l.key) + "\nClick to show or hide the line";
      const sw = document.createElement("i");
      sw.className = "sw";
      sw.style.background = this.color(l);
      const name = document.createElement("span");
      name.className = "lname";
      name.textContent = l.label || l.id;
      const val = document.createElement("span");
      val.className = "lval";
      b.append(sw, name, val);
      this.legendItems.set(l.id, b);
      this.legendVals.set(l.id, val);
      const li = document.createElement("li");
      li.append(b);
      items.push(li);
    }
    const hiddenCount = this.spec.lines.filter((l) => !this.match || this.match.has(l.id)).length - items.length;
    if (this.top && (hiddenCount > 0 || this.showAll)) items.push(this.allButton(hiddenCount));
    this.legendEl.replaceChildren(...items);
    this.legendEl.hidden = false;
  }

  allButton(hiddenCount) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "all";
    b.setAttribute("aria-expanded", String(this.showAll));
    b.textContent = this.showAll ? `top ${TOP_LINES} only` : `show all ${this.spec.lines.length} (${hiddenCount} more)`;
    const li = document.createElement("li");
    li.className = "more-lines";
    li.append(b);
    return li;
  }

  buildHelp() {
    const s = this.spec;
    const p = (cls, txt) => {
      const el = document.createElement("p");
      el.className = cls;
      el.textContent = txt;
      return el;
    };
    const parts = [p("htext", s.help || "No help text.")];
    const kinds = { family: "metric family", histogram: "histogram quantiles", average: "average of _sum/_count" };
    const unit = this.unit ? `; unit: ${this.unit}` : "";
    const plotted = this.counter ? "; counters plotted as per-second rates (RATE/TOTAL switches)" : "";
    parts.push(p("hmeta", `${kinds[s.type]} · ${s.lines.length} series${unit}${plotted}`));
    if (s.type !== "family" && s.lines.some((l) => l.avg)) parts.push(p("hmeta", "avg: the mean of the observations of each tick, Δsum / Δcount."));
    if (this.unit === "seconds" && this.counter) parts.push(p("hmeta", "s/s: seconds of busy time per second; 1 s/s is one worker busy all the time."));
    const keys = document.createElement("ul");
    keys.className = "hkeys";
    for (const l of s.lines.slice(0, 24)) {
      const li = document.createElement("li");
      li.textContent = l.avg ? l.id : l.key;
      keys.append(li);
    }
    if (s.lines.length > 24) keys.append(Object.assign(document.createElement("li"), { textContent: `… ${s.lines.length - 24} more` }));
    parts.push(keys);
    this.helpEl.replaceChildren(...parts);
  }

  // ---- Drawing ----

  /** draw draws the chart over win; hover is a time or NaN, band a zoom selection or null. */
  draw(win, hover, band) {
    const source = this.app.source;
    const lines = this.shownLines().map((l) => ({ line: l, ...this.lineData(l, source), color: this.color(l) }));
    const rate = this.counter && this.mode === "rate";
    const result = paint(this, lines, win, {
      colors: this.app.colors, unit: this.unit, rate, fill: this.single, hover, band,
      empty: this.spec.lines.length && lines.length === 0 ? "every line hidden" : "",
    });
    this.drawn = { win, lines, result };
  }

  /** showFigures updates the card's texts after a draw. */
  showFigures(seq) {
    const d = this.drawn;
    if (!d) return;
    const rate = this.counter && this.mode === "rate";
    if (this.single) this.showSingle(d, rate);
    else this.showLegendValues(d);
    const stale = this.spec.lines.some((l) => l.key && this.app.client.isStale(l.key));
    if (stale !== this.stale) {
      this.stale = stale;
      this.el.classList.toggle("stale", stale);
    }
    const ds = this.el.dataset;
    ds.points = String(d.result.points);
    ds.lines = String(d.lines.length);
    ds.seq = String(seq);
  }

  showSingle(d, rate) {
    const line = this.spec.lines[0];
    const per = d.result.per[0] || { points: 0, last: null };
    const last = per.last;
    const u = this.unit;
    let sub;
    if (this.counter) {
      const other = lastOf(d.lines[0]?.hist, rate ? "value" : "rate", d.win);
      sub = rate ? "total " + text(other, u, false) : other === null ? "no rate yet" : text(other, u, true);
    } else {
      sub = per.points > 0 ? "min " + text(per.min, u) + " · max " + text(per.max, u) : "\u00a0";
    }
    const [num, unitText] = formatValue(last, u, rate);
    setText(this.num, num);
    setText(this.unitEl, unitText);
    setText(this.sub, sub);
    this.el.dataset.value = String(last);
  }

  showLegendValues(d) {
    const rate = this.counter && this.mode === "rate";
    d.lines.forEach((l, i) => {
      const el = this.legendVals.get(l.line.id);
      if (el) setText(el, legendText(d.result.per[i].last, this.unit, rate && l.line.kind === "counter"));
    });
    for (const [id, el] of this.legendVals) if (this.off.has(id)) setText(el, "");
  }

  /** hoverRows are the tooltip's rows at the hovered tick: [{id, label, value, text, color}], largest first. */
  hoverRows() {
    const d = this.drawn;
    const h = d && d.result.hover;
    if (!h) return null;
    const rate = this.counter && this.mode === "rate";
    const rows = d.lines.map((l, i) => {
      const v = h.index[i] >= 0 ? l.vals[h.index[i]] : null;
      return { id: l.line.id, label: l.line.label || this.spec.title, value: v, color: l.color,
        text: text(v, this.unit, rate && l.line.kind === "counter") };
    });
    rows.sort((a, b) => (b.value ?? -Infinity) - (a.value ?? -Infinity));
    return { t: h.t, time: exactTime(h.t), rows };
  }

  // ---- Exports ----

  /** csv is the visible range of the chart as CSV (export.js). */
  csv() {
    const d = this.drawn;
    if (!d) return "";
    const rate = this.counter && this.mode === "rate";
    const cols = d.lines.map((l) => ({
      name: l.line.avg ? l.line.id : rate && l.line.kind === "counter" ? `rate(${l.line.key})` : l.line.key,
      times: l.times, vals: l.vals,
    }));
    return toCSV(cols, d.win);
  }

  saveCSV() {
    const d = this.drawn;
    if (!d) return;
    download(new Blob([this.csv()], { type: "text/csv;charset=utf-8" }), fileName(this.spec.id, d.win.t0, "csv"));
  }

  /** image is the chart drawn with its title and legend, for a PNG. */
  image() {
    const d = this.drawn;
    const rate = this.counter && this.mode === "rate";
    const legend = (d ? d.lines : []).map((l, i) => ({
      color: l.color, label: l.line.label || this.spec.title,
      value: text(d.result.per[i].last, this.unit, rate && l.line.kind === "counter"),
    }));
    const labels = labelText(this.single ? this.spec.lines[0].labels : this.spec.labels);
    return chartImage({ title: this.spec.title, labels, canvas: this.canvas, legend, colors: this.app.colors });
  }

  savePNG() {
    const d = this.drawn;
    if (!d) return;
    this.image().toBlob((blob) => blob && download(blob, fileName(this.spec.id, d.win.t0, "png")), "image/png");
  }
}

// lastOf is the last point of a history in the window, as value or rate.
function lastOf(h, mode, win) {
  if (!h) return null;
  const vals = mode === "rate" ? h.rates || [] : h.values;
  for (let i = h.times.length - 1; i >= 0; i--) {
    if (h.times[i] > win.t1) continue;
    if (vals[i] !== null) return vals[i];
  }
  return null;
}

// average is the mean of the observations of each tick: Δsum/Δcount,
// from the rates of _sum and _count (null when nothing was observed).
function average(sum, count) {
  if (!sum || !count || !sum.rates || !count.rates) return { times: [], vals: [] };
  const n = Math.min(sum.times.length, count.times.length);
  const vals = new Array(n);
  for (let i = 0; i < n; i++) {
    const s = sum.rates[i], c = count.rates[i];
    vals[i] = s === null || c === null || !(c > 0) ? null : s / c;
  }
  return { times: sum.times.length === n ? sum.times : sum.times.slice(0, n), vals };
}

// legendText is a value for a legend: a count without its noun (the
// chart's unit line says it), a physical unit with its own (its scale varies).
function legendText(v, unit, rate) {
  const [num, u] = formatValue(v, unit, rate);
  if (isNoun(unit)) return rate ? num + "/s" : num;
  return joined([num, u]);
}

function setText(el, t) {
  if (el.textContent !== t) el.textContent = t;
}
