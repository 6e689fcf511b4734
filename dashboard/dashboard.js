/**
 * dashboard.js: the page of pulse.Dashboard (github.com/go-pulse/pulse).
 *
 * It connects with pulse.js to the Hub's stream, served next to this file
 * ("stream": every URL here is relative, so the dashboard works under any
 * prefix), and shows every series as a card: name, labels, current value
 * with its unit, and a chart of the history pulse.js keeps (the server's
 * history on connect, then one point per tick). Counters plot their
 * per-second rate by default; the card's RATE/TOTAL button switches.
 *
 * Cost: a tick only bumps a generation number. Drawing happens in
 * requestAnimationFrame, once per frame whatever the number of ticks, and
 * only for the cards an IntersectionObserver reports in view; a card
 * scrolled into view is drawn then. Card elements are created once per
 * series and reused; per tick only their texts (when changed) and canvases
 * are touched, all canvases first, then all texts. A chart with more than
 * two points per pixel column is drawn as the min and max of each column.
 * The time axis, the same for every chart, is drawn once per frame and size
 * and copied into each chart.
 *
 * window.dashboard exposes the client, the cards and timing figures for
 * the console and the browser tests: perf.frames, ms spent drawing per
 * animation frame that drew; perf.charts, charts drawn in that frame;
 * perf.rendered, ms from the start of that frame until the browser had
 * rendered it; perf.updates, ms spent handling each message; perf.longTasks
 * and longTaskMs, main-thread tasks over 50 ms.
 */
import { connect } from "./pulse.js";

// ---- Configuration, from the page and its query string ----

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") || "";
const BASE_MATCH = splitList(meta("pulse-match") || "*"); // the subscription without a server-side filter
const MAX_PATTERNS = Number(meta("pulse-max-patterns")) || 32;
const PATTERN = /^[A-Za-z0-9_:*?]{1,200}$/; // a subscription pattern, as the Hub takes it
const MIN_SPAN_TICKS = 60;  // the time axis spans at least this many ticks
const PERF_KEEP = 20000;    // timing samples kept

const $ = (id) => document.getElementById(id);
const grid = $("grid");
const filterBox = $("filter");
const serverBox = $("server-filter");
const pauseButton = $("pause");
const statusEl = $("status");
const statusText = $("status-text");
const countEl = $("count");
const clockEl = $("clock");
const emptyEl = $("empty");
const cardTemplate = $("card").content.firstElementChild;

const query = new URLSearchParams(location.search);
filterBox.value = query.get("q") || "";
serverBox.checked = query.get("server") === "1";

// ---- State ----

const cards = new Map();      // key -> Card
const byElement = new WeakMap(); // card element or canvas -> Card
const inView = new Set();     // cards the IntersectionObserver reports in view
let gen = 0;                  // bumped by every message; a card drawn at an older gen is out of date
let paused = false;
let stalePage = false;        // the catalogue changed while paused
let frameQueued = false;
let filter = parseFilter(filterBox.value);
let shown = 0;
let connects = 0;
let metaGen = -1;

const perf = {
  frames: [],     // ms spent drawing, per animation frame that drew
  charts: [],     // charts drawn in that frame
  updates: [],    // ms spent handling a message (onUpdate)
  longTasks: 0,   // main-thread tasks over 50 ms (PerformanceObserver "longtask")
  longTaskMs: 0,
  rendered: [],   // ms from the start of such a frame to its end, rendering included
  reset() {
    this.frames.length = this.charts.length = this.updates.length = this.rendered.length = 0;
    this.longTasks = this.longTaskMs = 0;
  },
};
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      perf.longTasks++;
      perf.longTaskMs += e.duration;
    }
  }).observe({ type: "longtask" });
} catch { /* not supported here */ }

// A message posted from an animation frame is delivered once the browser
// has rendered that frame (style, layout, paint, the canvases' raster and
// commit): the time from the frame's start to it is the frame's whole cost.
const rendered = new MessageChannel();
let renderStart = 0;
rendered.port1.onmessage = () => {
  if (renderStart > 0) sample(perf.rendered, performance.now() - renderStart);
  renderStart = 0;
};

function sample(list, v) {
  if (list.length >= PERF_KEEP) list.splice(0, PERF_KEEP / 2);
  list.push(v);
}

