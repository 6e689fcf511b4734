/**
 * dashboard.js: the page of pulse.Dashboard (github.com/go-pulse/pulse).
 *
 * It connects with pulse.js to the Hub's stream, served next to this file
 * ("stream": every URL here is relative, so the dashboard works under any
 * prefix), groups the series into charts (families.js: a chart per metric
 * family, per histogram, per _sum/_count average), and draws them from the
 * history pulse.js keeps (the server's history on connect, then one point
 * per tick). Series that never change go to a compact list
 * (constants.js). The page reads only pulse.js's API, never the wire.
 *
 * Modules: format.js (units, plurals, times), families.js (which chart a
 * series is in), ranges.js (time ranges and where their points come from:
 * the one place server-side history tiers plug in), chart.js (canvas
 * drawing), card.js (a chart card), constants.js, interact.js (pointer and
 * keyboard on charts), export.js (CSV, PNG), view.js (the address).
 *
 * Cost: a tick only bumps a generation number. Drawing happens in
 * requestAnimationFrame, once per frame whatever the number of ticks, and
 * only for the cards an IntersectionObserver reports in view; a card
 * scrolled into view is drawn then. Card elements are created once per
 * chart and reused; per tick only their texts (when changed) and canvases
 * are touched, all canvases first, then all texts.
 *
 * window.dashboard exposes the client, the cards and timing figures for
 * the console and the browser tests: perf.frames, ms spent drawing per
 * animation frame that drew; perf.charts, charts drawn in that frame;
 * perf.rendered, ms from the start of that frame until the browser had
 * rendered it; perf.updates, ms spent handling each message; perf.longTasks
 * and longTaskMs, main-thread tasks over 50 ms.
 */
import { connect } from "./pulse.js";
import { buildCharts, sameSpec } from "./families.js";
import { Card } from "./card.js";
import { ConstantList, ConstantTracker, MIN_TICKS } from "./constants.js";
import { bindInteractions, renderTip } from "./interact.js";
import { availability, heldSpan, rangeById, rangesFor, sourceFor, windowOf } from "./ranges.js";
import { readView, saveView } from "./view.js";
import { clockTime, spanText } from "./format.js";

// ---- Configuration, from the page and its query string ----

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") || "";
const BASE_MATCH = splitList(meta("pulse-match") || "*"); // the subscription without a server-side filter
const MAX_PATTERNS = Number(meta("pulse-max-patterns")) || 32;
const PATTERN = /^[A-Za-z0-9_:*?]{1,200}$/; // a subscription pattern, as the Hub takes it
const MIN_SPAN_TICKS = 60;  // the live window spans at least this many ticks
const PERF_KEEP = 20000;    // timing samples kept

const $ = (id) => document.getElementById(id);
const mainEl = document.querySelector("main");
const grid = $("grid");
const pinnedGrid = $("pinned-grid");
const pinnedSection = $("pinned");
const filterBox = $("filter");
const serverBox = $("server-filter");
const pauseButton = $("pause");
const statusEl = $("status");
const statusText = $("status-text");
const countEl = $("count");
const clockEl = $("clock");
const emptyEl = $("empty");
const tip = $("tip");
const rangesEl = $("ranges");
const keysRangesEl = $("keys-ranges");
const keysRangesKeysEl = $("keys-ranges-keys");
const zoomedEl = $("zoomed");
const zoomText = $("zoom-text");
const keysDialog = $("keys-help");
const cardTemplate = $("card").content.firstElementChild;

const view = readView(location.search);
filterBox.value = view.q;
serverBox.checked = view.server;

// ---- State ----

