/**
 * pulse.js: the browser client of pulse (github.com/go-pulse/pulse).
 *
 * One ES module, no build step, no dependency. The Go package serves it with
 * pulse.JS(); a page imports it:
 *
 *     import { connect } from "/pulse.js";
 *
 *     const client = connect("/ws/metrics", {
 *       match: ["http_*", "go_goroutines"],
 *       onStatus(status) { badge.textContent = status; },
 *       onUpdate(state, changes) { figure.textContent = client.value("go_goroutines"); },
 *     });
 *
 * The client speaks the pulse wire protocol, version 2 (PROTOCOL.md; it
 * asks for it with ?v=2): series are described once per connection, with an
 * id each, and values travel by id; the client keeps them by key.
 *
 * - It keeps the state: the catalogue of series, their values, the rates of
 *   counters, the stale set, and for every series a history (values and
 *   rates aligned with tick times) taken from the server's history message
 *   and extended by every tick, so a chart starts full and stays continuous.
 * - It reconnects by itself, with exponential backoff and jitter (250 ms
 *   doubling up to 30 s by default, back to the start once a snapshot
 *   arrives), and treats a connection that has said nothing for three
 *   updates (ticks, or updateEvery on a slow link), and at least 10 s
 *   (silentAfter), as dead: the server sends a delta every tick the link
 *   can carry.
 * - A delta covers the ticks after its "from" (the previous seq when it has
 *   none): a server whose client's link cannot carry every tick merges
 *   several into one. client.updateEvery says how often updates come. A
 *   delta that does not follow the state held means it can no longer be
 *   trusted: the client asks for a snapshot and ignores deltas until it
 *   comes ("resyncing", then "resynced").
 * - After a lost connection it resumes: the new connection presents the
 *   server's epoch and the last seq held, and the server sends only what
 *   changed since (no catalogue, snapshot or history), or starts afresh.
 * - Subscriptions (match patterns) are remembered and sent again as ?match=
 *   on every reconnect.
 * - When a WebSocket cannot be had (no WebSocket in this environment, or
 *   options.sseAfter attempts in a row that never opened while none ever
 *   did), it falls back to Server-Sent Events on the same URL, and stays on
 *   them. An EventSource gives up for good on a non-200 answer, so the client
 *   drives every SSE reconnect itself.
 *
 * Values are numbers; the wire's "NaN", "+Inf" and "-Inf" become NaN,
 * Infinity and -Infinity (Number() alone would turn "+Inf" and "-Inf" into
 * NaN).
 *
 * Statuses, reported to onStatus(status, info):
 *
 *   "connecting"    before the first snapshot (also between failed first attempts)
 *   "live"          a snapshot arrived; deltas are applied as they come
 *   "reconnecting"  the connection was lost; info.delay says when the next try is
 *   "resyncing"     a gap in seq: waiting for a fresh snapshot
 *   "resynced"      that snapshot (or a server resync snapshot) arrived; "live" follows
 *   "idle"          every pattern was unsubscribed: no connection is needed
 *   "closed"        close() was called, or the server speaks another protocol version
 *
 * info carries transport ("websocket" or "sse"), and where it applies
 * delay (ms), attempt, reason and error.
 */

const PROTOCOL_VERSION = 2;

const DEFAULTS = {
  match: ["*"],          // initial subscription patterns
  transport: "auto",     // "auto", "websocket" or "sse"
  sseAfter: 3,           // auto: WebSocket attempts that never opened before falling back to SSE
  minDelay: 250,         // reconnect backoff, ms: doubles from minDelay ...
  maxDelay: 30000,       // ... up to maxDelay; half of it is random jitter
  connectTimeout: 10000, // ms an attempt may take to deliver its first message
  silentAfter: 10000,    // ms of silence, at least, before a live connection is presumed dead
  history: 300,          // points kept per series until the server's own length shows
};

// A subscription pattern: metric-name characters and the wildcards * and ?.
const PATTERN = /^[A-Za-z0-9_:*?]{1,200}$/;

