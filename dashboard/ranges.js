/**
 * ranges.js: the time ranges of pulse.Dashboard, and where their points
 * come from.
 *
 * The range selector offers live, 5 min, and one range per history tier
 * the Hub announces in its hello (client.tiers; by default 1 h and 24 h;
 * a server too old to announce them is taken to keep the defaults):
 * rangesFor builds the list. live and 5 min are served from the per-tick
 * history pulse.js keeps (the points of the Hub's history message, then
 * one per tick), which spans the Hub's History points times its interval:
 * 300 points of 1 s are 5 minutes. A tier's range is served from that tier
 * (PROTOCOL.md, "History ranges"): TierSource loads it with
 * client.range(tier), reloads it every bucket, and appends the live ticks
 * that came after it. A range the Hub cannot serve is offered disabled,
 * with the reason, rather than drawn from points that do not exist.
 *
 * sourceFor(range) is the one place that decides where a range's points
 * come from, and availability(range) the one that decides whether a range
 * can be served; the charts, the hover and the CSV export read nothing
 * else.
 */
import { spanText } from "./format.js";

/** The ranges every Hub has, served from the per-tick history. */
const TICK_RANGES = [
  { id: "live", label: "live", span: 0 },
  { id: "5m", label: "5 min", span: 5 * 60e3 },
];

/** DEFAULT_TIERS are pulse.DefaultTiers, assumed when the hello does not list tiers. */
export const DEFAULT_TIERS = [
  { name: "1h", stepMs: 10e3, spanMs: 3600e3 },
  { name: "24h", stepMs: 60e3, spanMs: 86400e3 },
];

/**
 * rangesFor returns the ranges to offer for client's Hub, in the
 * selector's order: live, 5 min, then one per tier of the hello, each
 * {id, label, span, tier, step} (tier: the tier's name, for client.range).
 * key is the keyboard shortcut, 1 to 9.
 */
export function rangesFor(client) {
  const tiers = Array.isArray(client.tiers) ? client.tiers : DEFAULT_TIERS;
  const list = TICK_RANGES.map((r) => ({ ...r }));
  for (const t of tiers) {
    const id = TICK_RANGES.some((r) => r.id === t.name) ? "tier-" + t.name : t.name;
    list.push({ id, label: spanLabel(t.spanMs), span: t.spanMs, tier: t.name, step: t.stepMs });
  }
  list.forEach((r, i) => { r.key = i < 9 ? String(i + 1) : ""; });
  return list;
}

/** spanLabel names a tier's span: whole days as "7 d", else as spanText. */
function spanLabel(ms) {
  return ms >= 2 * 86400e3 && ms % 86400e3 === 0 ? ms / 86400e3 + " d" : spanText(ms);
}

/** rangeById returns the range of an id in list, or its first (live). */
export function rangeById(id, list) {
  return list.find((r) => r.id === id) || list[0];
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
  if (held >= range.span || range.tier) return { ok: true, reason: "" };
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
 * TierSource serves a range from a Hub history tier, with the live ticks
 * that came after it appended. Until the tier is loaded (ready false) it
 * serves the per-tick history; a tier that cannot be loaded leaves error
 * set and the per-tick history shown. onLoad is called after each load.
 */
export class TierSource {
  #client;
  #onLoad;
  #data = null;
  #timer = 0;
  #closed = false;
  #cache = new Map(); // key -> {seq, points}
  #cacheSeq = -1;

  constructor(client, tier, onLoad) {
    this.#client = client;
    this.tier = tier;
    this.#onLoad = onLoad || (() => {});
    this.ready = false;
    this.error = "";
    this.#load();
  }

  async #load() {
    try {
      this.#data = await this.#client.range(this.tier);
      this.ready = true;
      this.error = "";
    } catch (e) {
      this.error = String((e && e.message) || e);
    }
    this.#cache.clear();
    if (this.#closed) return;
    this.#onLoad();
    const every = Math.max(this.#data ? this.#data.step : 10e3, 5e3);
    this.#timer = setTimeout(() => this.#load(), every);
  }

  /** close stops the reloads; the source is not used again. */
  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  history(key) {
    const c = this.#client;
    const d = this.#data;
    const s = d && d.series.get(key);
    if (!s) return c.history(key);
    if (this.#cacheSeq !== c.seq) {
      this.#cacheSeq = c.seq;
      this.#cache.clear();
    }
    let h = this.#cache.get(key);
    if (!h) {
      h = joinLive(d, s, c.history(key));
      this.#cache.set(key, h);
    }
    return h;
  }

  start() {
    const d = this.#data;
    return d && d.times.length ? d.times[0] : new TickSource(this.#client).start();
  }

  end() {
    return this.#client.state.ts || NaN;
  }
}

// joinLive returns the tier's points of one series, followed by the live
// ticks newer than the tier's answer.
function joinLive(d, s, live) {
  const times = d.times.slice();
  const values = s.values.slice();
  const wantRates = !!(s.rates || (live && live.rates));
  const rates = wantRates ? (s.rates ? s.rates.slice() : times.map(() => null)) : null;
  if (live) {
    for (let i = 0; i < live.times.length; i++) {
      if (live.times[i] <= d.ts) continue;
      times.push(live.times[i]);
      values.push(live.values[i]);
      if (rates) rates.push(live.rates ? live.rates[i] : null);
    }
  }
  return { times, values, rates };
}

/**
 * sourceFor returns the source of a range's points: a TierSource for a
 * tier's range (kept while the range stays), the per-tick history otherwise.
 * onLoad is called when a tier's points arrive.
 */
export function sourceFor(range, client, current, onLoad) {
  if (range.tier) {
    if (current instanceof TierSource && current.tier === range.tier) return current;
    if (current instanceof TierSource) current.close();
    return new TierSource(client, range.tier, onLoad);
  }
  if (current instanceof TierSource) current.close();
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