const cards = new Map();         // chart id -> Card
const byElement = new WeakMap(); // card element, canvas or grip -> Card
const inView = new Set();        // cards the IntersectionObserver reports in view
const tracker = new ConstantTracker();
let gen = 0;                     // bumped by every message and view change; a card drawn at an older gen is out of date
let paused = false;
let pausedWin = null;            // the window frozen by pause
let pausedSeq = 0;
let stalePage = false;           // the catalogue changed while paused
let frameQueued = false;
let filter = parseFilter(filterBox.value);
let shownSeries = 0;
let totalSeries = 0;
let connects = 0;
let metaGen = -1;
let hover = null;                // {card, t, clientX, clientY, keyboard}
let band = null;                 // {card, x: [x0, x1]}: a zoom selection being dragged
let ranges = rangesFor({ tiers: null }); // until the hello lists the Hub's tiers
let range = rangeById(view.range, ranges);
let source = null;

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
  for (const c of cards.values()) c.buildLegend();
  invalidate();
});

function readColors() {
  const cs = getComputedStyle(document.documentElement);
  const v = (name, fallback) => cs.getPropertyValue(name).trim() || fallback;
  const palette = [];
  for (let i = 0; i < 10; i++) palette.push(v("--c" + i, "#2563eb"));
  return {
    line: v("--line", "#2563eb"), rate: v("--line-rate", "#0d9488"), grid: v("--grid", "#e9edf2"),
    axis: v("--axis", "#7b8594"), card: v("--card", "#ffffff"), fg: v("--fg", "#16191d"),
    accent: v("--accent", "#2563eb"), palette,
  };
}

// ---- The connection ----

const client = connect("stream", { match: subscription(), onStatus, onUpdate });
source = sourceFor(range, client, null, invalidate);

// app is what the cards and the interactions use of the page.
const app = {
  client,
  main: mainEl,
  get source() { return source; },
  get colors() { return colors; },
  get hover() { return hover; },
  schedule,
  cardOf: (el) => byElement.get(el),
  window: currentWindow,
  setHover,
  setBand,
  zoomTo,
  zoomBy,
  resetZoom,
  togglePin,
  movePin,
  reorderPins,
};
bindInteractions(app);

window.dashboard = {
  client,
  cards,
  perf,
  get paused() { return paused; },
  get inView() { return inView.size; },
  get range() { return range.id; },
  get source() { return source; },
  get zoom() { return view.zoom ? { ...view.zoom } : null; },
  get pins() { return [...view.pins]; },
  get hover() { return hover ? { chart: hover.card.spec.id, t: hover.t, keyboard: hover.keyboard } : null; },
  window: currentWindow,
  setPaused,
  setRange,
  setFilter(text) {
    filterBox.value = text;
    filterChanged();
  },
  chart: (id) => cards.get(id),
};

