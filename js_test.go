package pulse

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestJSHandler(t *testing.T) {
	file, err := os.ReadFile(filepath.Join("js", "pulse.js"))
	require.NoError(t, err)
	srv := httptest.NewServer(JS())
	defer srv.Close()

	get := func(method string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/pulse.js", nil)
		require.NoError(t, err)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}

	resp, body := get(http.MethodGet, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	etag := resp.Header.Get("ETag")
	require.Regexp(t, `^"[0-9a-f]{32}"$`, etag)
	require.Equal(t, string(file), body, "serves js/pulse.js as embedded")
	require.Same(t, clientFile, dashboardFiles["pulse.js"], "the dashboard serves the same file")
	require.Equal(t, clientFile.etag, etag)

	// An ES module with its documentation up front and the entry point.
	require.True(t, strings.HasPrefix(body, "/**\n"), "starts with a doc comment")
	require.Contains(t, body, "\nexport function connect(url, options = {}) {\n")
	require.NotContains(t, body, "require(", "no CommonJS")
	require.NotRegexp(t, `(?m)^import `, body, "no dependency")

	// Revalidation.
	resp, body = get(http.MethodGet, map[string]string{"If-None-Match": etag})
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
	require.Empty(t, body)
	require.Equal(t, etag, resp.Header.Get("ETag"))
	resp, _ = get(http.MethodGet, map[string]string{"If-None-Match": `"something-else"`})
	require.Equal(t, http.StatusOK, resp.StatusCode)

	resp, body = get(http.MethodHead, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, body)
	require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))

	resp, _ = get(http.MethodPost, nil)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
}

// TestJSClient runs pulse.js under Node.js, against fake WebSocket and
// EventSource classes and a fake clock, to check its protocol logic:
// state, history, resync on a gap, dead-connection detection, backoff,
// subscriptions across reconnects, and the SSE fallback. The browser tests in
// examples/server run it against a real Hub in Chromium.
func TestJSClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: skipping the unit test of js/pulse.js (the browser tests in examples/server still run it)")
	}
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("js", "pulse.js"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pulse.mjs"), src, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "test.mjs"), []byte(jsClientTest), 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "test.mjs")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("node test.mjs:\n%s", out)
	require.NoError(t, err)
	require.Contains(t, string(out), "all passed")
}

