package main

// Browser tests: the dashboard and pulse.js in a real headless Chromium,
// driven with chromedp. They need Debian's chromium: without it they are
// skipped, except under CI=true, where they fail (.ci/run installs it).
//
// PULSE_SCREENSHOT_DIR=dir keeps the screenshots there instead of in the
// test's temporary directory.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

// browserInterval is the demo's tick in the browser tests: short, so that
// values move quickly; the client's dead-connection timeout is three ticks.
const browserInterval = 100 * time.Millisecond

// waitLimit bounds every wait on the page. Waits poll; they end as soon as
// the condition holds.
const waitLimit = 30 * time.Second

// chromiumPath finds Chromium, or skips the test (fails it under CI=true).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI=true requires the browser tests: .ci/run installs Debian's chromium (apt-get install -y chromium)")
	}
	t.Skip("chromium is not on PATH: skipping the browser test (install Debian's chromium, apt-get install chromium, to run it)")
	return ""
}

// browser is a headless Chromium with a fresh profile and one tab. It is
// stopped, and its process waited for, when the test ends.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	errors []string // uncaught exceptions and console.error calls of the page
	ended  bool
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	// A fresh profile, with network prediction off: otherwise Chromium
	// preconnects a spare socket to a newly visited origin, and an
	// http.Server's Shutdown waits up to 5 s for such a connection that
	// never sends a request.
	profile := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(profile, "Default"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(profile, "Default", "Preferences"),
		[]byte(`{"net":{"network_prediction_options":2}}`), 0o600))
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1100, 860),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		b.mu.Lock()
		b.ended = true
		b.mu.Unlock()
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
	})

	// The first action starts the browser: no deadline on it (a deadline
	// would bound the browser's whole life), but it fails fast when the
	// browser cannot start. Pin the light color scheme for the screenshots.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
		})
		return err
	}))
	require.NoError(t, err, "starting %s", path)
	require.NoError(t, chromedp.Listen(ctx, b.event))
	return b
}

// event records the page's errors. It runs on chromedp's reader goroutine.
func (b *browser) event(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = "uncaught: " + d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		msg = "console.error: " + strings.Join(parts, " ")
	default:
		return
	}
	b.mu.Lock()
	if !b.ended {
		b.errors = append(b.errors, msg)
	}
	b.mu.Unlock()
}

// noPageErrors fails the test if the page threw or logged an error.
func (b *browser) noPageErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(b.t, b.errors, "errors in the page")
}

// run runs actions with a deadline.
func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

func (b *browser) navigate(u string) {
	b.t.Helper()
	b.run(chromedp.Navigate(u))
}

// eval evaluates a JavaScript expression into a T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(b.t, err, "evaluating %s", expr)
	return v
}

