/**
 * families.js: which chart each series is drawn in (pulse.Dashboard).
 *
 * Pure functions of the catalogue (Map key -> {key, name, labels, kind,
 * unit, help}), no DOM. buildCharts groups the series into chart specs:
 *
 * - A metric family: one chart per metric name, a line per label set.
 * - A histogram (or summary): the series of a name with a "quantile" label
 *   and the same other labels are one chart, a line per quantile (p50, p90,
 *   p99, max). When name_sum and name_count exist with those labels, the
 *   chart also has their average, Δsum/Δcount per tick: the mean of the
 *   observations made in that tick.
 * - An average: name_sum and name_count pairs with no quantiles of their
 *   own are one chart "name (average)", a line per label set.
 *
 * The _sum and _count families keep their own charts too: _count as a rate
 * is the observations per second, and _sum of seconds as a rate is the busy
 * time per second.
 *
 * A spec: {id, name, title, type: "family"|"histogram"|"average", labels
 * (those every line shares), lines: [{id, key, label, labels, kind,
 * sumKey, countKey, q}], counter (some line is a counter), unit entry
 * (the first line's), help, rank}. Line ids are series keys, or
 * "avg(<key>)" for an average line. Chart ids are what the URL keeps for
 * pinned charts: the metric name for a family, the histogram's key
 * without its quantile label, "avg(<name>)" for an average.
 */
import { quantileLabel } from "./format.js";

/** keyOf builds a series key as the Hub does: name{a="1",b="2"}, labels sorted by name. */
export function keyOf(name, labels) {
  const names = Object.keys(labels || {}).sort();
  if (names.length === 0) return name;
  const esc = (v) => String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return name + "{" + names.map((k) => `${k}="${esc(labels[k])}"`).join(",") + "}";
}

function without(labels, drop) {
  const out = {};
  for (const [k, v] of Object.entries(labels || {})) if (k !== drop) out[k] = v;
  return out;
}

// quantileOrder sorts quantile label values: numbers ascending, then the rest (max).
function quantileOrder(a, b) {
  const x = Number(a), y = Number(b);
  const fx = a !== "" && Number.isFinite(x), fy = b !== "" && Number.isFinite(y);
  if (fx && fy) return x - y;
  if (fx !== fy) return fx ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compare(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * rankOf orders charts: the application's first, then its histograms and
 * their _count/_sum, then the Go runtime's and the process's, then the
 * Hub's own (pulse_).
 */
export function rankOf(name, type) {
  if (name.startsWith("go_") || name.startsWith("process_")) return 2;
  if (name.startsWith("pulse_")) return 3;
  if (type !== "family" || /_(count|sum|bucket)$/.test(name)) return 1;
  return 0;
}

function newSpec(id, name, type, title, e) {
  return { id, name, type, title, lines: [], labels: {}, counter: false, entry: e, help: e.help || "", rank: rankOf(name, type) };
}

/** buildCharts returns the chart specs of a catalogue, in display order. */
export function buildCharts(series) {
  const specs = new Map();
  const byKey = series instanceof Map ? series : new Map(series.map((e) => [e.key, e]));
  const spec = (id, name, type, title, e) => {
    let s = specs.get(id);
    if (!s) specs.set(id, (s = newSpec(id, name, type, title, e)));
    return s;
  };
  for (const e of byKey.values()) {
    const labels = e.labels || {};
    if (labels.quantile !== undefined) {
      const rest = without(labels, "quantile");
      const id = keyOf(e.name, rest);
      const s = spec(id, e.name, "histogram", e.name, e);
      s.type = "histogram";
      s.lines.push({ id: e.key, key: e.key, label: quantileLabel(labels.quantile), labels, kind: e.kind, q: labels.quantile });
      continue;
    }
    spec(e.name, e.name, "family", e.name, e).lines.push({ id: e.key, key: e.key, label: "", labels, kind: e.kind });
  }
  addAverages(byKey, specs, spec);
  const out = [...specs.values()];
  for (const s of out) finish(s);
  out.sort((a, b) => a.rank - b.rank || compare(a.title, b.title) || compare(a.id, b.id));
  return out;
}

// addAverages adds an average line for every name_sum/name_count pair of
// counters with the same labels: into the histogram chart of name with
// those labels if there is one, else into the chart "avg(name)".
function addAverages(byKey, specs, spec) {
  for (const e of byKey.values()) {
    if (e.kind !== "counter" || !e.name.endsWith("_sum")) continue;
    const base = e.name.slice(0, -4);
    const countKey = keyOf(base + "_count", e.labels);
    const count = byKey.get(countKey);
    if (!count || count.kind !== "counter") continue;
    const hid = keyOf(base, e.labels);
    const line = { id: "avg(" + keyOf(base, e.labels) + ")", key: "", label: "avg", labels: e.labels || {}, kind: "gauge", sumKey: e.key, countKey, avg: true };
    const h = specs.get(hid);
    if (h && h.type === "histogram") {
      h.lines.push(line);
      continue;
    }
    const s = spec("avg(" + base + ")", base, "average", base + " (average)", { ...e, name: base, kind: "gauge" });
    s.lines.push(line);
  }
}

// finish sorts a spec's lines, finds the labels they share and names each
// line by the labels it does not share.
function finish(s) {
  if (s.type === "histogram") {
    s.lines.sort((a, b) => (a.avg ? 1 : 0) - (b.avg ? 1 : 0) || quantileOrder(a.q, b.q));
  } else {
    s.lines.sort((a, b) => compare(a.id, b.id));
  }
  s.counter = s.lines.some((l) => l.kind === "counter");
  const shared = sharedLabels(s.lines.map((l) => (s.type === "histogram" ? without(l.labels, "quantile") : l.labels)));
  s.labels = shared;
  if (s.type === "histogram") return;
  for (const l of s.lines) {
    const own = Object.entries(l.labels).filter(([k]) => !(k in shared));
    l.label = own.length === 0 ? (s.lines.length > 1 ? "{}" : "") :
      own.length === 1 ? own[0][1] : own.map(([k, v]) => `${k}=${v}`).join(" ");
    if (l.avg && !l.label) l.label = "avg";
  }
}

// sharedLabels: the labels, name and value, that every label set has.
function sharedLabels(sets) {
  if (sets.length === 0) return {};
  const out = { ...sets[0] };
  for (const set of sets.slice(1)) {
    for (const k of Object.keys(out)) if (set[k] !== out[k]) delete out[k];
  }
  return out;
}

/** labelText writes labels as on the card: page="about" method="GET". */
export function labelText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => `${k}="${v}"`).join(" ");
}

/** sameSpec: two specs draw the same lines the same way. */
export function sameSpec(a, b) {
  if (a.type !== b.type || a.title !== b.title || a.lines.length !== b.lines.length || a.help !== b.help) return false;
  if (a.entry.unit !== b.entry.unit || a.entry.kind !== b.entry.kind) return false;
  return a.lines.every((l, i) => l.id === b.lines[i].id && l.label === b.lines[i].label && l.kind === b.lines[i].kind);
}