/**
 * connect opens a live connection to a pulse Hub and returns its client.
 *
 * url is the Hub's route, absolute (ws:, wss:, http:, https:) or relative to
 * the page, e.g. "/ws/metrics". options (all optional):
 *
 *   match           patterns, an array or a comma-separated string (default "*")
 *   transport       "auto" (default), "websocket" or "sse"
 *   sseAfter        WebSocket failures before the SSE fallback (default 3)
 *   minDelay, maxDelay  backoff bounds in ms (default 250 and 30000)
 *   connectTimeout  ms before an attempt that says nothing is abandoned (default 10000)
 *   silentAfter     ms of silence before a connection is presumed dead and replaced, at least
 *                   (default 10000): the server sends every tick, so the bound is also at
 *                   least three of its intervals, or of updateEvery when the link cannot
 *                   carry every tick. A slow link is silent for as long as a merged delta
 *                   takes to arrive; the Hub itself waits its WriteTimeout (10 s) before
 *                   it gives up on a link that takes nothing.
 *   history         points kept per series while the server's count is unknown (default 300;
 *                   once the hello says how many the server keeps, that many)
 *   onUpdate(state, changes)  after each snapshot, delta and history message
 *   onStatus(status, info)    on each status change (see above)
 *   onError(message)          on each error message from the server (default: console.warn)
 *
 * The callbacks can also be set later as properties of the client. The first
 * attempt starts after the calling code has run, so a callback may use the
 * returned client.
 */
export function connect(url, options = {}) {
  return new PulseClient(url, options);
}

// helloTier is one tier of a hello, or null when it is malformed.
function helloTier(t) {
  if (!t || typeof t.name !== "string" || !(t.step_ms > 0) || !(t.span_ms > 0)) return null;
  return { name: t.name, stepMs: t.step_ms, spanMs: t.span_ms };
}

class PulseClient {
  /**
   * The state, as of tick state.seq. Read it, do not change it; it is also
   * the first argument of onUpdate.
   *   seq, ts     the last tick applied and its server time (Unix ms)
   *   series      Map key -> catalogue entry {key, name, labels, kind, unit, help}
   *   values      Map key -> number
   *   rates       Map key -> number (counters, from their second sample)
   *   stale       Set of keys whose source stopped answering (values kept)
   */
  state = { seq: 0, ts: 0, series: new Map(), values: new Map(), rates: new Map(), stale: new Set() };

  /** The current status, see the module comment. */
  status = "connecting";
  /** "websocket" or "sse": the transport of the current or last attempt. */
  transport = "";
  /** The server's tick, from its hello. */
  intervalMs = 1000;
  /**
   * How often updates arrive, in ms, smoothed: intervalMs when every tick
   * arrives, a multiple of it when the link cannot carry every tick and the
   * server merges several into one delta.
   */
  updateEvery = 1000;
  /**
   * Points per series the server keeps and sends in its history message,
   * from its hello: the server's history spans historyLength × intervalMs.
   * 0 before the hello, and when the server keeps no history.
   */
  historyLength = 0;
  /**
   * The history tiers the server keeps beside its per-tick history, from
   * its hello, in its order: [{name, stepMs, spanMs}], each a name for
   * range() (e.g. {name: "1h", stepMs: 10000, spanMs: 3600000}). [] when
   * the server keeps none; null before the hello, and from a server too
   * old to announce them (its tiers, if any, are then unknown).
   */
  tiers = null;

  onUpdate = null;
  onStatus = null;
  onError = null;

  #url;
  #opts;
  #patterns;

  #conn = null;       // current attempt: {sse, socket, opened}
  #closed = false;
  #synced = false;    // the state matches the server's as of state.seq
  #resyncAt = 0;      // when a snapshot was asked for after a gap; 0 = not waiting
  #pending = [];      // subscribe messages sent and not yet answered: {added}
  #everLive = false;

  #ids = new Map();         // series id -> key, for the connection's catalogue
  #helloCat = null;         // the hello's catalogue, for the first snapshot
  #epoch = "";              // the server's, from its hello
  #resumeWith = "";         // the patterns of the last snapshot: a reconnect with them may resume
  #ticks = 1;               // ticks per update, smoothed

