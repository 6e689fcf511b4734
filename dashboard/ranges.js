/**
 * ranges.js: the time ranges of pulse.Dashboard, and where their points
 * come from.
 *
 * The range selector offers live, 5 min, 1 h and 24 h. Today every range
 * is served from one source: the per-tick history pulse.js keeps (the
 * points of the Hub's history message, then one per tick), which spans the
 * Hub's History points times its interval: 300 points of 1 s are 5 minutes.
 * A range longer than that is offered disabled, with the reason, rather
 * than drawn from points that do not exist.
 *
 * Server-side history tiers (coarser points kept for longer) plug in here,
 * and only here: sourceFor(range) is the one place that decides where a
 * range's points come from, and availability(range) the one that decides
 * whether a range can be served. A tier source asks the Hub for the
 * range's tier through pulse.js and answers the same calls as TickSource;
 * the charts, the hover and the CSV export read nothing else.
 */
import { spanText } from "./format.js";

/** The ranges, in the selector's order; key is the keyboard shortcut. */
export const RANGES = [
  { id: "live", label: "live", span: 0, key: "1" },
  { id: "5m", label: "5 min", span: 5 * 60e3, key: "2" },
  { id: "1h", label: "1 h", span: 3600e3, key: "3" },
  { id: "24h", label: "24 h", span: 86400e3, key: "4" },
];

/** rangeById returns the range of an id, or live. */
export function rangeById(id) {
  return RANGES.find((r) => r.id === id) || RANGES[0];
}

/** heldSpan is the time the Hub's per-tick history spans, in ms (0 while unknown). */
export function heldSpan(client) {
  return (client.historyLength || 0) * client.intervalMs;
}

/**
 * availability says whether a range can be served, and if not, why:
 * {ok, reason}. live always can; a fixed span can when the per-tick
 * history covers it.
 */
export function availability(range, client) {
  if (range.span === 0) return { ok: true, reason: "" };
  const held = heldSpan(client);
  if (held === 0) {
    const why = client.status === "live" ? "the Hub keeps no history (its History option is off)" : "waiting for the Hub";
    return { ok: false, reason: `${range.label}: ${why}` };
  }
  if (held >= range.span) return { ok: true, reason: "" };
  const n = client.historyLength;
  return {
    ok: false,
    reason: `The Hub keeps ${n} ${n === 1 ? "point" : "points"} per series, one per ${spanText(client.intervalMs)} tick ` +
      `(${spanText(held)} in all): ${range.label} needs longer history tiers on the server, which this Hub does not have.`,
  };
}

/**
 * TickSource serves a range from the client's per-tick history. Its calls
 * are those every source answers:
 *
 *   history(key)  {times, values, rates}: arrays of the same length, oldest
 *                 first, null where there was no point (rates null for a
 *                 gauge); null for an unknown key
 *   start()       the oldest time held (Unix ms), or NaN
 *   end()         the newest time held (Unix ms), or NaN
 *   ready         false while the source waits for its points
 */
export class TickSource {
  #client;
  #seq = -1;
  #start = NaN;

  constructor(client) {
    this.#client = client;
    this.ready = true;
  }

  history(key) {
    return this.#client.history(key);
  }

  start() {
    const c = this.#client;
    if (c.seq !== this.#seq) {
      this.#seq = c.seq;
      const first = c.state.series.keys().next().value;
      const h = first === undefined ? null : c.history(first);
      this.#start = h && h.times.length ? h.times[0] : NaN;
    }
    return this.#start;
  }

  end() {
    return this.#client.state.ts || NaN;
  }
}

/**
 * sourceFor returns the source of a range's points. Every range that
 * availability lets through is served by the per-tick history today.
 */
export function sourceFor(range, client, current) {
  if (current instanceof TickSource) return current;
  return new TickSource(client);
}

/**
 * windowOf is the time window a range shows, ending at end: live shows
 * everything held, at least minSpan wide; a fixed span shows that span.
 */
export function windowOf(range, source, end, minSpan) {
  if (!Number.isFinite(end)) end = Date.now();
  let t0;
  if (range.span > 0) {
    t0 = end - range.span;
  } else {
    const start = source.start();
    t0 = Math.min(Number.isFinite(start) ? start : end, end - minSpan);
  }
  return { t0, t1: end > t0 ? end : t0 + 1 };
}