function onUpdate(state, changes) {
  const t0 = performance.now();
  if (changes.type === "snapshot" && changes.reason === "connect") statusEl.dataset.connects = String(++connects);
  // A history message brings every point: read them all. A snapshot or a
  // delta brings values: compare them with the last ones.
  if (changes.type === "history") tracker.reset(client);
  else tracker.update(client, changes);
  if (!paused) gen++;
  if (paused) {
    stalePage = true;
  } else if (changes.type !== "delta" || changes.removed.length || changes.series.length) {
    rebuild(); // a snapshot, a history, or a delta that changed the catalogue
  } else if (classify()) {
    arrange();
  }
  showRanges();
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

// ---- Charts ----

let order = []; // the cards in display order (buildCharts's)

let catalogue = ""; // what rebuild last built the charts of

// catalogueOf is a short description of the catalogue: the same text, the
// same charts.
function catalogueOf(series) {
  let s = "";
  for (const e of series.values()) s += e.key + "\u0000" + e.kind + "\u0000" + (e.unit || "") + "\u0000" + (e.help || "") + "\u0001";
  return s;
}

// rebuild makes the cards those of the catalogue's charts.
function rebuild() {
  const cat = catalogueOf(client.state.series);
  if (cat === catalogue) {
    if (classify()) arrange();
    return;
  }
  catalogue = cat;
  const specs = buildCharts(client.state.series);
  const ids = new Set(specs.map((s) => s.id));
  for (const [id, c] of cards) if (!ids.has(id)) removeCard(id, c);
  order = specs.map((spec) => {
    let c = cards.get(spec.id);
    if (!c) c = addCard(spec);
    else if (!sameSpec(c.spec, spec)) {
      c.setSpec(spec);
      c.redraw();
    } else {
      c.spec = spec;
    }
    return c;
  });
  totalSeries = client.state.series.size;
  classify();
  arrange();
}

function addCard(spec) {
  const c = new Card(spec, app, cardTemplate);
  cards.set(spec.id, c);
  byElement.set(c.el, c);
  byElement.set(c.canvas, c);
  byElement.set(c.grip, c);
  c.setPinned(view.pins.includes(spec.id));
  c.setMatch(cardMatch(c));
  observeSize(c.canvas);
  viewObserver.observe(c.el);
  return c;
}

function removeCard(id, c) {
  cards.delete(id);
  inView.delete(c);
  viewObserver.unobserve(c.el);
  sizeObserver.unobserve(c.canvas);
  if (hover && hover.card === c) setHover(null);
  c.el.remove();
}

// classify marks the cards whose every series is constant; true if any changed.
function classify() {
  const start = source.start(), end = source.end();
  const minSpan = MIN_TICKS * client.intervalMs;
  let changed = false;
  for (const c of cards.values()) {
    const constant = !c.pinned && c.spec.lines.every((l) => (l.avg ?
      tracker.isConstant(l.sumKey, start, end, minSpan) && tracker.isConstant(l.countKey, start, end, minSpan) :
      tracker.isConstant(l.key, start, end, minSpan)));
    if (constant !== c.constant) {
      c.constant = constant;
      c.el.dataset.constant = String(constant);
      changed = true;
    }
  }
  return changed;
}

// arrange puts the card elements in place, moving only those out of
// place: the pinned ones in the pinned order, the others in order, the
// constant ones out of the grid and into the list; and applies the filter.
function arrange() {
  const pinned = view.pins.map((id) => cards.get(id)).filter(Boolean);
  place(pinnedGrid, pinned);
  place(grid, order.filter((c) => !c.pinned && !c.constant));
  pinnedSection.hidden = pinned.length === 0;
  applyFilter();
}

function place(container, list) {
  let next = container.firstElementChild;
  for (const c of list) {
    if (c.el === next) next = next.nextElementSibling;
    else container.insertBefore(c.el, next);
  }
  while (next) {
    const after = next.nextElementSibling;
    next.remove();
    next = after;
  }
}

const constantList = new ConstantList($("constants"), (id) => togglePin(id));

// ---- Pins ----

function togglePin(id) {
  const i = view.pins.indexOf(id);
  if (i >= 0) view.pins.splice(i, 1);
  else view.pins.push(id);
  const c = cards.get(id);
  if (c) c.setPinned(i < 0);
  if (c && i < 0) {
    c.constant = false;
    c.el.dataset.constant = "false";
  }
  classify();
  arrange();
  saveView(view);
  if (c && i < 0) c.pinBtn.focus({ preventScroll: true });
}

function movePin(id, delta) {
  const pins = view.pins.filter((p) => cards.has(p)); // those shown, in order
  const i = pins.indexOf(id);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= pins.length) return;
  const other = pins[j];
  const a = view.pins.indexOf(id), b = view.pins.indexOf(other);
  view.pins[a] = other;
  view.pins[b] = id;
  arrange();
  saveView(view);
}

// reorderPins takes the pinned order from the pinned grid, after a drag.
function reorderPins() {
  const shown = [...pinnedGrid.children].map((el) => byElement.get(el)?.spec.id).filter(Boolean);
  const rest = view.pins.filter((p) => !shown.includes(p));
  view.pins = [...shown, ...rest];
  arrange();
  saveView(view);
}

// ---- Filter ----

