/**
 * format.js: units, numbers, plurals and times for pulse.Dashboard.
 *
 * Pure functions, no DOM: the charts, legends, tooltips, the list of
 * constant series and the CSV export all format through them.
 *
 * Units: unitOf reduces a catalogue entry to one of "bytes", "seconds",
 * "percent", "ratio", a count noun in the plural ("requests", "gc cycles")
 * or "". formatValue then gives [number, unit text]:
 *
 *   bytes     binary steps: 512 B, 1.5 KiB, 8 EiB; rates KiB/s
 *   seconds   ns, µs, ms, s, min, h, d; a rate of seconds is "s/s", seconds
 *             of busy time per second (a utilisation: 0.25 s/s is a quarter
 *             of one worker, 2 s/s two whole ones), never "ms/s"
 *   percent   45%; ratio 0.45 -> 45%
 *   nouns     "1 request", "0 requests", "2.5k requests"; rates "requests/s"
 *   none      42, 1.23k; rates "/s"
 */

const BYTES = [[1, "B"], [1024, "KiB"], [1024 ** 2, "MiB"], [1024 ** 3, "GiB"], [1024 ** 4, "TiB"], [1024 ** 5, "PiB"], [1024 ** 6, "EiB"]];
const SECONDS = [[1e-9, "ns"], [1e-6, "µs"], [1e-3, "ms"], [1, "s"], [60, "min"], [3600, "h"], [86400, "d"]];
const COUNTS = [[1, ""], [1e3, "k"], [1e6, "M"], [1e9, "G"], [1e12, "T"], [1e15, "P"]];

// Units a count noun cannot be, and nouns whose singular is the plural.
const PHYSICAL = new Set(["bytes", "seconds", "percent", "ratio"]);
const INVARIANT = new Set(["series", "species", "news", "data", "info", "status", "bps"]);

/**
 * unitOf is the unit a series is formatted in: the catalogue's unit,
 * normalized, or one implied by a Prometheus-style name (_seconds, _bytes,
 * _ratio, _percent; a counter x_requests_total counts "requests").
 */
export function unitOf(e) {
  const u = String(e.unit || "").trim();
  if (u) return normalUnit(u);
  const name = e.name || "";
  if (/_seconds(_total|_sum)?$/.test(name)) return "seconds";
  if (/_bytes(_total|_sum)?$/.test(name)) return "bytes";
  if (/_ratio$/.test(name)) return "ratio";
  if (/_percent$/.test(name)) return "percent";
  const m = e.kind === "counter" && /_([a-z]{3,})_total$/.exec(name);
  if (m && m[1].endsWith("s") && !PHYSICAL.has(m[1])) return m[1];
  return "";
}

function normalUnit(u) {
  const lower = u.toLowerCase();
  if (["s", "sec", "second", "seconds", "cpu-seconds", "cpu_seconds"].includes(lower)) return "seconds";
  if (["b", "byte", "bytes"].includes(lower)) return "bytes";
  if (["%", "percent", "percentage"].includes(lower)) return "percent";
  if (lower === "ratio") return "ratio";
  if (/^[a-z][a-z_-]*$/i.test(u)) return u.replace(/[-_]/g, " ");
  return u;
}

/** isNoun: the unit is a count noun, which takes a plural. */
export function isNoun(unit) {
  return unit !== "" && !PHYSICAL.has(unit) && /^[a-z][a-z ]*$/i.test(unit);
}

/**
 * singular is the singular of a count noun in the plural: requests ->
 * request, queries -> query, processes -> process, gc cycles -> gc cycle;
 * series stays series. A noun that is not plural is returned as it is.
 */
export function singular(noun) {
  const i = noun.lastIndexOf(" ") + 1;
  const head = noun.slice(0, i);
  const w = noun.slice(i);
  const lw = w.toLowerCase();
  if (INVARIANT.has(lw) || !lw.endsWith("s") || lw.endsWith("ss") || lw.length < 3) return noun;
  if (lw.endsWith("ies") && lw.length > 4) return head + w.slice(0, -3) + "y";
  if (/(ss|sh|ch|x|z)es$/.test(lw)) return head + w.slice(0, -2);
  return head + w.slice(0, -1);
}

/** plural is the plural of a count noun given in either form. */
export function plural(noun) {
  const lw = noun.toLowerCase();
  if (singular(noun) !== noun || INVARIANT.has(lw.slice(lw.lastIndexOf(" ") + 1))) return noun;
  if (/[^aeiou]y$/.test(lw)) return noun.slice(0, -1) + "ies";
  if (/(s|sh|ch|x|z)$/.test(lw)) return noun + "es";
  return noun + "s";
}

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