let colors = readColors();
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  colors = readColors();
  invalidate();
});

function readColors() {
  const cs = getComputedStyle(document.documentElement);
  const v = (name, fallback) => cs.getPropertyValue(name).trim() || fallback;
  return {
    line: v("--line", "#2563eb"),
    rate: v("--line-rate", "#0d9488"),
    grid: v("--grid", "#e9edf2"),
    axis: v("--axis", "#7b8594"),
    card: v("--card", "#ffffff"),
  };
}

// ---- The connection ----

const client = connect("stream", { match: subscription(), onStatus, onUpdate });

window.dashboard = {
  client,
  cards,
  perf,
  get paused() { return paused; },
  get inView() { return inView.size; },
  setPaused,
  setFilter(text) {
    filterBox.value = text;
    filterChanged();
  },
};

function onUpdate(state, changes) {
  const t0 = performance.now();
  if (changes.type === "snapshot" && changes.reason === "connect") statusEl.dataset.connects = String(++connects);
  gen++;
  if (paused) {
    stalePage = true;
  } else if (changes.type === "delta") {
    if (changes.removed.length || changes.series.length) {
      for (const key of changes.removed) removeCard(key);
      for (const key of changes.series) upsert(state.series.get(key));
      arrange();
    }
  } else {
    sync(state); // a snapshot (connect, subscribe, resync) or a history: the whole catalogue
  }
  sample(perf.updates, performance.now() - t0);
  schedule();
}

// ---- Status ----

let status = "connecting";
let statusInfo = {};
let resyncedUntil = 0;
let resyncTimer = 0;

function onStatus(s, info) {
  status = s;
  statusInfo = info || {};
  if (s === "resynced") {
    // "live" follows at once: keep saying "resynced" for a moment.
    resyncedUntil = performance.now() + 3000;
    statusEl.dataset.resyncs = String(Number(statusEl.dataset.resyncs || 0) + 1);
    clearTimeout(resyncTimer);
    resyncTimer = setTimeout(showStatus, 3000);
  }
  showStatus();
}

function showStatus() {
  const secs = (ms) => (ms / 1000).toFixed(1) + " s";
  const info = statusInfo;
  let state = status;
  let text = status;
  switch (status) {
    case "live":
      if (performance.now() < resyncedUntil) state = text = "resynced";
      if (info.transport === "sse") text += " · SSE";
      break;
    case "connecting": text = info.delay ? "connecting in " + secs(info.delay) + "…" : "connecting…"; break;
    case "reconnecting": text = "reconnecting in " + secs(info.delay || 0) + "…"; break;
    case "resyncing": text = "resyncing…"; break;
    case "resynced": text = "resynced"; break;
    case "idle": text = "nothing subscribed"; break;
    case "closed": text = info.error ? "closed: " + info.error : "closed"; break;
  }
  statusEl.dataset.state = state;
  statusEl.dataset.transport = info.transport || "";
  if (statusText.textContent !== text) statusText.textContent = text;
}

// ---- Cards ----

class Card {
  constructor(entry) {
    const el = cardTemplate.cloneNode(true);
    this.el = el;
    this.key = entry.key;
    this.name = el.querySelector(".name");
    this.mode = el.querySelector(".mode");
    this.labels = el.querySelector(".labels");
    this.num = el.querySelector(".num");
    this.unitEl = el.querySelector(".unit");
    this.sub = el.querySelector(".sub");
    this.canvas = el.querySelector("canvas");
    this.ctx = null;
    this.w = 0; this.h = 0;       // canvas size, device pixels
    this.cssW = 0; this.cssH = 0; // and CSS pixels
    this.drawnGen = -1;
    this.entry = null;
    this.plotRate = false;
    this.stale = false;
    el.dataset.key = entry.key;
    this.setEntry(entry);
    this.mode.addEventListener("click", () => {
      this.plotRate = !this.plotRate;
      this.showMode();
      this.redraw();
    });
    byElement.set(el, this);
    byElement.set(this.canvas, this);
  }