// parseFilter reads the filter box: space- or comma-separated terms; a line
// shows when any term matches it. A term with * or ? is a glob matched
// against the whole name or key; other terms are substrings of the key or
// the chart's title. Both ignore case.
function parseFilter(text) {
  const terms = splitList(text);
  return {
    terms,
    tests: terms.map((t) => (/[*?]/.test(t) ? { glob: globRegExp(t) } : { sub: t.toLowerCase() })),
  };
}

// cardMatch is the set of line ids of a card the filter lets through, or
// null when the filter lets the whole chart through.
function cardMatch(c) {
  if (filter.tests.length === 0) return null;
  const spec = c.spec;
  for (const t of filter.tests) {
    if (t.sub !== undefined ? c.haystack.includes(t.sub) : t.glob.test(spec.name) || t.glob.test(spec.title) || t.glob.test(spec.id)) return null;
  }
  const ids = new Set();
  for (const l of spec.lines) {
    const keys = l.avg ? [l.id, l.sumKey, l.countKey] : [l.key];
    const hit = filter.tests.some((t) => keys.some((k) => (t.sub !== undefined ? k.toLowerCase().includes(t.sub) : t.glob.test(k))));
    if (hit) ids.add(l.id);
  }
  return ids;
}

function applyFilter() {
  shownSeries = 0;
  let shownCharts = 0;
  const constants = [];
  for (const c of order) {
    const m = cardMatch(c);
    c.setMatch(m);
    const show = m === null || m.size > 0;
    if (c.el.hidden === show) c.el.hidden = !show;
    if (!show) continue;
    shownSeries += m === null ? c.spec.lines.filter((l) => !l.avg).length : [...m].filter((id) => !id.startsWith("avg(")).length;
    if (c.constant && !c.pinned) constants.push(c);
    else shownCharts++;
  }
  constantList.render(constants, heldSpanNow());
  emptyEl.hidden = shownCharts + constants.length > 0 || cards.size === 0;
  metaGen = -1;
  invalidate();
}