  #delay;             // backoff: base of the next delay
  #attempt = 0;       // failed attempts since the last snapshot
  #wsOpened = false;  // some WebSocket of this client opened
  #wsFailures = 0;    // WebSocket attempts in a row that never opened
  #sse = false;       // fell back to Server-Sent Events, for good
  #retryTimer = 0;
  #watchTimer = 0;

  // History: tick times (Unix ms, oldest first) and, per key, values and
  // (counters) rates aligned with them; null where there was no value.
  #times = [];
  #histValues = new Map();
  #histRates = new Map();
  #histSeq = 0;       // seq of the newest point
  #histMax;

  constructor(url, options) {
    this.#url = String(url);
    this.#opts = { ...DEFAULTS, ...options };
    this.#patterns = unique(patternList(this.#opts.match ?? DEFAULTS.match));
    this.#delay = this.#opts.minDelay;
    this.#histMax = this.#opts.history;
    this.#sse = this.#opts.transport === "sse";
    this.onUpdate = options.onUpdate ?? null;
    this.onStatus = options.onStatus ?? null;
    this.onError = options.onError ?? null;
    queueMicrotask(() => this.#open());
  }

  // ---- Reading ----

  /** The last tick applied. */
  get seq() { return this.state.seq; }

  /** The subscription patterns, as they will be sent on the next connect. */
  get patterns() { return [...this.#patterns]; }

  /** All values, as a plain object key -> number. */
  values() { return Object.fromEntries(this.state.values); }

  /** The value of a series, or undefined. */
  value(key) { return this.state.values.get(key); }

  /** The per-second rate of a counter, or undefined (gauges, first sample). */
  rate(key) { return this.state.rates.get(key); }

  /** Whether a series is stale: its source failed and the value is the last good one. */
  isStale(key) { return this.state.stale.has(key); }

  /** Catalogue entries, all or those of the metric name. */
  series(name) {
    const all = [...this.state.series.values()];
    return name === undefined ? all : all.filter((s) => s.name === name);
  }

  /**
   * The history of a series: {times, values, rates}, arrays of the same
   * length, oldest first, ending at the last tick applied; values and rates
   * hold null where there was none (rates is null for a gauge). The points
   * of the server's history message may be rounded (at most 0.05% of the
   * series' scale) and their rates are derived from values and times
   * (PROTOCOL.md, "history (v2)"); the ticks applied since are the server's.
   * Copies; null for an unknown key.
   */
  history(key) {
    const values = this.#histValues.get(key);
    if (!values) return null;
    const rates = this.#histRates.get(key);
    return { times: [...this.#times], values: [...values], rates: rates ? [...rates] : null };
  }

  // ---- Subscriptions ----

  /** Adds patterns to the subscription; the state then holds the new selection. */
  subscribe(patterns) {
    const added = unique(patternList(patterns)).filter((p) => !this.#patterns.includes(p));
    if (added.length === 0) return;
    this.#patterns.push(...added);
    this.#changeSubscription({ type: "subscribe", patterns: added }, added);
  }

  /** Removes patterns, compared as written. With none left the client goes "idle". */
  unsubscribe(patterns) {
    const gone = unique(patternList(patterns)).filter((p) => this.#patterns.includes(p));
    if (gone.length === 0) return;
    this.#patterns = this.#patterns.filter((p) => !gone.includes(p));
    this.#changeSubscription({ type: "unsubscribe", patterns: gone }, []);
  }

  /** Asks the server for a fresh snapshot (over SSE: reconnects). */
  refresh() {
    const conn = this.#conn;
    if (conn && conn.opened && !conn.sse) conn.socket.send('{"type":"snapshot"}');
    else if (conn) this.#restart();
  }

  /**
   * range asks the Hub for the history of the subscribed series at a tier
   * ("tick", or the name of one of client.tiers: by default "1h", 10 s
   * buckets, and "24h", 1 min buckets; PROTOCOL.md, "History ranges") with
   * a plain GET, and resolves to
   * {tier, step, ts, times, series: Map key -> {values, min, max, rates}}
   * (ts: the tick the answer was built at):
   * arrays aligned with times (bucket starts, Unix ms, oldest first), null
   * where there is no point; min/max for gauges, rates for counters. It
   * rejects with the server's reason (e.g. a Hub without tiers) and does
   * not touch the live state.
   */
  async range(tier) {
    const u = new URL(this.#endpoint(true));
    if (u.protocol === "ws:" || u.protocol === "wss:") u.protocol = u.protocol === "ws:" ? "http:" : "https:";
    for (const k of ["v", "epoch", "seq"]) u.searchParams.delete(k);
    u.searchParams.set("range", tier);
    const res = await fetch(u.href, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!res.ok) throw new Error(`pulse: range ${tier}: ${res.status} ${(await res.text()).trim()}`);
    const m = await res.json();
    const arr = (a) => (a ? a.map((v) => (v === null ? null : num(v))) : null);
    const series = new Map();
    for (const [key, vs] of Object.entries(m.values || {})) {
      series.set(key, { values: arr(vs), min: arr(m.min?.[key]), max: arr(m.max?.[key]), rates: arr(m.rates?.[key]) });
    }
    return { tier: m.tier || tier, step: m.step || this.intervalMs, ts: m.ts, times: m.times || [], series };
  }

  /** Closes the connection for good. */
  close() {
    this.#shutdown("closed", {});
  }

  #changeSubscription(msg, added) {
    if (this.#closed) return;
    if (this.#patterns.length === 0) {
      // Nothing to receive: the query string cannot say "nothing" (it
      // defaults to everything), so hold no connection at all.
      const before = [...this.state.series.keys()];
      this.#drop();
      clearTimeout(this.#retryTimer);
      this.#clearState();
      this.#setStatus("idle");
      this.#emit({ type: "snapshot", reason: "subscribe", keys: [], series: [], removed: before, stale: [] });
      return;
    }
    const conn = this.#conn;
    if (conn && conn.opened && !conn.sse && conn.socket.readyState === 1) {
      conn.socket.send(JSON.stringify(msg));
      this.#pending.push({ added });
    } else if (conn || this.status === "idle") {
      this.#restart(); // the new ?match= takes effect with a new connection
    } // else a retry is scheduled: it will use the new patterns
  }

  // ---- Connection ----

  #open() {
    if (this.#closed || this.#conn) return;
    clearTimeout(this.#retryTimer);
    if (this.#patterns.length === 0) {
      this.#setStatus("idle");
      return;
    }
    const { transport, sseAfter } = this.#opts;
    if (transport === "auto" && !this.#sse &&
        (typeof WebSocket === "undefined" || !this.#wsOpened && this.#wsFailures >= sseAfter)) {
      this.#sse = true;
    }
    const missing = this.#sse ? "EventSource" : "WebSocket";
    if (typeof globalThis[missing] === "undefined") {
      this.#shutdown("closed", { error: missing + " is not available here" });
      return;
    }
    this.transport = this.#sse ? "sse" : "websocket";
    if (this.status === "idle" || !this.#everLive && this.#attempt === 0) this.#setStatus("connecting");

    const conn = { sse: this.#sse, socket: null, opened: false };
    this.#conn = conn;
    this.#synced = false;
    this.#resyncAt = 0;
    this.#pending = [];
    try {
      if (conn.sse) {
        const es = new EventSource(this.#endpoint(true));
        conn.socket = es;
        es.onopen = () => { conn.opened = true; };
        es.onmessage = (ev) => this.#receive(conn, ev.data);
        // EventSource would retry by itself after a dropped stream, but not
        // after a non-200 answer: always retry here, with our backoff.
        es.onerror = () => this.#lost(conn, "event stream failed or ended");
      } else {
        const ws = new WebSocket(this.#endpoint(false));
        conn.socket = ws;
        ws.onopen = () => {
          conn.opened = true;
          this.#wsOpened = true;
          this.#wsFailures = 0;
        };
        ws.onmessage = (ev) => this.#receive(conn, ev.data);
        ws.onclose = (ev) => this.#lost(conn, "closed " + ev.code + (ev.reason ? ": " + ev.reason : ""));
        // onerror is always followed by onclose.
      }
    } catch (err) {
      this.#lost(conn, String(err && err.message || err));
      return;
    }
    this.#watch(conn, this.#opts.connectTimeout);
  }

  // #endpoint is the Hub's URL for the transport, with the patterns as ?match=.
  #endpoint(sse) {
    const u = new URL(this.#url, globalThis.location ? globalThis.location.href : undefined);
    const scheme = { "http:": "ws:", "https:": "wss:", "ws:": "http:", "wss:": "https:" };
    if (sse === (u.protocol === "ws:" || u.protocol === "wss:")) u.protocol = scheme[u.protocol];
    u.searchParams.set("match", this.#patterns.join(","));
    u.searchParams.set("v", String(PROTOCOL_VERSION));
    if (this.#epoch && this.state.seq > 0 && this.#resumeWith === this.#patterns.join(",")) {
      u.searchParams.set("epoch", this.#epoch);
      u.searchParams.set("seq", String(this.state.seq));
    }
    return u.href;
  }

  // #silence is how long a live connection may say nothing before it is
  // presumed dead: three updates (of the tick, or of the slower rate merged
  // deltas come at), at least silentAfter.
  #silence() {
    return Math.max(this.#opts.silentAfter, 3 * this.intervalMs, 3 * this.updateEvery);
  }

  // #watch (re)arms the dead-connection timer of conn.
  #watch(conn, ms) {
    clearTimeout(this.#watchTimer);
    this.#watchTimer = setTimeout(() => this.#lost(conn, "nothing received for " + ms + " ms"), ms);
  }

  // #drop detaches and closes the current connection, if any.
  #drop() {
    const conn = this.#conn;
    this.#conn = null;
    clearTimeout(this.#watchTimer);
    if (!conn || !conn.socket) return;
    const s = conn.socket;
    s.onopen = s.onmessage = s.onerror = s.onclose = null;
    try { s.close(); } catch { /* already closed */ }
  }

  // #restart replaces the current connection at once, without backoff.
  #restart() {
    this.#drop();
    this.#open();
  }

  // #lost handles the end of conn: it schedules the next attempt.
  #lost(conn, reason) {
    if (conn !== this.#conn || this.#closed) return;
    this.#drop();
    this.#synced = false;
    if (!conn.sse && !conn.opened) this.#wsFailures++;
    const base = this.#delay;
    this.#delay = Math.min(base * 2, this.#opts.maxDelay);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    this.#attempt++;
    this.#setStatus(this.#everLive ? "reconnecting" : "connecting", { delay, attempt: this.#attempt, reason });
    this.#retryTimer = setTimeout(() => this.#open(), delay);
  }

  #shutdown(status, info) {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#drop();
    this.#setStatus(status, info);
  }

  // ---- Messages ----

  #receive(conn, data) {
    if (conn !== this.#conn) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      console.warn("pulse: message is not JSON", err);
      return;
    }
    switch (msg.type) {
      case "hello": this.#hello(conn, msg); break;
      case "snapshot": this.#snapshot(msg); break;
      case "history": this.#history(msg); break;
      case "delta": this.#delta(conn, msg); break;
      case "error": this.#serverError(msg); break;
    }
    // Armed after the message is applied: a merged delta changes updateEvery.
    if (conn === this.#conn) this.#watch(conn, this.#silence());
  }

  #hello(conn, msg) {
    if (msg.version !== PROTOCOL_VERSION) {
      this.#shutdown("closed", { error: "unsupported pulse protocol version " + msg.version });
      return;
    }
    if (msg.resume != null && msg.epoch === this.#epoch && msg.resume === this.state.seq && this.#ids.size > 0) {
      // Resumed: the state held is the server's as of msg.resume; a merged
      // delta follows. The Hub start is the same, so are its interval,
      // history length and tiers (a resume hello does not repeat them).
      this.#watch(conn, this.#silence());
      this.#synced = true;
      this.#delay = this.#opts.minDelay;
      this.#attempt = 0;
      this.#setStatus("live", { reason: "resume" });
      return;
    }
    this.intervalMs = msg.interval_ms > 0 ? msg.interval_ms : 1000;
    this.updateEvery = this.#ticks * this.intervalMs;
    this.historyLength = msg.history > 0 ? msg.history : 0;
    if (this.historyLength > 0) this.#histMax = this.historyLength;
    this.tiers = Array.isArray(msg.tiers) ? msg.tiers.map(helloTier).filter((t) => t) : null;
    this.#watch(conn, this.#silence());
    this.#epoch = msg.epoch || "";
    this.#helloCat = msg.series || [];
  }

  // #keyed rewrites a message's ids as keys, in the protocol's order:
  // removed ids leave the id map, then new catalogue entries join it.
  #keyed(msg) {
    const ids = this.#ids;
    const out = { ...msg };
    if (msg.removed) {
      out.removed = msg.removed.map((id) => ids.get(id)).filter((k) => k !== undefined);
      for (const id of msg.removed) ids.delete(id);
    }
    for (const s of msg.series || []) ids.set(s.id, s.key);
    const byKey = (o) => o && Object.fromEntries(Object.entries(o)
      .map(([id, v]) => [ids.get(Number(id)), v]).filter(([k]) => k !== undefined));
    out.values = byKey(msg.values);
    out.rates = byKey(msg.rates);
    if (msg.stale) out.stale = msg.stale.map((id) => ids.get(id)).filter((k) => k !== undefined);
    return out;
  }

  // A snapshot replaces everything. Its catalogue is its own, or the hello's
  // (a connect's snapshot has none).
  #snapshot(wire) {
    const cat = wire.series || this.#helloCat || [];
    this.#helloCat = null;
    this.#ids = new Map(cat.map((s) => [s.id, s.key]));
    const msg = this.#keyed({ ...wire, series: cat });
    this.#resumeWith = this.#patterns.join(",");
    const st = this.state;
    const kinds = new Map([...st.series.values()].map((s) => [s.key, s.kind]));
    this.#clearState();
    for (const s of msg.series || []) st.series.set(s.key, s);
    applyValues(st, msg);
    st.seq = msg.seq;
    st.ts = msg.ts;

    if (msg.reason === "subscribe") this.#pending.shift();
    if (msg.reason === "resync") this.#pending = []; // it replaced whatever answers were queued
    const resynced = this.#resyncAt > 0 || msg.reason === "resync";
    this.#synced = true;
    this.#resyncAt = 0;
    this.#delay = this.#opts.minDelay;
    this.#attempt = 0;

    // History: a seq lower than the last point's is another server (or a
    // restarted one): start over. The history message that follows a
    // connect or subscribe snapshot replaces all of it anyway.
    if (msg.seq < this.#histSeq) {
      this.#times = [];
      this.#histValues.clear();
      this.#histRates.clear();
    }
    for (const key of this.#histValues.keys()) {
      // Gone, or of a new kind, which starts a new history.
      if (st.series.get(key)?.kind !== kinds.get(key)) this.#forget(key);
    }
    this.#record(msg.seq, msg.ts);

    if (resynced) this.#setStatus("resynced", { reason: msg.reason });
    this.#everLive = true;
    this.#setStatus("live", { reason: msg.reason });
    this.#emit({
      type: "snapshot",
      reason: msg.reason,
      keys: [...st.values.keys()],
      series: [...st.series.keys()],
      removed: [...kinds.keys()].filter((k) => !st.series.has(k)),
      stale: [...st.stale],
    });
  }

  #delta(conn, wire) {
    const st = this.state;
    if (!this.#synced) {
      // Waiting for a snapshot. If it does not come, start over.
      if (this.#resyncAt > 0 && Date.now() - this.#resyncAt > 3 * this.intervalMs) {
        this.#lost(conn, "no snapshot after a resync request");
      }
      return;
    }
    const from = wire.from ?? wire.seq - 1;
    if (from > st.seq || wire.seq <= st.seq) {
      this.#synced = false;
      this.#resyncAt = Date.now();
      this.#setStatus("resyncing", { reason: "seq " + wire.seq + " after " + st.seq });
      if (conn.sse) this.#lost(conn, "gap in seq"); // SSE cannot ask: a new stream starts with a snapshot
      else conn.socket.send('{"type":"snapshot"}');
      return;
    }
    const ticks = wire.seq - from;
    this.#ticks += (ticks - this.#ticks) / 4;
    this.updateEvery = Math.round(this.#ticks * this.intervalMs);
    const msg = this.#keyed(wire);
    for (const k of msg.removed || []) {
      st.series.delete(k);
      st.values.delete(k);
      st.rates.delete(k);
      st.stale.delete(k);
      this.#forget(k);
    }
    for (const s of msg.series || []) {
      const old = st.series.get(s.key);
      if (old && old.kind !== s.kind) this.#forget(s.key); // a new kind starts a new history
      st.series.set(s.key, s);
      st.rates.delete(s.key); // a changed entry comes with its rate, if it has one
    }
    applyValues(st, msg);
    st.seq = msg.seq;
    st.ts = msg.ts;
    this.#record(msg.seq, msg.ts);
    this.#emit({
      type: "delta",
      ticks,
      keys: unique([...Object.keys(msg.values || {}), ...Object.keys(msg.rates || {})]),
      series: (msg.series || []).map((s) => s.key),
      removed: msg.removed || [],
      stale: msg.stale || [],
    });
  }

  // The history message follows a snapshot with the same seq.
  #history(wire) {
    const st = this.state;
    if (!this.#synced || wire.seq !== st.seq) return; // not about the state held
    const ids = this.#ids;
    // v2 delta-codes every array (PROTOCOL.md, "history (v2)").
    const times = column(wire.times || { d: [] }, 0);
    const msg = { seq: wire.seq, values: {} };
    for (const [id, c] of Object.entries(wire.values || {})) msg.values[ids.get(Number(id))] = column(c, times.length);
    // Keep as many points as the server does: its hello says how many; an
    // older server's history of fewer than seq points tells its length.
    if (this.historyLength > 0) this.#histMax = this.historyLength;
    else this.#histMax = times.length < msg.seq ? Math.max(times.length, 1) : Math.max(this.#opts.history, times.length);
    this.#times = [...times];
    this.#histValues.clear();
    this.#histRates.clear();
    for (const [key, s] of st.series) {
      const values = fit(msg.values[key] || [], times.length);
      this.#histValues.set(key, values);
      if (s.kind === "counter") this.#histRates.set(key, counterRates(times, values));
    }
    this.#histSeq = msg.seq;
    this.#trim();
    this.#emit({ type: "history", keys: [...st.series.keys()], series: [], removed: [], stale: [] });
  }

  #serverError(msg) {
    if (this.onError) call(this.onError, msg);
    else console.warn("pulse:", msg.code, msg.message);
    if (this.#pending.length === 0) return;
    if (msg.code === "too_many_patterns" || msg.code === "bad_pattern") {
      // A refused subscribe: its patterns are not part of the subscription.
      const { added } = this.#pending.shift();
      this.#patterns = this.#patterns.filter((p) => !added.includes(p));
    } else if (msg.code === "rate_limited" && this.#conn) {
      // A subscription change may have been dropped: a new connection
      // carries all of them in ?match=.
      this.#restart();
    }
  }

  // ---- State and history ----

  #clearState() {
    const st = this.state;
    st.series.clear();
    st.values.clear();
    st.rates.clear();
    st.stale.clear();
  }

  // #record writes the current state as the history point of tick seq: a new
  // point, or the newest one again when seq is the same tick.
  #record(seq, ts) {
    const st = this.state;
    if (seq !== this.#histSeq || this.#times.length === 0) this.#times.push(ts);
    const n = this.#times.length;
    for (const [key, s] of st.series) {
      // The slot of this tick is the last; a series new to the history had
      // no value before it.
      const values = extend(this.#histValues.get(key) || [], n);
      values[n - 1] = st.values.has(key) ? st.values.get(key) : null;
      this.#histValues.set(key, values);
      if (s.kind === "counter") {
        const rates = extend(this.#histRates.get(key) || [], n);
        rates[n - 1] = st.rates.has(key) ? st.rates.get(key) : null;
        this.#histRates.set(key, rates);
      } else {
        this.#histRates.delete(key);
      }
    }
    this.#histSeq = seq;
    this.#trim();
  }

  #trim() {
    const excess = this.#times.length - this.#histMax;
    if (excess <= 0) return;
    this.#times.splice(0, excess);
    for (const a of this.#histValues.values()) a.splice(0, excess);
    for (const a of this.#histRates.values()) a.splice(0, excess);
  }

  #forget(key) {
    this.#histValues.delete(key);
    this.#histRates.delete(key);
  }

  // ---- Callbacks ----

  #setStatus(status, info = {}) {
    const repeat = status === this.status;
    this.status = status;
    if (repeat && status !== "connecting" && status !== "reconnecting") return;
    if (this.onStatus) call(this.onStatus, status, { transport: this.transport, ...info });
  }

  #emit(changes) {
    const st = this.state;
    if (this.onUpdate) call(this.onUpdate, st, { seq: st.seq, ts: st.ts, ...changes });
  }
}

// applyValues takes the values, rates and stale keys of a snapshot or delta.
// A series in values is no longer stale.
function applyValues(st, msg) {
  for (const [k, v] of Object.entries(msg.values || {})) {
    st.values.set(k, num(v));
    st.stale.delete(k);
  }
  for (const [k, v] of Object.entries(msg.rates || {})) st.rates.set(k, num(v));
  for (const k of msg.stale || []) st.stale.add(k);
}

// num decodes a wire number: a JSON number, or "NaN", "+Inf" or "-Inf".
function num(v) {
  if (typeof v === "number") return v;
  if (v === "+Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  return Number(v); // "NaN", and anything unexpected, is NaN
}

// POW10 holds the powers of ten a history column's scale may use, all exact
// (10 ** k need not be).
const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

// column decodes a v2 history array of n points ({from, scale, unit, d} or
// {from, v}; n 0: as many as it has): null before from; point j is
// unit × (d[0] + … + d[j - from]) / 10^scale, and "NaN", "+Inf", "-Inf" are
// themselves without moving the running sum. The integers stay below 2^53
// and the power of ten is exact, so the value is the server's float64 when
// the grid is exact.
function column(c, n) {
  const out = new Array(c.from || 0).fill(null);
  if (c.v) {
    for (const v of c.v) out.push(v === null ? null : num(v));
  } else {
    const scale = c.scale || 0, unit = c.unit || 1, p = POW10[Math.abs(scale)];
    let sum = 0;
    for (const d of c.d || []) {
      if (typeof d !== "number") { out.push(num(d)); continue; }
      sum += d;
      out.push(scale >= 0 ? (sum * unit) / p : sum * unit * p);
    }
  }
  return n > 0 && out.length > n ? out.slice(0, n) : out;
}

// counterRates derives a counter's per-second rates from its history the
// way the server computes them (a decrease is a reset from zero), over the
// ticks' times instead of the samples' (PROTOCOL.md): null for a point with
// no point before it.
function counterRates(times, values) {
  return values.map((v, i) => {
    const prev = i > 0 ? values[i - 1] : null;
    if (v === null || prev === null) return null;
    let dv = v - prev;
    if (dv < 0 || Number.isNaN(dv)) dv = v;
    const r = dv / ((times[i] - times[i - 1]) / 1000);
    return Number.isFinite(r) ? r : 0;
  });
}

// patternList checks subscription patterns given as an array or a
// comma-separated string.
function patternList(patterns) {
  const list = (typeof patterns === "string" ? patterns.split(",") : [...patterns]).map((p) => String(p).trim()).filter((p) => p !== "");
  for (const p of list) {
    if (!PATTERN.test(p)) throw new TypeError("pulse: bad pattern " + JSON.stringify(p) + ": want metric-name characters, * and ?, at most 200");
  }
  return list;
}

function unique(list) {
  return [...new Set(list)];
}

// extend appends nulls to a until it has n elements.
function extend(a, n) {
  while (a.length < n) a.push(null);
  return a;
}

// fit returns a with exactly n elements: the newest n, padded with nulls at
// the old end.
function fit(a, n) {
  if (a.length > n) return a.slice(a.length - n);
  if (a.length < n) return new Array(n - a.length).fill(null).concat(a);
  return a;
}

// call runs a user callback; an exception there is reported, not allowed to
// break the client.
function call(fn, ...args) {
  try {
    fn(...args);
  } catch (err) {
    console.error("pulse: callback failed", err);
  }
}