  setEntry(e) {
    const old = this.entry;
    if (old && old.kind === e.kind && old.unit === e.unit && old.help === e.help && old.name === e.name) {
      this.entry = e;
      return;
    }
    this.entry = e;
    this.counter = e.kind === "counter";
    if (!old || old.kind !== e.kind) this.plotRate = this.counter;
    this.unit = unitOf(e);
    this.haystack = e.key.toLowerCase();
    // Long names may wrap after an underscore.
    const parts = e.name.split(/(?<=_)/);
    this.name.replaceChildren(...parts.flatMap((p, i) => (i ? [document.createElement("wbr"), p] : [p])));
    const labels = Object.entries(e.labels || {}).map(([k, v]) => `${k}="${v}"`).join(" ");
    this.labels.textContent = labels;
    this.el.title = e.key + (e.unit ? " (" + e.unit + ")" : "") + " · " + e.kind + (e.help ? "\n" + e.help : "");
    this.mode.hidden = !this.counter;
    this.el.dataset.kind = e.kind;
    this.showMode();
    this.redraw();
  }

  showMode() {
    this.mode.textContent = this.plotRate ? "rate" : "total";
    this.el.dataset.plot = this.plotRate ? "rate" : "value";
    this.canvas.setAttribute("aria-label", (this.plotRate ? "Rate per second of " : "History of ") + this.key);
  }

  redraw() {
    this.drawnGen = -1;
    if (inView.has(this)) schedule();
  }
}

function upsert(entry) {
  if (!entry) return;
  const c = cards.get(entry.key);
  if (c) {
    c.setEntry(entry);
    return;
  }
  const card = new Card(entry);
  cards.set(entry.key, card);
  card.el.hidden = !matches(card);
  observeSize(card.canvas);
  viewObserver.observe(card.el);
}

function removeCard(key) {
  const c = cards.get(key);
  if (!c) return;
  cards.delete(key);
  ranks.delete(key);
  inView.delete(c);
  viewObserver.unobserve(c.el);
  sizeObserver.unobserve(c.canvas);
  c.el.remove();
}

// sync makes the cards those of the catalogue.
function sync(state) {
  for (const key of [...cards.keys()]) if (!state.series.has(key)) removeCard(key);
  for (const entry of state.series.values()) upsert(entry);
  arrange();
}

// rank orders the cards: the application's series first, then the parts
// of its histograms and summaries (_count, _sum, _bucket, quantiles), then
// the Go runtime's and the process's, then the Hub's own; by key within.
const ranks = new Map();
function rank(key) {
  let r = ranks.get(key);
  if (r !== undefined) return r;
  const e = cards.get(key)?.entry;
  const name = e ? e.name : key;
  if (name.startsWith("go_") || name.startsWith("process_")) r = 2;
  else if (name.startsWith("pulse_")) r = 3;
  else if (/_(count|sum|bucket)$/.test(name) || e?.labels?.quantile !== undefined || e?.labels?.le !== undefined) r = 1;
  else r = 0;
  ranks.set(key, r);
  return r;
}