function heldSpanNow() {
  const start = source.start(), end = source.end();
  return Number.isFinite(start) && Number.isFinite(end) ? end - start : 0;
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
    view.q = filterBox.value;
    view.server = serverBox.checked;
    saveView(view);
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

// ---- Time range, zoom, hover ----

let rangesShown = "";
let tiersShown = "";

// showRanges builds the range buttons from the Hub's tiers when they
// changed, marks the selected range and those the Hub cannot serve; it
// does something only when the range or the Hub's history changed.
function showRanges() {
  const tiers = JSON.stringify(client.tiers);
  if (tiers !== tiersShown) {
    tiersShown = tiers;
    buildRanges();
  }
  const shown = range.id + "|" + client.historyLength + "|" + client.intervalMs;
  if (shown === rangesShown) return;
  rangesShown = shown;
  for (const b of rangesEl.querySelectorAll("[data-range]")) {
    const r = rangeById(b.dataset.range, ranges);
    const a = availability(r, client);
    const checked = r === range;
    b.setAttribute("aria-checked", String(checked));
    b.tabIndex = checked ? 0 : -1;
    if (b.getAttribute("aria-disabled") !== String(!a.ok)) b.setAttribute("aria-disabled", String(!a.ok));
    const what = r.tier ? `the last ${r.label}, from the Hub's ${spanText(r.step)} buckets` : r.span ? "the last " + r.label : "everything the Hub keeps, following each tick";
    const title = a.ok ? `Show ${what}${r.key ? ` (key ${r.key})` : ""}` : a.reason;
    if (b.title !== title) b.title = title;
  }
  if (range.span && !availability(range, client).ok && heldSpan(client) > 0) setRange("live");
}

// buildRanges makes one button per range of the Hub (live, 5 min, each
// tier), and selects the view's range once the Hub offers it (a shared
// view of a tier the page did not know before the hello).
function buildRanges() {
  ranges = rangesFor(client);
  rangesEl.replaceChildren(...ranges.map((r) => {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("role", "radio");
    b.dataset.range = r.id;
    b.setAttribute("aria-checked", "false");
    if (r.key) b.setAttribute("aria-keyshortcuts", r.key);
    b.textContent = r.label;
    return b;
  }));
  const last = ranges.filter((r) => r.key).at(-1);
  rangesEl.setAttribute("aria-label", `Time range (keys 1 to ${last.key})`);
  keysRangesEl.textContent = "range: " + ranges.filter((r) => r.key).map((r) => r.label).join(", ");
  keysRangesKeysEl.replaceChildren(...ranges.filter((r) => r.key).flatMap((r, i) => {
    const k = document.createElement("kbd");
    k.textContent = r.key;
    return i ? [" ", k] : [k];
  }));
  rangesShown = "";
  const want = rangeById(view.range, ranges);
  range = want.id === view.range ? want : rangeById(range.id, ranges);
  source = sourceFor(range, client, source, invalidate);
}

/** setRange selects a time range by id; a range the Hub cannot serve is refused. */
function setRange(id) {
  const r = rangeById(id, ranges);
  if (!availability(r, client).ok) return false;
  range = r;
  source = sourceFor(r, client, source, invalidate);
  view.range = r.id;
  view.zoom = null;
  if (paused) pausedWin = windowOf(range, source, pausedWin.t1, MIN_SPAN_TICKS * client.intervalMs);
  showRanges();
  showZoom();
  saveView(view);
  invalidate();
  return true;
}

rangesEl.addEventListener("click", (ev) => {
  const b = ev.target.closest("[data-range]");
  if (b) setRange(b.dataset.range);
});
rangesEl.addEventListener("keydown", (ev) => {
  const dir = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 }[ev.key];
  if (!dir) return;
  ev.preventDefault();
  const buttons = [...rangesEl.querySelectorAll("[data-range]")];
  let i = buttons.indexOf(document.activeElement);
  for (let n = 0; n < buttons.length; n++) {
    i = (i + dir + buttons.length) % buttons.length;
    if (buttons[i].getAttribute("aria-disabled") !== "true") break;
  }
  if (setRange(buttons[i].dataset.range)) buttons[i].focus();
});

/** currentWindow is the time window every chart shows now. */
function currentWindow() {
  if (view.zoom) return view.zoom;
  if (paused && pausedWin) return pausedWin;
  return windowOf(range, source, source.end(), MIN_SPAN_TICKS * client.intervalMs);
}

function zoomTo(t0, t1) {
  const min = 2 * client.intervalMs;
  if (t1 - t0 < min) {
    const mid = (t0 + t1) / 2;
    t0 = mid - min / 2;
    t1 = mid + min / 2;
  }
  view.zoom = { t0, t1 };
  showZoom();
  saveView(view);
  invalidate();
}

// zoomBy zooms around time t by factor f (0.5: in, 2: out); out past the
// range's window resets the zoom.
function zoomBy(f, t) {
  const win = currentWindow();
  const full = view.zoom ? windowOfRange() : win;
  const span = (win.t1 - win.t0) * f;
  if (span >= full.t1 - full.t0) return resetZoom();
  const c = Number.isFinite(t) ? t : (win.t0 + win.t1) / 2;
  let t0 = c - (c - win.t0) * f;
  t0 = Math.max(full.t0, Math.min(t0, full.t1 - span));
  zoomTo(t0, t0 + span);
}

function windowOfRange() {
  if (paused && pausedWin) return pausedWin;
  return windowOf(range, source, source.end(), MIN_SPAN_TICKS * client.intervalMs);
}

function resetZoom() {
  if (!view.zoom) return;
  view.zoom = null;
  showZoom();
  saveView(view);
  invalidate();
}