// jsClientTest drives pulse.mjs with fakes. The clock only moves when the
// test advances it.
const jsClientTest = `
import assert from "node:assert/strict";

// ---- Fakes: clock, WebSocket, EventSource, location ----
let now = 1000000;
let timers = new Map();
let nextTimer = 1;
globalThis.setTimeout = (fn, ms) => { const id = nextTimer++; timers.set(id, { at: now + ms, fn }); return id; };
globalThis.clearTimeout = (id) => { timers.delete(id); };
Date.now = () => now;
Math.random = () => 0.5; // jitter: a delay is 3/4 of its base
function advance(ms) {
  const end = now + ms;
  for (;;) {
    let next = null;
    for (const [id, tm] of timers) if (tm.at <= end && (!next || tm.at < next[1].at)) next = [id, tm];
    if (!next) break;
    timers.delete(next[0]);
    now = next[1].at;
    next[1].fn();
  }
  now = end;
}
const settle = () => new Promise((resolve) => setImmediate(resolve));

globalThis.location = { href: "http://example.test/dash/" };

class FakeSocket {
  constructor(url) { this.url = url; this.sent = []; this.readyState = 0; this.closed = false; this.constructor.all.push(this); }
  close() { this.readyState = 2; this.closed = true; }
  msg(m) { assert.ok(this.onmessage, "a detached socket got a message"); this.onmessage({ data: JSON.stringify(m) }); }
  get match() { return new URL(this.url).searchParams.get("match"); }
}
class FakeWS extends FakeSocket {
  static all = [];
  send(s) { assert.equal(this.readyState, 1); this.sent.push(JSON.parse(s)); }
  open() { this.readyState = 1; this.onopen({}); }
  fail(code = 1006) { this.readyState = 3; this.onclose({ code, reason: "" }); }
}
class FakeES extends FakeSocket {
  static all = [];
  open() { this.readyState = 1; this.onopen({}); }
  error() { this.onerror({}); }
}
globalThis.WebSocket = FakeWS;
globalThis.EventSource = FakeES;

let consoleErrors = 0;
console.error = () => { consoleErrors++; };
console.warn = () => {};

const { connect } = await import("./pulse.mjs");

// Protocol v2: series ids req_total 1, g 2, n 3.
const cat = {
  req: { id: 1, key: "req_total", name: "req_total", kind: "counter" },
  g: { id: 2, key: "g", name: "g", kind: "gauge" },
  n: { id: 3, key: "n", name: "n", kind: "gauge" },
};
const hello = (seq, interval = 1000, epoch = "e1") => ({ type: "hello", seq, ts: seq * 1000, version: 2, epoch, interval_ms: interval, series: [cat.req, cat.g] });
function record(opts = {}) {
  const r = { statuses: [], infos: [], updates: [] };
  r.client = connect(opts.url || "/ws/metrics", {
    ...opts,
    onStatus: (s, info) => { r.statuses.push(s); r.infos.push(info); },
    onUpdate: (state, changes) => { r.updates.push(changes); },
  });
  return r;
}
function snapshotMsg(seq, reason = "connect") {
  const m = { type: "snapshot", seq, ts: seq * 1000, reason,
    values: { 1: 10, 2: "NaN" }, rates: { 1: 2 }, stale: [] };
  if (reason !== "connect") m.series = [cat.req, cat.g];
  return m;
}

// ---- State, history, conversions ----
{
  const r = record({ match: "req_*,g" });
  const c = r.client;
  assert.equal(FakeWS.all.length, 0, "the first attempt waits for the caller's code to run");
  await settle();
  let ws = FakeWS.all.at(-1);
  const u = new URL(ws.url);
  assert.equal(u.protocol, "ws:");
  assert.equal(u.pathname, "/ws/metrics");
  assert.equal(ws.match, "req_*,g");
  assert.deepEqual(r.statuses, ["connecting"]);

  ws.open();
  ws.msg(hello(3));
  ws.msg(snapshotMsg(3));
  assert.equal(c.status, "live");
  assert.equal(c.seq, 3);
  assert.equal(c.value("req_total"), 10);
  assert.ok(Number.isNaN(c.value("g")));
  assert.equal(c.rate("req_total"), 2);
  assert.equal(c.rate("g"), undefined);
  assert.deepEqual(c.values(), { req_total: 10, g: NaN });
  assert.deepEqual(c.series("g"), [cat.g]);

  // v2: delta-coded arrays (value = unit × running sum / 10^scale); a
  // counter's rates are derived from its values and the times.
  ws.msg({ type: "history", seq: 3, ts: 3000, times: { d: [1000, 1000, 1000] },
    values: { 1: { from: 1, d: [8, 2] }, 2: { scale: 1, unit: 5, d: [2, "+Inf", "NaN"] } } });
  assert.deepEqual(c.history("g"), { times: [1000, 2000, 3000], values: [1, Infinity, NaN], rates: null });
  assert.deepEqual(c.history("req_total").rates, [null, null, 2]);
  assert.equal(r.updates.at(-1).type, "history");

  // Deltas extend every series' history; unchanged values carry on.
  ws.msg({ type: "delta", seq: 4, ts: 4000, values: { 2: "-Inf" } });
  assert.equal(c.value("g"), -Infinity);
  assert.deepEqual(c.history("req_total"), { times: [1000, 2000, 3000, 4000], values: [null, 8, 10, 10], rates: [null, null, 2, 2] });
  assert.deepEqual(r.updates.at(-1), { seq: 4, ts: 4000, type: "delta", ticks: 1, keys: ["g"], series: [], removed: [], stale: [] });

  // Applied in order: removed, series, values, rates, stale.
  ws.msg({ type: "delta", seq: 5, ts: 5000, series: [cat.n], values: { 3: 7, 1: 12 }, rates: { 1: 3 }, removed: [2], stale: [1] });
  assert.equal(c.history("g"), null);
  assert.equal(c.value("g"), undefined);
  assert.deepEqual(c.history("n").values, [null, null, null, null, 7], "a new series has no history before it");
  assert.ok(c.isStale("req_total"));
  ws.msg({ type: "delta", seq: 6, ts: 6000, values: { 1: 12 } });
  assert.ok(!c.isStale("req_total"), "a value ends staleness");

  // A gap: ask for a snapshot, ignore deltas until it comes.
  ws.msg({ type: "delta", seq: 8, ts: 8000, values: { 3: 100 } });
  assert.deepEqual(ws.sent.at(-1), { type: "snapshot" });
  assert.equal(c.status, "resyncing");
  ws.msg({ type: "delta", seq: 9, ts: 9000, values: { 3: 100 } });
  assert.equal(c.value("n"), 7);
  assert.equal(c.seq, 6);
  ws.msg({ type: "snapshot", seq: 9, ts: 9000, reason: "request", series: [cat.req, cat.n], values: { 1: 20, 3: 100 }, rates: {}, stale: [] });
  assert.deepEqual(r.statuses.slice(-3), ["resyncing", "resynced", "live"]);
  assert.equal(c.value("n"), 100);
  assert.deepEqual(c.history("n").times, [1000, 2000, 3000, 4000, 5000, 6000, 9000], "the snapshot is a point; the missed ticks are not");
  ws.msg({ type: "delta", seq: 10, ts: 10000 });
  assert.equal(c.seq, 10);

  // A merged delta covers several ticks; updateEvery follows.
  ws.msg({ type: "delta", seq: 14, ts: 14000, from: 10, values: { 3: 140 } });
  assert.equal(c.value("n"), 140);
  assert.equal(r.updates.at(-1).ticks, 4);
  assert.ok(c.updateEvery > 1000, "updates come less often than every tick");
  ws.msg({ type: "delta", seq: 17, ts: 17000, from: 12, values: { 3: 170 } });
  assert.equal(c.value("n"), 170, "a range that starts earlier is a superset");
  ws.msg({ type: "snapshot", seq: 10, ts: 10000, reason: "request", series: [cat.req, cat.n], values: { 1: 20, 3: 100 }, rates: {}, stale: [] });

  // A slow link: merged deltas of 10 ticks each, 10 s apart. The
  // connection is not presumed dead between them (three of updateEvery).
  let slowSeq = 10;
  for (let i = 0; i < 8; i++) {
    advance(9999);
    assert.equal(c.status, "live", "merged delta " + i);
    ws.msg({ type: "delta", seq: slowSeq + 10, ts: (slowSeq + 10) * 1000, from: slowSeq, values: { 3: slowSeq } });
    slowSeq += 10;
  }
  assert.ok(c.updateEvery > 8000, "updateEvery " + c.updateEvery);
  advance(3 * c.updateEvery - 1);
  assert.equal(c.status, "live", "three updates' worth of silence");
  assert.equal(FakeWS.all.at(-1), ws);
  // The link recovers: every tick again, and updateEvery back to the tick.
  for (let i = 0; i < 25; i++) {
    slowSeq++;
    ws.msg({ type: "delta", seq: slowSeq, ts: slowSeq * 1000 });
  }
  assert.ok(c.updateEvery < 1100, "updateEvery " + c.updateEvery);
  ws.msg({ type: "snapshot", seq: 10, ts: 10000, reason: "request", series: [cat.req, cat.n], values: { 1: 20, 3: 100 }, rates: {}, stale: [] });

  // Subscriptions are sent, then remembered for the next connection.
  c.subscribe(["pulse_*", "g"]);
  assert.deepEqual(ws.sent.at(-1), { type: "subscribe", patterns: ["pulse_*"] });
  assert.deepEqual(c.patterns, ["req_*", "g", "pulse_*"]);
  c.subscribe("too_*");
  ws.msg({ type: "error", code: "too_many_patterns", message: "no" });
  assert.deepEqual(c.patterns, ["req_*", "g", "too_*"], "a refused subscribe is taken back");
  ws.msg({ type: "snapshot", seq: 10, ts: 10000, reason: "subscribe", series: [cat.req], values: { 1: 20 }, rates: {}, stale: [] });
  c.unsubscribe("too_*");
  assert.deepEqual(ws.sent.at(-1), { type: "unsubscribe", patterns: ["too_*"] });
  c.unsubscribe("g");
  ws.msg({ type: "error", code: "rate_limited", message: "slow down" });
  const wsR = FakeWS.all.at(-1);
  assert.notEqual(wsR, ws, "a rate-limited change is carried by a new connection");
  assert.ok(ws.closed);
  assert.equal(wsR.match, "req_*");
  wsR.open();
  wsR.msg(hello(9));
  wsR.msg({ type: "snapshot", seq: 9, ts: 9000, reason: "connect", values: { 1: 20 }, rates: {}, stale: [] });
  c.subscribe("g");
  wsR.msg({ type: "snapshot", seq: 10, ts: 10000, reason: "subscribe", series: [cat.req], values: { 1: 20 }, rates: {}, stale: [] });
  ws = wsR;
  assert.throws(() => c.subscribe("bad pattern"), TypeError);

  // Dead connection: silent for silentAfter (10 s: more than three
  // intervals of 1 s).
  advance(9999);
  assert.equal(c.status, "live");
  advance(1);
  assert.ok(ws.closed);
  assert.equal(c.status, "reconnecting");
  assert.equal(r.infos.at(-1).delay, 188, "250 ms base, with jitter");
  advance(187);
  assert.equal(FakeWS.all.at(-1), ws);
  advance(1);
  const ws2 = FakeWS.all.at(-1);
  assert.notEqual(ws2, ws);
  assert.equal(ws2.match, "req_*,g");

  // Backoff doubles while attempts fail, and is reset by a snapshot.
  ws2.fail();
  assert.equal(r.infos.at(-1).delay, 375);
  advance(375);
  const ws3 = FakeWS.all.at(-1);
  ws3.open();
  ws3.fail(1001);
  assert.equal(r.infos.at(-1).delay, 750);
  advance(750);
  const ws4 = FakeWS.all.at(-1);
  assert.equal(ws4.url.startsWith("ws:"), true, "a WebSocket that once opened is never dropped for SSE");
  ws4.open();
  ws4.msg(hello(1, 500)); // another server: seq starts over
  ws4.msg(snapshotMsg(1));
  assert.equal(c.status, "live");
  assert.deepEqual(c.history("req_total"), { times: [1000], values: [10], rates: [2] }, "a lower seq starts the history over");
  advance(9999);
  assert.equal(c.status, "live");
  advance(1);
  assert.equal(r.infos.at(-1).delay, 188, "reset after the snapshot; silentAfter (10 s), more than three intervals of 500 ms");

  // History is capped at the server's length once it shows.
  advance(188);
  const ws5 = FakeWS.all.at(-1);
  ws5.open();
  ws5.msg(hello(50));
  ws5.msg(snapshotMsg(50));
  ws5.msg({ type: "history", seq: 50, ts: 50000, times: { d: [48000, 1000, 1000] }, values: { 1: { d: [1, 1, 1] }, 2: { v: [1, 2, 3] } } });
  ws5.msg({ type: "delta", seq: 51, ts: 51000 });
  assert.deepEqual(c.history("req_total"), { times: [49000, 50000, 51000], values: [2, 3, 10], rates: [1, 1, 2] });

  // A failing callback does not break the client.
  c.onUpdate = () => { throw new Error("boom"); };
  ws5.msg({ type: "delta", seq: 52, ts: 52000 });
  assert.equal(consoleErrors, 1);
  assert.equal(c.seq, 52);

  // Unsubscribing everything needs no connection; subscribing reconnects.
  c.unsubscribe(["req_*", "g"]);
  assert.equal(c.status, "idle");
  assert.ok(ws5.closed);
  assert.equal(c.values().req_total, undefined);
  c.subscribe("g");
  const ws6 = FakeWS.all.at(-1);
  assert.notEqual(ws6, ws5);
  assert.equal(ws6.match, "g");
  assert.equal(c.status, "connecting");

  c.close();
  assert.equal(c.status, "closed");
  assert.ok(ws6.closed);
  advance(60000);
  assert.equal(FakeWS.all.at(-1), ws6, "closed for good");
  console.log("ok state, history, resync, backoff, subscriptions");
}

// ---- The hello says how many points the server keeps ----
{
  const r = record({ history: 2 });
  const c = r.client;
  await settle();
  const ws = FakeWS.all.at(-1);
  ws.open();
  assert.equal(c.historyLength, 0, "unknown before the hello");
  ws.msg({ ...hello(1), history: 4 });
  assert.equal(c.historyLength, 4);
  ws.msg(snapshotMsg(1));
  for (let s = 2; s <= 6; s++) ws.msg({ type: "delta", seq: s, ts: s * 1000 });
  assert.deepEqual(c.history("req_total").times, [3000, 4000, 5000, 6000], "the server's length, not options.history");
  c.close();
  console.log("ok history length from the hello");
}

// ---- Fallback to Server-Sent Events ----
{
  const r = record({ url: "https://example.test/metrics" });
  const c = r.client;
  await settle();
  for (let i = 0; i < 3; i++) {
    const ws = FakeWS.all.at(-1);
    assert.equal(ws.url, "wss://example.test/metrics?match=*&v=2");
    ws.fail();
    advance(r.infos.at(-1).delay);
  }
  assert.deepEqual(r.statuses, ["connecting", "connecting", "connecting", "connecting"], "never live yet");
  const es = FakeES.all.at(-1);
  assert.equal(es.url, "https://example.test/metrics?match=*&v=2");
  assert.equal(c.transport, "sse");
  es.open();
  es.msg(hello(7));
  es.msg(snapshotMsg(7));
  assert.equal(c.status, "live");
  assert.equal(r.infos.at(-1).transport, "sse");

  // A gap over SSE: a new stream brings the snapshot.
  es.msg({ type: "delta", seq: 9, ts: 9000 });
  assert.ok(es.closed);
  assert.equal(c.status, "reconnecting");
  advance(r.infos.at(-1).delay);
  const es2 = FakeES.all.at(-1);
  assert.notEqual(es2, es);

  // An error (a dropped stream, or a 503 that EventSource would not retry):
  // the client retries with its own backoff, always on SSE.
  es2.error();
  assert.ok(es2.closed);
  advance(r.infos.at(-1).delay);
  const es3 = FakeES.all.at(-1);
  assert.notEqual(es3, es2);

  // A subscription change over SSE opens a new stream with the new match.
  es3.open();
  es3.msg(hello(20));
  es3.msg(snapshotMsg(20));
  c.subscribe("extra_*");
  assert.ok(es3.closed);
  assert.equal(FakeES.all.at(-1).match, "*,extra_*");
  c.close();
  console.log("ok SSE fallback");
}

// ---- SSE on request, and without WebSocket ----
{
  const wsBefore = FakeWS.all.length;
  const a = record({ transport: "sse", match: ["go_*"] });
  await settle();
  assert.equal(FakeWS.all.length, wsBefore);
  assert.equal(FakeES.all.at(-1).url, "http://example.test/ws/metrics?match=go_*&v=2");
  a.client.close();

  globalThis.WebSocket = undefined;
  const b = record();
  await settle();
  assert.equal(FakeWS.all.length, wsBefore);
  assert.equal(b.client.transport, "sse");
  b.client.close();
  const w = record({ transport: "websocket" });
  await settle();
  assert.equal(w.client.status, "closed", "no fallback when WebSocket is asked for");
  assert.match(w.infos.at(-1).error, /WebSocket is not available/);
  globalThis.WebSocket = FakeWS;

  // A server speaking another protocol version is left alone.
  const v = record();
  await settle();
  const ws = FakeWS.all.at(-1);
  ws.open();
  ws.msg({ ...hello(1), version: 3 });
  assert.equal(v.client.status, "closed");
  assert.match(v.infos.at(-1).error, /version 3/);
  assert.ok(ws.closed);
  console.log("ok SSE on request, protocol version");
}

// ---- Resume after a cut ----
{
  const r = record({ match: "req_*,g" });
  const c = r.client;
  await settle();
  const ws = FakeWS.all.at(-1);
  ws.open();
  ws.msg({ ...hello(5, 2000, "ep"), history: 300, tiers: [{ name: "1h", step_ms: 10000, span_ms: 3600000 }] });
  ws.msg(snapshotMsg(5));
  ws.msg({ type: "delta", seq: 6, ts: 6000, values: { 1: 11 } });
  ws.fail();
  advance(r.infos.at(-1).delay);
  const ws2 = FakeWS.all.at(-1);
  const q = new URL(ws2.url).searchParams;
  assert.equal(q.get("epoch"), "ep", "the new connection asks to resume");
  assert.equal(q.get("seq"), "6");
  ws2.open();
  ws2.msg({ type: "hello", seq: 6, ts: 9000, version: 2, epoch: "ep", resume: 6 });
  assert.equal(c.status, "live");
  assert.equal(c.intervalMs, 2000, "a resume hello does not repeat the interval: the one held stays");
  assert.equal(c.historyLength, 300, "nor the history length");
  assert.deepEqual(c.tiers, [{ name: "1h", stepMs: 10000, spanMs: 3600000 }], "nor the tiers");
  ws2.msg({ type: "delta", seq: 9, ts: 9000, from: 6, values: { 1: 14 }, removed: [2] });
  assert.equal(c.value("req_total"), 14, "the state held goes on, by the same ids");
  assert.equal(c.value("g"), undefined);
  assert.equal(c.seq, 9);

  // Another epoch: a normal connect (catalogue, snapshot).
  ws2.fail();
  advance(r.infos.at(-1).delay);
  const ws3 = FakeWS.all.at(-1);
  ws3.open();
  ws3.msg(hello(2, 1000, "other"));
  ws3.msg(snapshotMsg(2));
  assert.equal(c.value("g") !== undefined, true);
  c.close();
  console.log("ok resume");
}

// ---- Tiers from the hello ----
{
  const r = record({});
  const c = r.client;
  await settle();
  assert.equal(c.tiers, null, "unknown before the hello");
  const ws = FakeWS.all.at(-1);
  ws.open();
  ws.msg({ ...hello(1), history: 300, tiers: [{ name: "30s", step_ms: 5000, span_ms: 30000 }, { name: 7 }, { name: "7d", step_ms: 600000, span_ms: 604800000 }] });
  assert.deepEqual(c.tiers, [{ name: "30s", stepMs: 5000, spanMs: 30000 }, { name: "7d", stepMs: 600000, spanMs: 604800000 }], "a malformed entry is dropped");
  ws.fail();
  advance(r.infos.at(-1).delay);
  const ws2 = FakeWS.all.at(-1);
  ws2.open();
  ws2.msg(hello(2));
  assert.equal(c.tiers, null, "a server that does not announce tiers");
  ws2.fail();
  advance(r.infos.at(-1).delay);
  const ws3 = FakeWS.all.at(-1);
  ws3.open();
  ws3.msg({ ...hello(3), tiers: [] });
  assert.deepEqual(c.tiers, [], "a server that keeps none");
  c.close();
  console.log("ok tiers");
}

assert.equal(timers.size, 0, "no timer left behind");
console.log("all passed");
`