function compareKeys(a, b) {
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

// arrange puts the card elements in order, moving only those out of place,
// and applies the filter.
function arrange() {
  const keys = [...cards.keys()].sort(compareKeys);
  let next = grid.firstElementChild;
  for (const key of keys) {
    const el = cards.get(key).el;
    if (el === next) next = next.nextElementSibling;
    else grid.insertBefore(el, next);
  }
  applyFilter();
}

// ---- Filter ----

// parseFilter reads the filter box: space- or comma-separated terms; a card
// shows when any term matches. A term with * or ? is a glob matched against
// the whole name or key; other terms are substrings of the key. Both ignore
// case.
function parseFilter(text) {
  const terms = splitList(text);
  return {
    terms,
    tests: terms.map((t) => (/[*?]/.test(t) ? { glob: globRegExp(t) } : { sub: t.toLowerCase() })),
  };
}

function matches(c) {
  if (filter.tests.length === 0) return true;
  for (const t of filter.tests) {
    if (t.sub !== undefined ? c.haystack.includes(t.sub) : t.glob.test(c.entry.name) || t.glob.test(c.key)) return true;
  }
  return false;
}

function applyFilter() {
  shown = 0;
  for (const c of cards.values()) {
    const show = matches(c);
    if (c.el.hidden === show) c.el.hidden = !show;
    if (show) shown++;
  }
  emptyEl.hidden = shown > 0 || cards.size === 0;
  metaGen = -1;
  schedule();
}

// subscription is the patterns to subscribe to: the page's own, or with
// "on server" the filter's terms as name patterns (a plain term t becomes
// *t*). A term that cannot be a name pattern (a label, say) keeps the page's
// patterns: the filter then works on the page only.
function subscription() {
  if (!serverBox.checked || filter.terms.length === 0) return [...BASE_MATCH];
  const patterns = [];
  for (const t of filter.terms) {
    const p = /[*?]/.test(t) ? t : "*" + t + "*";
    if (!PATTERN.test(p)) return [...BASE_MATCH];
    if (!patterns.includes(p)) patterns.push(p);
  }
  return patterns.length <= MAX_PATTERNS ? patterns : [...BASE_MATCH];
}

function resubscribe() {
  const want = subscription();
  const have = client.patterns;
  const add = want.filter((p) => !have.includes(p));
  const drop = have.filter((p) => !want.includes(p));
  // Subscribe first, so that the connection never goes idle, unless that
  // would pass the Hub's limit on patterns.
  if (have.length + add.length > MAX_PATTERNS) {
    if (drop.length) client.unsubscribe(drop);
    if (add.length) client.subscribe(add);
  } else {
    if (add.length) client.subscribe(add);
    if (drop.length) client.unsubscribe(drop);
  }
}

let filterTimer = 0;
function filterChanged() {
  filter = parseFilter(filterBox.value);
  applyFilter();
  // The server, and the address bar, follow when typing pauses: the Hub
  // rate-limits subscription messages.
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    resubscribe();
    const q = new URLSearchParams(location.search);
    if (filterBox.value) q.set("q", filterBox.value); else q.delete("q");
    if (serverBox.checked) q.set("server", "1"); else q.delete("server");
    const search = q.toString();
    history.replaceState(null, "", search ? "?" + search : location.pathname);
  }, 350);
}

filterBox.addEventListener("input", filterChanged);
serverBox.addEventListener("change", filterChanged);
filterBox.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && filterBox.value) {
    filterBox.value = "";
    filterChanged();
  }
});
document.addEventListener("keydown", (ev) => {
  if (ev.key === "/" && document.activeElement !== filterBox && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
    ev.preventDefault();
    filterBox.focus();
  }
});

// ---- Pause ----

pauseButton.addEventListener("click", () => setPaused(!paused));

function setPaused(p) {
  paused = !!p;
  pauseButton.textContent = paused ? "Resume" : "Pause";
  pauseButton.setAttribute("aria-pressed", String(paused));
  document.body.dataset.paused = paused ? "true" : "false";
  if (!paused) {
    if (stalePage) sync(client.state);
    stalePage = false;
    invalidate();
  }
}

// ---- Drawing ----

const viewObserver = new IntersectionObserver((entries) => {
  let due = false;
  for (const en of entries) {
    const c = byElement.get(en.target);
    if (!c) continue;
    if (en.isIntersecting) {
      inView.add(c);
      due ||= c.drawnGen !== gen;
    } else {
      inView.delete(c);
    }
  }
  if (due) schedule();
}, { rootMargin: "120px 0px" });

const sizeObserver = new ResizeObserver((entries) => {
  for (const en of entries) {
    const c = byElement.get(en.target);
    if (!c) continue;
    const cssW = en.contentRect.width;
    const cssH = en.contentRect.height;
    const box = en.devicePixelContentBoxSize && en.devicePixelContentBoxSize[0];
    const w = box ? box.inlineSize : Math.round(cssW * devicePixelRatio);
    const h = box ? box.blockSize : Math.round(cssH * devicePixelRatio);
    if (w === c.w && h === c.h && cssW === c.cssW) continue;
    c.w = w; c.h = h; c.cssW = cssW; c.cssH = cssH;
    c.canvas.width = w;
    c.canvas.height = h;
    if (c.ctx) {
      // Cleared to opaque black: show the card's color until it is drawn.
      c.ctx.fillStyle = colors.card;
      c.ctx.fillRect(0, 0, w, h);
    }
    c.ctx = null; // its state (font) was reset
    c.redraw();
  }
});