/** plain formats a count: 42, 0.0123, 1.23k, 45.6M. */
export function plain(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e18) return v.toExponential(2);
  if (a >= 1000) return ladder(v, COUNTS).join("");
  if (Number.isInteger(v)) return String(v);
  if (a >= 1) return digits(v);
  if (a >= 0.001) return String(Number(v.toPrecision(3)));
  if (a < 1e-9) return v.toExponential(1);
  // Two significant digits, without an exponent: 0.000085, not 8.5e-5.
  return v.toFixed(Math.ceil(-Math.log10(a)) + 1).replace(/0+$/, "");
}

/**
 * formatValue formats a value, or with rate a per-second rate, in its
 * unit: [number, unit text]. Non-finite values have no unit.
 */
export function formatValue(v, unit, rate = false) {
  if (v === undefined || v === null) return ["—", ""];
  if (Number.isNaN(v)) return ["NaN", ""];
  if (!Number.isFinite(v)) return [v > 0 ? "+Inf" : "−Inf", ""];
  const per = rate ? "/s" : "";
  switch (unit) {
    case "bytes": { const [s, u] = ladder(v, BYTES); return [s, u + per]; }
    case "seconds":
      if (rate) return [plain(v), "s/s"];
      return v === 0 ? ["0", "s"] : ladder(v, SECONDS);
    case "percent": return [plain(v), "%" + per];
    case "ratio": return [plain(v * 100), "%" + per];
  }
  const num = plain(v);
  if (!isNoun(unit)) return [num, unit + per];
  const one = num === "1" || num === "-1";
  return [num, (one ? singular(unit) : plural(unit)) + per];
}

/** joined writes [number, unit] as text: "12 requests/s", "3/s", "45%". */
export function joined([num, unit]) {
  if (!unit) return num;
  return unit.startsWith("/") || unit.startsWith("%") ? num + unit : num + " " + unit;
}

/** text formats a value (or rate) in its unit, as one string. */
export function text(v, unit, rate = false) {
  return joined(formatValue(v, unit, rate));
}

/**
 * axisLabel is a short label for a value axis: physical units keep their
 * unit (512 KiB, 20 ms), counts drop the noun (it is in the figure).
 */
export function axisLabel(v, unit, rate = false) {
  const [num, u] = formatValue(v, unit, rate);
  if (unit === "bytes" || unit === "percent" || unit === "ratio" || unit === "seconds" && !rate) return joined([num, u]);
  return num;
}

/**
 * unitText describes what a chart plots, for its aria label and help:
 * "requests per second", "bytes", "seconds of busy time per second".
 */
export function unitText(unit, rate) {
  if (unit === "seconds" && rate) return "busy time, s/s";
  const u = unit === "ratio" ? "percent" : unit || "";
  if (!rate) return u;
  return (u ? u + " " : "") + "per second";
}

const pad2 = (n) => String(n).padStart(2, "0");
const pad3 = (n) => String(n).padStart(3, "0");

/**
 * clockTime formats a Unix ms time as local HH:MM:SS, HH:MM for steps of a
 * minute or more, MM:SS.s for steps under a second.
 */
export function clockTime(t, step = 1000) {
  const d = new Date(t);
  const hm = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
  if (step >= 60000) return hm;
  if (step >= 1000) return hm + ":" + pad2(d.getSeconds());
  return pad2(d.getMinutes()) + ":" + pad2(d.getSeconds()) + "." + Math.floor(d.getMilliseconds() / 100);
}

/** exactTime is a tick's time in full, local: 2026-12-03 14:05:07.250. */
export function exactTime(t) {
  const d = new Date(t);
  return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " +
    pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds()) + "." + pad3(d.getMilliseconds());
}

/** spanText is a duration in words: "30 s", "5 min", "1 h", "24 h". */
export function spanText(ms) {
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60e3) return Number((ms / 1e3).toPrecision(3)) + " s";
  if (ms < 3600e3) return Number((ms / 60e3).toPrecision(3)) + " min";
  return Number((ms / 3600e3).toPrecision(3)) + " h";
}

/** quantileLabel names a quantile label value: 0.5 -> p50, 0.999 -> p99.9, max. */
export function quantileLabel(q) {
  const x = Number(q);
  if (!Number.isFinite(x) || x < 0 || x > 1 || String(q).trim() === "") return String(q);
  if (x === 0) return "min";
  return "p" + Number((x * 100).toPrecision(6));
}

/** csvNumber writes a value for CSV: shortest round-trip digits, NaN, +Inf, -Inf, "" for none. */
export function csvNumber(v) {
  if (v === null || v === undefined) return "";
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return String(v);
}