function showZoom() {
  zoomedEl.hidden = !view.zoom;
  document.body.dataset.zoomed = view.zoom ? "true" : "false";
  if (view.zoom) zoomText.textContent = `${clockTime(view.zoom.t0)}–${clockTime(view.zoom.t1)} (${spanText(view.zoom.t1 - view.zoom.t0)})`;
}

$("zoom-reset").addEventListener("click", resetZoom);

function setHover(h) {
  const old = hover && hover.card;
  hover = h;
  if (old && (!h || h.card !== old)) old.redraw();
  if (h) h.card.redraw();
  else tip.hidden = true;
}

function setBand(card, x) {
  band = x ? { card, x } : null;
  card.redraw();
}

// ---- Pause ----

pauseButton.addEventListener("click", () => setPaused(!paused));

function setPaused(p) {
  p = !!p;
  if (p === paused) return;
  if (p) {
    pausedWin = currentWindow();
    pausedSeq = client.seq;
  }
  paused = p;
  pauseButton.textContent = paused ? "Resume" : "Pause";
  pauseButton.setAttribute("aria-pressed", String(paused));
  document.body.dataset.paused = paused ? "true" : "false";
  if (!paused) {
    pausedWin = null;
    if (stalePage) rebuild();
    stalePage = false;
    invalidate();
  }
  showStatusPaused();
}

function showStatusPaused() {
  statusEl.dataset.paused = String(paused);
}

// ---- Keyboard ----

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented || keysDialog.open) return;
  const typing = ev.target.closest?.("input, textarea, select, [contenteditable]");
  if (typing) return;
  const r = ranges.find((x) => x.key && x.key === ev.key);
  if (ev.key === "/") {
    ev.preventDefault();
    filterBox.focus();
  } else if (ev.key === "p" || ev.key === "P") {
    setPaused(!paused);
  } else if (r) {
    setRange(r.id);
  } else if (ev.key === "Escape" && view.zoom) {
    resetZoom();
  } else if (ev.key === "?") {
    keysDialog.showModal();
  }
});
$("keys-button").addEventListener("click", () => keysDialog.showModal());
$("keys-close").addEventListener("click", () => keysDialog.close());

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
  if (frameQueued) return;
  frameQueued = true;
  requestAnimationFrame(frame);
}

function frame() {
  frameQueued = false;
  const t0 = performance.now();
  const win = currentWindow();
  // Two passes: every canvas first, then every text. Interleaved, each
  // canvas's font would have to wait for a style recalculation caused by the
  // previous card's texts.
  const due = [];
  for (const c of inView) {
    if (c.drawnGen === gen || c.el.hidden || c.w === 0 || c.h === 0) continue;
    const h = hover && hover.card === c ? hover.t : NaN;
    c.draw(win, h, band && band.card === c ? band.x : null);
    c.drawnGen = gen;
    due.push(c);
  }
  const seq = paused ? pausedSeq : client.seq;
  for (const c of due) c.showFigures(seq);
  if (hover && due.includes(hover.card)) renderTip(tip, hover);
  if (metaGen !== gen) showMeta();
  const drawn = due.length;
  if (drawn > 0) {
    sample(perf.frames, performance.now() - t0);
    sample(perf.charts, drawn);
    renderStart = t0;
    rendered.port2.postMessage(0);
  }
}

function showMeta() {
  metaGen = gen;
  constantList.showValues(client);
  const count = totalSeries === 0 ? "no series yet" : shownSeries >= totalSeries ? `${totalSeries} series` : `${shownSeries} of ${totalSeries} series`;
  if (countEl.textContent !== count) countEl.textContent = count;
  const st = client.state;
  const clock = st.ts ? "seq " + st.seq + " · " + clockTime(st.ts) : "";
  if (clockEl.textContent !== clock) clockEl.textContent = clock;
}

showRanges();
showZoom();

// ---- Helpers ----

function splitList(text) {
  return String(text).split(/[\s,]+/).filter((t) => t !== "");
}

function globRegExp(glob) {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp("^" + body + "$", "i");
}