function observeSize(canvas) {
  try {
    sizeObserver.observe(canvas, { box: "device-pixel-content-box" });
  } catch {
    sizeObserver.observe(canvas);
  }
}

function invalidate() {
  gen++;
  schedule();
}

function schedule() {
  if (frameQueued || paused) return;
  frameQueued = true;
  requestAnimationFrame(frame);
}

function frame() {
  frameQueued = false;
  if (paused) return;
  const t0 = performance.now();
  const win = { t0: NaN, t1: NaN };
  // Two passes: every canvas first, then every text. Interleaved, each
  // canvas's font would have to wait for a style recalculation caused by the
  // previous card's texts.
  const due = [];
  for (const c of inView) {
    if (c.drawnGen === gen || c.el.hidden || c.w === 0 || c.h === 0) continue;
    drawChart(c, win);
    c.drawnGen = gen;
    due.push(c);
  }
  for (const c of due) showFigures(c);
  const drawn = due.length;
  if (metaGen !== gen) showMeta();
  if (drawn > 0) {
    sample(perf.frames, performance.now() - t0);
    sample(perf.charts, drawn);
    renderStart = t0;
    rendered.port2.postMessage(0);
  }
}

function showMeta() {
  metaGen = gen;
  const total = cards.size;
  const count = total === 0 ? "no series yet" : shown === total ? `${total} series` : `${shown} of ${total} series`;
  if (countEl.textContent !== count) countEl.textContent = count;
  const st = client.state;
  const clock = st.ts ? "seq " + st.seq + " · " + clockTime(st.ts) : "";
  if (clockEl.textContent !== clock) clockEl.textContent = clock;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

// drawChart draws a card's chart and keeps what its figures need. win is
// the time window of this frame, set by the first chart drawn.
function drawChart(c, win) {
  const h = client.history(c.key);
  const plotRate = c.plotRate && c.counter;
  const times = h ? h.times : [];
  const points = h ? (plotRate ? h.rates || [] : h.values) : [];
  if (Number.isNaN(win.t0)) timeWindow(win, times);
  c.drawn = paint(c, times, points, win, plotRate);
}

// showFigures updates a card's texts, after its chart is drawn.
function showFigures(c) {
  const key = c.key;
  const value = client.value(key);
  const rate = client.rate(key);
  const r = c.drawn;
  let main, sub;
  if (c.counter && c.plotRate) {
    main = formatValue(rate, c.unit, true);
    sub = "total " + joined(formatValue(value, c.unit, false));
  } else if (c.counter) {
    main = formatValue(value, c.unit, false);
    sub = rate === undefined ? "no rate yet" : joined(formatValue(rate, c.unit, true));
  } else {
    main = formatValue(value, c.unit, false);
    sub = r.points > 0 ? "min " + joined(formatValue(r.min, c.unit, false)) + " · max " + joined(formatValue(r.max, c.unit, false)) : "\u00a0";
  }
  setText(c.num, main[0]);
  setText(c.unitEl, main[1]);
  setText(c.sub, sub);
  const stale = client.isStale(key);
  if (stale !== c.stale) {
    c.stale = stale;
    c.el.classList.toggle("stale", stale);
  }
  const d = c.el.dataset;
  d.value = String(value);
  d.points = String(r.points);
  d.seq = String(client.seq);
}

// timeWindow sets the frame's time axis: from the oldest point held to the
// last tick, at least MIN_SPAN_TICKS ticks wide. Every series shares the
// same tick times, so every chart shares the axis.
function timeWindow(win, times) {
  const t1 = times.length ? times[times.length - 1] : client.state.ts || Date.now();
  const t0 = Math.min(times.length ? times[0] : t1, t1 - MIN_SPAN_TICKS * client.intervalMs);
  win.t0 = t0;
  win.t1 = t1 > t0 ? t1 : t0 + 1;
}

const PAD_TOP = 6;      // CSS px above the plot
const PAD_BOTTOM = 16;  // CSS px below it, for the time labels
const GUTTER = 46;      // CSS px left of it, for the value labels
const FONT = "10px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

// paint draws one chart and returns {points, min, max} of the values drawn.
function paint(c, times, vals, win, isRate) {
  let ctx = c.ctx;
  if (!ctx) {
    // Once, and again after a resize, which resets a canvas's state.
    // Opaque: cheaper to composite than a transparent canvas.
    ctx = c.ctx = c.canvas.getContext("2d", { alpha: false });
    ctx.font = FONT;
  }
  const W = c.cssW, H = c.cssH;
  const sx = c.w / W, sy = c.h / H;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = colors.card;
  ctx.fillRect(0, 0, c.w, c.h);
  ctx.drawImage(timeAxis(c, win), 0, 0);
  ctx.setTransform(sx, 0, 0, sy, 0, 0);

  const top = PAD_TOP, bottom = H - PAD_BOTTOM;
  const span = win.t1 - win.t0;
  let first = 0;
  while (first < times.length && times[first] < win.t0) first++;

  // The range of the values in the window.
  let lo = Infinity, hi = -Infinity, n = 0;
  for (let i = first; i < vals.length; i++) {
    const v = vals[i];
    if (v === null || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    n++;
  }
  const result = { points: n, min: lo, max: hi };
  const { y0, y1, rows } = niceScale(lo, hi, c.unit);
  const yOf = (v) => bottom - (v - y0) / (y1 - y0) * (bottom - top);

  // Horizontal grid lines, and their values in the gutter.
  ctx.lineWidth = 1;
  ctx.strokeStyle = colors.grid;
  ctx.beginPath();
  for (const v of rows) {
    const y = Math.round(yOf(v) * sy) / sy + 0.5 / sy;
    ctx.moveTo(GUTTER, y);
    ctx.lineTo(W, y);
  }
  ctx.stroke();
  ctx.fillStyle = colors.axis;
  ctx.textBaseline = "middle";
  if (n === 0) {
    ctx.textAlign = "center";
    ctx.fillText(vals.length ? "no data in view" : "waiting for data", (GUTTER + W) / 2, (top + bottom) / 2);
    return result;
  }
  ctx.textAlign = "right";
  for (const v of rows) ctx.fillText(axisLabel(v, c.unit), GUTTER - 6, yOf(v), GUTTER - 6);

  // The line, and the area under it, with a gap where there is no value.
  // With more than two points per pixel column, each column is drawn as the
  // min and max of its points, in the order they came.
  const line = new Path2D();
  const area = new Path2D();
  const xScale = (W - GUTTER) / span;
  const bucket = n > 2 * (W - GUTTER) * sx;
  let pen = false, segX = 0, lastX = 0, lastV = 0;
  let col = NaN, bMin = 0, bMax = 0, iMin = 0, iMax = 0, bN = 0;
  const put = (x, v) => {
    const y = yOf(v);
    if (pen) {
      line.lineTo(x, y);
      area.lineTo(x, y);
    } else {
      line.moveTo(x, y);
      area.moveTo(x, bottom);
      area.lineTo(x, y);
      segX = x;
      pen = true;
    }
    lastX = x;
    lastV = v;
  };
  const flush = () => {
    if (bN === 0) return;
    const x = col / sx;
    if (bMin === bMax) put(x, bMin);
    else if (iMin < iMax) { put(x, bMin); put(x, bMax); }
    else { put(x, bMax); put(x, bMin); }
    bN = 0;
  };
  const endSegment = () => {
    flush();
    if (!pen) return;
    area.lineTo(lastX, bottom);
    area.lineTo(segX, bottom);
    area.closePath();
    if (lastX === segX) line.rect(segX - 1, yOf(lastV) - 1, 2, 2); // a lone point
    pen = false;
  };
  for (let i = first; i < vals.length; i++) {
    const v = vals[i];
    if (v === null || !Number.isFinite(v)) {
      endSegment();
      continue;
    }
    const x = GUTTER + (times[i] - win.t0) * xScale;
    if (!bucket) {
      put(x, v);
      continue;
    }
    const px = Math.round(x * sx);
    if (px !== col) {
      flush();
      col = px;
      bMin = bMax = v;
      iMin = iMax = 0;
      bN = 1;
    } else {
      if (v < bMin) { bMin = v; iMin = bN; }
      if (v > bMax) { bMax = v; iMax = bN; }
      bN++;
    }
  }
  endSegment();

  const color = isRate ? colors.rate : colors.line;
  ctx.globalAlpha = 0.12;
  ctx.fillStyle = color;
  ctx.fill(area);
  ctx.globalAlpha = 1;
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.6;
  ctx.lineJoin = "bevel"; // cheaper to rasterize than round, the same at this width
  ctx.stroke(line);

  return result;
}

// niceScale is the value axis of a chart: from y0 to y1 with grid lines at
// round values (rows), about three intervals; zero-based when the values are
// positive and not far from zero or constant. Bytes get round values in
// their binary unit (512 KiB, not 524.3 kB).
function niceScale(lo, hi, unit) {
  if (!(lo <= hi)) {
    lo = 0;
    hi = 1;
  } else if (lo === hi) {
    if (lo === 0) hi = 1;
    else if (lo > 0) lo = 0;
    else hi = 0;
  } else if (lo >= 0 && lo <= hi * 0.35) {
    lo = 0;
  }
  let f = 1;
  if (unit === "bytes") {
    const a = Math.max(Math.abs(lo), Math.abs(hi));
    while (f * 1024 <= a && f < 1024 ** 6) f *= 1024;
  }
  const raw = (hi - lo) / f / 3;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag * f;
  const y0 = Math.floor(lo / step) * step;
  let y1 = Math.ceil(hi / step) * step;
  if (y1 <= y0) y1 = y0 + step;
  const rows = [];
  for (let i = 0; i <= 6; i++) {
    const v = Number((y0 + i * step).toPrecision(12));
    if (v > y1 + step / 2) break;
    rows.push(v);
  }
  return { y0, y1, rows };
}

// The time axis: vertical grid lines and time labels at round times. It is
// the same for every chart of a size in a frame, so it is drawn once into
// an offscreen canvas and copied.
const axisCache = new Map(); // size -> {canvas, ctx, drawn: the window it shows}
const TIME_STEPS = [100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5];

function timeAxis(c, win) {
  const drawn = win.t0 + "|" + win.t1 + "|" + colors.axis + colors.grid;
  const key = c.w + "x" + c.h + "/" + c.cssW + "x" + c.cssH;
  let a = axisCache.get(key);
  if (a && a.drawn === drawn) return a.canvas;
  if (!a) {
    if (axisCache.size >= 8) axisCache.clear();
    const canvas = document.createElement("canvas");
    canvas.width = c.w;
    canvas.height = c.h;
    a = { canvas, ctx: canvas.getContext("2d"), drawn: "" };
    axisCache.set(key, a);
  }
  a.drawn = drawn;
  const ctx = a.ctx;
  const W = c.cssW, H = c.cssH, sx = c.w / W, sy = c.h / H;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, c.w, c.h);
  ctx.setTransform(sx, 0, 0, sy, 0, 0);
  const bottom = H - PAD_BOTTOM;
  const span = win.t1 - win.t0;
  ctx.font = FONT;
  const labelW = ctx.measureText("00:00:00").width + 12;
  const step = TIME_STEPS.find((s) => span / s <= (W - GUTTER) / labelW) || TIME_STEPS[TIME_STEPS.length - 1];
  // Round times in local time: shift by the zone's offset.
  const shift = -new Date(win.t1).getTimezoneOffset() * 60000;
  ctx.strokeStyle = colors.grid;
  ctx.lineWidth = 1;
  ctx.fillStyle = colors.axis;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const grid = new Path2D();
  for (let t = Math.ceil((win.t0 + shift) / step) * step - shift; t <= win.t1; t += step) {
    const x = Math.round((GUTTER + (t - win.t0) / span * (W - GUTTER)) * sx) / sx + 0.5 / sx;
    grid.moveTo(x, PAD_TOP);
    grid.lineTo(x, bottom + 3);
    const text = clockTime(t, step);
    const w = ctx.measureText(text).width;
    if (x - w / 2 >= GUTTER - 10 && x + w / 2 <= W) ctx.fillText(text, x, bottom + 4);
  }
  ctx.setLineDash([2, 3]);
  ctx.stroke(grid);
  ctx.setLineDash([]);
  return a.canvas;
}

// ---- Formatting ----

const pad2 = (n) => String(n).padStart(2, "0");

// clockTime formats a Unix ms time as local HH:MM:SS, HH:MM for steps of a
// minute or more, MM:SS.s for steps under a second.
function clockTime(t, step = 1000) {
  const d = new Date(t);
  const hm = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
  if (step >= 60000) return hm;
  if (step >= 1000) return hm + ":" + pad2(d.getSeconds());
  return pad2(d.getMinutes()) + ":" + pad2(d.getSeconds()) + "." + Math.floor(d.getMilliseconds() / 100);
}

// unitOf is the unit a card formats with: the catalogue's, or one implied by
// a Prometheus-style name suffix (_seconds, _bytes, _ratio), normalized.
function unitOf(e) {
  let u = (e.unit || "").trim();
  const lower = u.toLowerCase();
  if (!u) {
    if (/_seconds(_total|_sum)?$/.test(e.name)) return "seconds";
    if (/_bytes(_total|_sum)?$/.test(e.name)) return "bytes";
    if (/_ratio$/.test(e.name)) return "ratio";
    return "";
  }
  if (["s", "second", "seconds", "cpu-seconds", "sec"].includes(lower)) return "seconds";
  if (["b", "byte", "bytes"].includes(lower)) return "bytes";
  if (["%", "percent", "percentage"].includes(lower)) return "percent";
  if (lower === "ratio") return "ratio";
  return u;
}

const BYTES = [[1, "B"], [1024, "KiB"], [1024 ** 2, "MiB"], [1024 ** 3, "GiB"], [1024 ** 4, "TiB"], [1024 ** 5, "PiB"], [1024 ** 6, "EiB"]];
const SECONDS = [[1e-9, "ns"], [1e-6, "µs"], [1e-3, "ms"], [1, "s"], [60, "min"], [3600, "h"], [86400, "d"]];
const COUNTS = [[1, ""], [1e3, "k"], [1e6, "M"], [1e9, "G"], [1e12, "T"], [1e15, "P"]];

// digits gives three significant digits, or all of an integer under 1000.
function digits(x) {
  const a = Math.abs(x);
  const s = a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

// ladder scales v to the largest step it reaches: [number, step name].
function ladder(v, steps) {
  const a = Math.abs(v);
  let i = 0;
  while (i < steps.length - 1 && a >= steps[i + 1][0]) i++;
  let s = digits(v / steps[i][0]);
  if (i < steps.length - 1 && Math.abs(Number(s)) * steps[i][0] >= steps[i + 1][0]) {
    i++;
    s = digits(v / steps[i][0]);
  }
  return [s === "-0" ? "0" : s, steps[i][1]];
}

// plain formats a count: 42, 0.0123, 1.23k, 45.6M.
function plain(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e18) return v.toExponential(2);
  if (a >= 1000) return ladder(v, COUNTS).join("");
  if (Number.isInteger(v)) return String(v);
  if (a >= 1) return digits(v);
  if (a >= 0.001) return String(Number(v.toPrecision(3)));
  return String(Number(v.toPrecision(2)));
}

// formatValue formats a value (or, with rate, a per-second rate) in its
// unit: [number, unit text].
function formatValue(v, unit, rate) {
  if (v === undefined || v === null) return ["—", ""];
  if (Number.isNaN(v)) return ["NaN", ""];
  if (!Number.isFinite(v)) return [v > 0 ? "+Inf" : "−Inf", ""];
  const per = rate ? "/s" : "";
  switch (unit) {
    case "bytes": { const [s, u] = ladder(v, BYTES); return [s, u + per]; }
    case "seconds": { const [s, u] = v === 0 ? ["0", "s"] : ladder(v, SECONDS); return [s, u + per]; }
    case "percent": return [plain(v), "%" + per];
    case "ratio": return [plain(v * 100), "%" + per];
    default: return [plain(v), unit + per];
  }
}

function joined([num, unit]) {
  return unit ? (unit.startsWith("/") || unit === "%" ? num + unit : num + " " + unit) : num;
}

// axisLabel is a short label for a chart's value axis.
function axisLabel(v, unit) {
  const [num, u] = formatValue(v, unit, false);
  if (unit === "bytes" || unit === "seconds" || unit === "percent" || unit === "ratio") return joined([num, u]);
  return num;
}

// ---- Helpers ----

function splitList(text) {
  return String(text).split(/[\s,]+/).filter((t) => t !== "");
}

function globRegExp(glob) {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp("^" + body + "$", "i");
}