// waitFor polls the page until the JavaScript expression is true, for at
// most waitLimit. On a time-out it reports what the page showed.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")",
		chromedp.WithPollingTimeout(waitLimit), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		shown, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText.replace(/\s+/g, " ").slice(0, 600)`))
		b.t.Fatalf("waiting for %s (%s): %v\npage: %s", what, expr, err, shown)
	}
}

// screenshot saves a PNG of the whole page and logs its path.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("PULSE_SCREENSHOT_DIR")
	if dir == "" {
		dir = b.t.TempDir()
	}
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	path := filepath.Join(dir, name)
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot: %s", path)
}

// demo is the example server, run() on a goroutine.
type demo struct {
	t    *testing.T
	url  string // http://127.0.0.1:PORT/
	addr string // 127.0.0.1:PORT
	stop func()
}

// startDemo runs the demo on addr until the test ends or stop is called.
func startDemo(t *testing.T, addr string) *demo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, addr, browserInterval, func(u string) { urls <- u }) }()
	d := &demo{t: t}
	select {
	case d.url = <-urls:
	case err := <-done:
		cancel()
		t.Fatalf("run on %s returned before ready: %v", addr, err)
	case <-time.After(waitLimit):
		cancel()
		t.Fatalf("run on %s did not report ready", addr)
	}
	u, err := url.Parse(d.url)
	require.NoError(t, err)
	d.addr = u.Host
	var once sync.Once
	d.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(waitLimit):
				t.Errorf("run on %s did not return after cancel", d.addr)
			}
		})
	}
	t.Cleanup(d.stop)
	return d
}

// waitSeq polls the demo's plain-GET snapshot until its seq reaches n.
func (d *demo) waitSeq(n uint64) {
	d.t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: waitLimit}
	eventually(d.t, fmt.Sprintf("the demo's seq to reach %d", n), func() bool {
		resp, err := client.Get(d.url + "ws/metrics?match=go_sched_goroutines_goroutines")
		require.NoError(d.t, err)
		defer resp.Body.Close()
		var snap struct{ Seq uint64 }
		require.NoError(d.t, json.NewDecoder(resp.Body).Decode(&snap))
		return snap.Seq >= n
	})
}

// eventually polls cond every few milliseconds until it is true, for at
// most waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// Page expressions of the dashboard.
const (
	jsState    = `document.getElementById("status").dataset.state`
	jsConnects = `Number(document.getElementById("status").dataset.connects || 0)`
	jsSeq      = `Number(document.getElementById("seq").dataset.seq || 0)`
	jsTicks    = `Number(document.getElementById("ticks").textContent)`
	jsFigures  = `/\d/.test(document.getElementById("users").textContent) &&
		/\d/.test(document.getElementById("goroutines").textContent) &&
		/\d/.test(document.getElementById("heap").textContent)`
)

func TestBrowserDashboard(t *testing.T) {
	b := newBrowser(t)
	srv := startDemo(t, "127.0.0.1:0")
	srv.waitSeq(15) // a history to show

	b.navigate(srv.url)
	b.waitFor("the status to show live", jsState+` === "live"`)
	first := eval[int](b, `window.pulse.seq`)
	b.waitFor("the figures", jsFigures)

	// The sparkline is drawn from the server's history: it holds more
	// points than the ticks the page has seen since it connected (one per
	// tick, counting the snapshot's).
	b.waitFor("a sparkline from history", fmt.Sprintf(`%s > window.pulse.seq - %d + 1 && document.getElementById("spark-line").getAttribute("d") !== ""`, jsTicks, first))
	require.Equal(t, "websocket", eval[string](b, `document.getElementById("status").dataset.transport`))

	// Values change from one tick to the next.
	seq := eval[int](b, jsSeq)
	pages := eval[string](b, `document.getElementById("pages").textContent`)
	require.Contains(t, pages, "/shop")
	b.waitFor("the seq to move", fmt.Sprintf(`%s > %d`, jsSeq, seq))
	b.waitFor("the per-page figures to change", fmt.Sprintf(`document.getElementById("pages").textContent !== %q`, pages))
	b.screenshot("dashboard.png")

	// The server goes away: the page says so, and comes back by itself
	// when a server listens on the same address again.
	connects := eval[int](b, jsConnects)
	require.Positive(t, connects)
	srv.stop()
	b.waitFor("the status to show reconnecting", jsState+` === "reconnecting"`)
	srv2 := startDemo(t, srv.addr)
	b.waitFor("a fresh snapshot from the new server", fmt.Sprintf(`%s === "live" && %s > %d`, jsState, jsConnects, connects))
	seq = eval[int](b, jsSeq)
	b.waitFor("the seq to move on the new server", fmt.Sprintf(`%s > %d`, jsSeq, seq))
	b.waitFor("the figures on the new server", jsFigures)
	b.screenshot("dashboard-reconnected.png")
	srv2.stop()
	b.noPageErrors()
}

// ssePage is a minimal page that connects with pulse.js as its query says:
// url (the Hub's route), transport ("auto", "websocket" or "sse") and nows
// (remove WebSocket from the page first). It shows the client in
// data attributes of #out.
const ssePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pulse.js fallback</title></head>
<body><pre id="out">starting</pre>
<script type="module">
import { connect } from "/pulse.js";
const q = new URLSearchParams(location.search);
if (q.has("nows")) window.WebSocket = undefined;
const out = document.getElementById("out");
const client = connect(q.get("url"), {
  transport: q.get("transport") || "auto",
  minDelay: 50,
  onStatus(status, info) { out.dataset.state = status; out.dataset.transport = info.transport; },
  onUpdate(state) {
    out.dataset.seq = String(state.seq);
    out.dataset.value = String(client.value("test_ticks"));
    out.textContent = JSON.stringify(client.values());
  },
});
window.pulse = client;
</script></body></html>`

// sseGate stands in front of a Hub for TestBrowserSSEFallback: it counts
// the WebSocket upgrades and the event-stream requests, answers the first
// failStream event-stream requests 503 and, on a route that refuses them,
// the upgrades 403.
type sseGate struct {
	hub        *pulse.Hub
	upgrades   atomic.Int64 // WebSocket upgrade requests
	streams    atomic.Int64 // Server-Sent Events requests
	failStream atomic.Int64 // event-stream requests still to answer 503
}

// serve returns the gate's handler, refusing WebSocket upgrades if
// refuseUpgrades.
func (g *sseGate) serve(refuseUpgrades bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
			g.upgrades.Add(1)
			if refuseUpgrades { // like a proxy that does not pass WebSocket
				http.Error(w, "no websockets here", http.StatusForbidden)
				return
			}
		case strings.Contains(r.Header.Get("Accept"), "text/event-stream"):
			g.streams.Add(1)
			if g.failStream.Add(-1) >= 0 { // EventSource gives up on this by itself
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
		}
		g.hub.ServeHTTP(w, r)
	}
}

// TestBrowserSSEFallback serves pulse.js and a Hub from the test and loads
// pages that get their values over Server-Sent Events: asked for, with no
// WebSocket in the page, and with WebSocket upgrades refused by the server.
func TestBrowserSSEFallback(t *testing.T) {
	hub, err := pulse.NewHub(pulse.Options{Interval: browserInterval})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	var ticks atomic.Int64
	require.NoError(t, hub.Register(pulse.GaugeFunc("test_ticks", func() float64 {
		return float64(ticks.Add(1))
	}), pulse.SourceOptions{}))

	gate := &sseGate{hub: hub}
	mux := http.NewServeMux()
	mux.Handle("/ws/metrics", gate.serve(false))
	mux.Handle("/nows/metrics", gate.serve(true))
	mux.Handle("/pulse.js", pulse.JS())
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, ssePage)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := newBrowser(t) // after the servers: its cleanup runs first

	const (
		jsOut   = `document.getElementById("out").dataset`
		jsLive  = jsOut + `.state === "live" && ` + jsOut + `.transport === "sse"`
		jsValue = `Number(` + jsOut + `.value)`
	)
	for _, tc := range []struct {
		name, query string
		failFirst   int64 // event-stream requests answered 503 first
		upgrades    int64 // WebSocket attempts expected before the fallback
	}{
		{name: "forced", query: "url=/ws/metrics&transport=sse", failFirst: 2},
		{name: "no WebSocket in the page", query: "url=/ws/metrics&nows=1"},
		{name: "upgrades refused", query: "url=/nows/metrics", upgrades: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate.upgrades.Store(0)
			gate.streams.Store(0)
			gate.failStream.Store(tc.failFirst)
			b.navigate(srv.URL + "/?" + tc.query)
			b.waitFor("live over SSE", jsLive)
			b.waitFor("a value", jsValue+` > 0`)
			v := eval[float64](b, jsValue)
			b.waitFor("the value to change", fmt.Sprintf(`%s > %v`, jsValue, v))
			require.GreaterOrEqual(t, eval[int](b, `window.pulse.history("test_ticks").times.length`), 2, "history")

			require.Equal(t, tc.upgrades, gate.upgrades.Load(), "WebSocket attempts")
			require.Greater(t, gate.streams.Load(), tc.failFirst, "event-stream requests")
			if tc.name == "forced" {
				b.screenshot("sse.png")
			}

			// close() ends the stream: the Hub sees its client go.
			eventually(t, "one client on the Hub", func() bool { return hub.Stats().Clients == 1 })
			eval[chromedp.Void](b, `window.pulse.close()`)
			b.waitFor("the status to show closed", jsOut+`.state === "closed"`)
			eventually(t, "the Hub to lose its client", func() bool { return hub.Stats().Clients == 0 })
		})
	}
	b.noPageErrors()
}
