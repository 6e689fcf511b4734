package main

// Browser tests of pulse.Dashboard, with the conventions of browser_test.go
// (headless Debian chromium; skipped without it, except under CI=true).
//
// PULSE_DOCS_SCREENSHOT=1 also writes the README's screenshots,
// docs/dashboard.png (1280x900, light), docs/dashboard-dark.png and
// docs/dashboard-phone.png (390x844 at 2x), from the demo at its default 1 s
// tick after two minutes; the other screenshots go to PULSE_SCREENSHOT_DIR
// or the test's temporary directory.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

// Page expressions of the dashboard.
const (
	jsDashState = `document.getElementById("status").dataset.state`
	jsDashCards = `document.querySelectorAll("#grid .card").length`
	jsDashShown = `document.querySelectorAll("#grid .card:not([hidden])").length`
	// jsEverySeries: every series the client holds is a line of a chart
	// (in the grid, pinned, or listed as constant).
	jsEverySeries = `(() => { const keys = new Set(); for (const c of dashboard.cards.values()) for (const l of c.spec.lines) if (l.key) keys.add(l.key);
		const all = [...dashboard.client.state.series.keys()]; return all.length > 0 && all.every((k) => keys.has(k)) && keys.size === all.length; })()`
	// jsInViewCards describes the cards in the viewport: chart id, points
	// drawn, seq drawn, value, the figure (or legend) text, and the
	// canvas's size and inked pixels.
	jsInViewCards = `[...document.querySelectorAll("#grid .card:not([hidden])")].filter((el) => {
		const r = el.getBoundingClientRect();
		return r.bottom > 0 && r.top < innerHeight;
	}).map((el) => {
		const c = el.querySelector("canvas");
		let ink = 0;
		if (c.width > 0 && c.height > 0) {
			// Inked: pixels unlike the background, the top right corner's.
			const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			const bg = 4 * (c.width - 1);
			for (let i = 0; i < d.length; i += 4) if (d[i] !== d[bg] || d[i + 1] !== d[bg + 1] || d[i + 2] !== d[bg + 2]) ink++;
		}
		const figure = el.querySelector(".figure");
		return { key: el.dataset.chart, points: Number(el.dataset.points || 0), seq: Number(el.dataset.seq || 0),
			value: figure.hidden ? el.querySelector(".legend").textContent : el.dataset.value || "",
			figure: figure.hidden ? el.querySelector(".legend").textContent : figure.textContent,
			lines: Number(el.dataset.lines || 0), width: c.width, height: c.height, ink };
	})`
	// jsAllDrawn: every card in view is drawn at the client's last tick.
	jsAllDrawn = `(() => { const s = String(dashboard.client.seq); const els = [...document.querySelectorAll("#grid .card:not([hidden])")].filter((el) => {
		const r = el.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; });
		return els.length > 0 && els.every((el) => el.dataset.seq === s); })()`
)

type inViewCard struct {
	Key    string
	Points int
	Seq    int
	Value  string
	Figure string
	Lines  int
	Width  int
	Height int
	Ink    int
}

// saveViewport saves a PNG of the viewport to path and logs it.
func (b *browser) saveViewport(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(b.t, err)
	require.NoError(b.t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot: %s", path)
}

func screenshotDir(t *testing.T) string {
	if dir := os.Getenv("PULSE_SCREENSHOT_DIR"); dir != "" {
		return dir
	}
	return t.TempDir()
}

func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	b.run(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// TestDashboardInBrowser opens pulse.Dashboard, mounted by the demo at
// /dashboard/, and checks that it charts every series from history, in
// families, histograms and a list of constant series; that the charts
// follow the ticks; that the filter filters (on the page and on the server);
// pause and resume, the connection status, dark mode and a phone's width.
func TestDashboardInBrowser(t *testing.T) {
	b := newBrowser(t)
	if os.Getenv("PULSE_DOCS_SCREENSHOT") == "1" {
		docsScreenshot(t, b)
	}
	srv := startDemo(t, "127.0.0.1:0")
	srv.waitSeq(20) // a history to show

	b.run(chromedp.EmulateViewport(1280, 900))
	b.navigate(srv.url + "dashboard") // without the slash: redirected
	require.Equal(t, "/dashboard/", eval[string](b, `location.pathname`))
	b.waitFor("the status to show live", jsDashState+` === "live"`)
	first := eval[int](b, `dashboard.client.seq`)
	require.Equal(t, "websocket", eval[string](b, `document.getElementById("status").dataset.transport`))

	checkFamilies(t, b)
	cards := checkDrawnFromHistory(t, b, first)
	checkUnits(t, b)
	checkRedrawnPerTick(t, b, cards)
	b.saveViewport(filepath.Join(screenshotDir(t), "dashboard-all.png"))
	checkPageFilter(t, b)
	checkServerFilter(t, b)
	checkPause(t, b)
	srv2 := checkReconnect(t, b, srv)

	// Dark mode and a phone, for the eye (the files are logged).
	darkAndPhone(t, b, screenshotDir(t))
	srv2.stop()
	b.noPageErrors()
}

// checkFamilies checks that every series is in a chart, a chart per
// family, the application's first and the Hub's own last, and a
// histogram's quantiles and average in one chart.
func checkFamilies(t *testing.T, b *browser) {
	// Every series in a chart: a chart per family, the application's first.
	b.waitFor("every series charted", jsEverySeries+` && dashboard.client.state.series.size > 50`)
	charts := eval[[]string](b, `[...document.querySelectorAll("#grid .card")].map((el) => el.dataset.chart)`)
	require.Contains(t, charts, "go_sched_goroutines_goroutines")
	require.Contains(t, charts, "http_requests_total")
	require.NotContains(t, charts, `http_requests_total{page="shop"}`, "a family is one chart")
	require.Less(t, len(charts), eval[int](b, `dashboard.client.state.series.size`)*3/4, "fewer charts than series")
	require.NotRegexp(t, `^(go|pulse)_`, charts[0], "application series come first")
	require.Regexp(t, `^pulse_`, charts[len(charts)-1], "the Hub's own series come last")
	pages := eval[[]string](b, `[...dashboard.client.state.series.values()].filter((s) => s.name === "http_requests_total").map((s) => s.key).sort()`)
	require.Len(t, pages, 3)
	require.Equal(t, pages, eval[[]string](b, `dashboard.chart("http_requests_total").spec.lines.map((l) => l.key)`), "a line per page")
	require.Equal(t, []string{"p50", "p90", "p99", "avg"}, eval[[]string](b, `dashboard.chart('http_request_duration_seconds{page="shop"}').spec.lines.map((l) => l.label)`),
		"the quantiles and the average of a histogram in one chart")
}

// checkDrawnFromHistory checks that the charts in view are drawn and start
// full, from history: more points than the ticks seen since the page
// connected at seq first. It returns the cards in view.
func checkDrawnFromHistory(t *testing.T, b *browser, first int) []inViewCard {
	// The charts in view are drawn, and start full: more points than the
	// ticks seen since the page connected.
	b.waitFor("the charts in view drawn", jsAllDrawn)
	cards := eval[[]inViewCard](b, jsInViewCards)
	require.GreaterOrEqual(t, len(cards), 8, "cards in a 1280x900 viewport")
	for _, c := range cards {
		require.Greater(t, c.Width, 100, "%s: canvas sized", c.Key)
		require.Greater(t, c.Points, eval[int](b, `dashboard.client.seq`)-first+1, "%s: drawn from history", c.Key)
		require.Greater(t, c.Ink, c.Width*c.Height/50, "%s: something drawn", c.Key)
		require.Regexp(t, `\d`, c.Figure, "%s: a figure", c.Key)
	}
	// Off-screen cards are not drawn.
	require.Equal(t, 0, eval[int](b, `[...document.querySelectorAll("#grid .card")].filter((el) =>
		el.getBoundingClientRect().top > innerHeight + 400 && el.dataset.seq).length`), "cards far below the fold drawn")
	return cards
}

// checkUnits checks units and rates: requests per second, durations in ms,
// a limit in EiB listed as a constant.
func checkUnits(t *testing.T, b *browser) {
	// Units and rates: requests per second, durations in ms, a limit in EiB.
	requests := `dashboard.chart("http_requests_total")`
	require.Equal(t, "rate", eval[string](b, requests+`.el.dataset.plot`))
	b.waitFor("requests per second", `/^[\d.]+k?\/s$/.test(`+requests+`.legendVals.get('http_requests_total{page="shop"}').textContent)`)
	require.Equal(t, "requests per second", eval[string](b, requests+`.el.querySelector(".labels").textContent`), "the unit, said once")
	b.waitFor("a duration", `/^[\d.]+ (ns|µs|ms|s)$/.test(dashboard.chart('http_request_duration_seconds{page="shop"}').legendVals.get('http_request_duration_seconds{page="shop",quantile="0.5"}').textContent)`)
	b.waitFor("go_gc_gomemlimit_bytes listed as constant", constRow("go_gc_gomemlimit_bytes")+`?.querySelector(".cval").textContent === "8 EiB"`)
	require.Zero(t, eval[int](b, `document.querySelectorAll('#grid [data-chart="go_gc_gomemlimit_bytes"]').length`), "no flat chart of it")
}

// checkRedrawnPerTick checks that, tick by tick, the charts in view (before,
// as drawn earlier) are redrawn and their values change.
func checkRedrawnPerTick(t *testing.T, b *browser, before []inViewCard) {
	// Tick by tick, the charts in view are redrawn and values change.
	for range 3 {
		seq := eval[int](b, `dashboard.client.seq`)
		b.waitFor("the next tick", fmt.Sprintf(`dashboard.client.seq > %d`, seq))
		b.waitFor("the charts redrawn at it", jsAllDrawn)
	}
	after := eval[[]inViewCard](b, jsInViewCards)
	changed := 0
	for i := range min(len(before), len(after)) {
		require.Greater(t, after[i].Seq, before[i].Seq, after[i].Key)
		if after[i].Key == before[i].Key && after[i].Value != before[i].Value {
			changed++
		}
	}
	require.Positive(t, changed, "values changed over three ticks")
}

// checkPageFilter checks the filter on the page: substrings of the key,
// globs and label matches, kept in the address bar.
func checkPageFilter(t *testing.T, b *browser) {
	// The filter, on the page: substrings of the key, and globs.
	require.NoError(t, chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS("#filter"), "site_active")))
	b.waitFor("only the active-users chart", jsDashShown+` === 1 && document.querySelector("#grid .card:not([hidden])").dataset.chart === "site_active_users"`)
	require.Contains(t, eval[string](b, `document.getElementById("count").textContent`), " of ")
	b.waitFor("the filter in the address bar", `new URLSearchParams(location.search).get("q") === "site_active"`)

	requests := `dashboard.chart("http_requests_total")`
	eval[chromedp.Void](b, `dashboard.setFilter("go_gc_*_bytes page=\"shop\"")`)
	want := eval[int](b, `[...dashboard.client.state.series.values()].filter((s) => /^go_gc_.*_bytes$/i.test(s.name) || s.key.toLowerCase().includes('page="shop"')).length`)
	total := eval[int](b, `dashboard.client.state.series.size`)
	require.Greater(t, want, 5)
	b.waitFor("glob and label matches", fmt.Sprintf(`document.getElementById("count").textContent === "%d of %d series"`, want, total))
	require.Equal(t, []string{`http_requests_total{page="shop"}`}, eval[[]string](b, requests+`.shownLines().map((l) => l.key)`), "a family shows the lines that match")
	b.waitFor("their charts drawn", jsAllDrawn)
	b.waitFor("byte figures", `[...document.querySelectorAll("#grid .card:not([hidden]) .unit, #grid .card:not([hidden]) .lval")].some((el) => /(B|KiB|MiB|GiB)$/.test(el.textContent))`)
	b.saveViewport(filepath.Join(screenshotDir(t), "dashboard-filtered.png"))
}

// checkServerFilter checks the filter on the server: it becomes the
// subscription, and clearing it brings everything back.
func checkServerFilter(t *testing.T, b *browser) {
	// On the server: the filter becomes the subscription.
	eval[chromedp.Void](b, `dashboard.setFilter("site_active")`)
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#server-filter"))))
	b.waitFor("the subscription to follow the filter", `dashboard.client.patterns.join() === "*site_active*"`)
	b.waitFor("only those series streamed", `dashboard.client.state.series.size > 0 && [...dashboard.client.state.series.keys()].every((k) => k.startsWith("site_active"))`)
	b.waitFor("only their chart", jsEverySeries+` && `+jsDashCards+` === 1 && `+jsDashShown+` === 1`)
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#server-filter"))))
	eval[chromedp.Void](b, `dashboard.setFilter("")`)
	b.waitFor("everything again", `dashboard.client.patterns.join() === "*" && dashboard.client.state.series.size > 50 && `+jsEverySeries+` && `+jsDashShown+` === `+jsDashCards)
	b.waitFor("all drawn", jsAllDrawn)
}

// checkPause checks that pause freezes the charts and resume brings them
// up to date.
func checkPause(t *testing.T, b *browser) {
	// Pause freezes the charts; resume brings them up to date.
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#pause"))))
	require.Equal(t, "true", eval[string](b, `document.body.dataset.paused`))
	// A draw the last tick before the click queued (requestAnimationFrame)
	// draws the paused state: read what is frozen once it has run.
	frozen := evalAsync[int](b, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(Number(document.querySelector("#grid .card").dataset.seq)))))`)
	seq := eval[int](b, `dashboard.client.seq`)
	b.waitFor("ticks while paused", fmt.Sprintf(`dashboard.client.seq >= %d`, seq+3))
	require.Equal(t, frozen, eval[int](b, `Number(document.querySelector("#grid .card").dataset.seq)`), "drawn while paused")
	require.Equal(t, "Resume", eval[string](b, `document.getElementById("pause").textContent`))
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#pause"))))
	b.waitFor("the charts to catch up", fmt.Sprintf(`Number(document.querySelector("#grid .card").dataset.seq) > %d`, seq+2))
}

// checkReconnect stops srv and starts a new demo on its address: the
// status says so, and the page resumes on a fresh snapshot. It returns the
// new demo.
func checkReconnect(t *testing.T, b *browser, srv *demo) *demo {
	// The server goes away and comes back: the status says so, and the
	// page resumes on a fresh snapshot.
	connects := eval[int](b, `Number(document.getElementById("status").dataset.connects)`)
	srv.stop()
	b.waitFor("the status to show reconnecting", jsDashState+` === "reconnecting"`)
	require.Contains(t, eval[string](b, `document.getElementById("status-text").textContent`), "reconnecting in")
	srv2 := startDemo(t, srv.addr)
	b.waitFor("live on the new server", fmt.Sprintf(`%s === "live" && Number(document.getElementById("status").dataset.connects) > %d`, jsDashState, connects))
	b.waitFor("every series charted again", jsEverySeries)
	b.waitFor("drawn again", jsAllDrawn)
	return srv2
}

// darkAndPhone checks the page in dark mode and at a phone's width, and
// saves a screenshot of each in dir (dashboard-dark.png, dashboard-phone.png).
func darkAndPhone(t *testing.T, b *browser, dir string) {
	b.colorScheme("dark")
	b.waitFor("dark colors", `getComputedStyle(document.body).backgroundColor !== "rgb(244, 246, 249)"`)
	seq := eval[int](b, `dashboard.client.seq`)
	b.waitFor("a tick drawn in dark", fmt.Sprintf(`dashboard.client.seq > %d && %s`, seq, jsAllDrawn))
	require.Equal(t, eval[string](b, `getComputedStyle(document.documentElement).getPropertyValue("--card").trim()`),
		eval[string](b, `(() => { const c = document.querySelector("#grid .card canvas"); const d = c.getContext("2d").getImageData(c.width - 1, 0, 1, 1).data;
			return "#" + [...d.slice(0, 3)].map((x) => x.toString(16).padStart(2, "0")).join(""); })()`), "the charts drawn in the dark card color")
	b.saveViewport(filepath.Join(dir, "dashboard-dark.png"))
	b.colorScheme("light")
	b.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.waitFor("one column on a phone", `(() => { const cs = [...document.querySelectorAll("#grid .card")].slice(0, 2).map((el) => el.getBoundingClientRect());
		return cs.length === 2 && cs[0].left === cs[1].left && cs[0].width <= innerWidth && document.documentElement.scrollWidth <= innerWidth; })()`)
	seq = eval[int](b, `dashboard.client.seq`)
	b.waitFor("a tick drawn on the phone", fmt.Sprintf(`dashboard.client.seq > %d && %s`, seq, jsAllDrawn))
	b.saveViewport(filepath.Join(dir, "dashboard-phone.png"))
	b.run(chromedp.EmulateViewport(1280, 900))
}

// docsScreenshot writes docs/dashboard.png, docs/dashboard-dark.png and
// docs/dashboard-phone.png: the demo at its default 1 s tick, after two
// minutes, so that the charts are full and the rates those of a real
// service; 1280x900 light, the same dark, and a phone.
func docsScreenshot(t *testing.T, b *browser) {
	const (
		interval = time.Second
		ticks    = 120
	)
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", interval, func(u string) { urls <- u }) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	var u string
	select {
	case u = <-urls:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	b.run(chromedp.EmulateViewport(1280, 900))
	b.navigate(u + "dashboard/")
	t.Logf("docs screenshot: waiting %d ticks of %v for full charts", ticks, interval)
	b.waitForLong("two minutes of history", fmt.Sprintf(`%s === "live" && dashboard.client.seq >= %d`, jsDashState, ticks), ticks*interval+waitLimit)
	seq := eval[int](b, `dashboard.client.seq`)
	b.waitFor("a fresh tick drawn", fmt.Sprintf(`dashboard.client.seq > %d && %s`, seq, jsAllDrawn))
	docs := filepath.Join("..", "..", "docs")
	b.saveViewport(filepath.Join(docs, "dashboard.png"))
	darkAndPhone(t, b, docs)
	b.navigate("about:blank")
}

// waitForLong is waitFor with another time limit.
func (b *browser) waitForLong(what, expr string, limit time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")",
		chromedp.WithPollingTimeout(limit), chromedp.WithPollingInterval(100*time.Millisecond)))
	require.NoError(b.t, err, "waiting for %s (%s)", what, expr)
}

// TestDashboardSmoothness measures the dashboard's drawing with 200 series
// changing every tick: 150 gauges and 50 counters, on a Hub ticking every
// 50 ms (20 updates a second, twenty times a 1 s Hub's load), with 300
// points of history per chart. It logs the time spent drawing per animation
// frame, first in a 1280x900 viewport (only the charts in view are drawn),
// then in a viewport tall enough for all 200. It asserts only a generous
// sanity bound: the figures are for the record, not a benchmark gate.
func TestDashboardSmoothness(t *testing.T) {
	const (
		nSeries  = 200
		counters = 50
		interval = 50 * time.Millisecond
		points   = 300
		measure  = 60 // ticks per phase
	)
	hub := newLoadHub(t, nSeries, counters, interval, points)
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", pulse.Dashboard(hub, pulse.DashboardTitle("200 series")))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := newBrowser(t) // after the server: its cleanup runs first

	b.run(chromedp.EmulateViewport(1280, 900))
	b.navigate(srv.URL + "/dashboard/")
	b.waitFor("live", jsDashState+` === "live"`)
	b.waitFor("200 cards", fmt.Sprintf(`%s === %d`, jsDashCards, nSeries))
	b.waitFor("full charts", fmt.Sprintf(`Math.min(...[...document.querySelectorAll("#grid .card")].slice(0, 8).map((el) => Number(el.dataset.points || 0))) >= %d`, points-10))

	visible := measureFrames(t, b, "1280x900 viewport", measure, nSeries)
	require.Less(t, visible.InView, nSeries/2, "only the cards in view (and a margin) are observed in view")
	require.LessOrEqual(t, slices.Max(visible.Charts), visible.InView, "only the charts in view are drawn")

	// Every card in view: a viewport as tall as the grid.
	height := eval[int](b, `Math.ceil(document.documentElement.scrollHeight) + 100`)
	t.Logf("all 200 in view: a viewport of 1280x%d; a card is %v px high", height, eval[float64](b, `document.querySelector("#grid .card").getBoundingClientRect().height`))
	b.run(chromedp.EmulateViewport(1280, int64(height)))
	b.waitFor("every card in view", fmt.Sprintf(`dashboard.inView === %d`, nSeries))
	all := measureFrames(t, b, "all 200 in view", measure, nSeries)
	require.Equal(t, nSeries, slices.Max(all.Charts), "every chart drawn in one frame")
	b.noPageErrors()
}

// newLoadHub returns a Hub ticking every interval with points of history,
// with one source of n series that all change every tick: the first
// counters of them counters, the rest gauges. The test closes it.
func newLoadHub(t *testing.T, n, counters int, interval time.Duration, points int) *pulse.Hub {
	hub, err := pulse.NewHub(pulse.Options{Interval: interval, History: points})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	units := []string{"bytes", "seconds", "requests", ""}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = 100 + rng.Float64()*1000
	}
	require.NoError(t, hub.Register(pulse.SourceFunc(func(context.Context) ([]pulse.Metric, error) {
		mu.Lock()
		defer mu.Unlock()
		ms := make([]pulse.Metric, n)
		for i := range ms {
			m := pulse.Metric{Name: fmt.Sprintf("load_series_%03d", i), Unit: units[i%len(units)], Labels: pulse.Labels{"shard": strconv.Itoa(i % 8)}}
			if i < counters {
				vals[i] += rng.Float64() * 50
				m.Name += "_total"
				m.Kind = pulse.KindCounter
			} else {
				vals[i] = math.Max(0, vals[i]+(rng.Float64()-0.5)*40)
			}
			m.Value = vals[i]
			ms[i] = m
		}
		return ms, nil
	}), pulse.SourceOptions{Name: "load"}))
	return hub
}

// frameFigures are the dashboard's drawing figures over a phase of
// measureFrames (dashboard.perf).
type frameFigures struct {
	Frames   []float64 // ms drawing, per frame that drew
	Charts   []int     // charts drawn in that frame
	Rendered []float64 // ms from that frame's start until rendered
	Updates  []float64 // ms handling a message
	Long     int       // main-thread tasks over 50 ms
	LongMs   float64
	Ticks    int
	InView   int
	Duration float64
}

// measureFrames measures the dashboard's drawing over ticks ticks, logs the
// figures of the phase and checks a very generous sanity bound on them.
func measureFrames(t *testing.T, b *browser, phase string, ticks, nSeries int) frameFigures {
	t.Helper()
	b.waitFor("the charts in view drawn", jsAllDrawn)
	eval[chromedp.Void](b, `dashboard.perf.reset(); window.__t0 = performance.now(); window.__seq0 = dashboard.client.seq`)
	seq := eval[int](b, `dashboard.client.seq`)
	b.waitFor(fmt.Sprintf("%d ticks", ticks), fmt.Sprintf(`dashboard.client.seq >= %d`, seq+ticks))
	f := eval[frameFigures](b, `({ frames: dashboard.perf.frames, charts: dashboard.perf.charts, rendered: dashboard.perf.rendered,
		updates: dashboard.perf.updates, long: dashboard.perf.longTasks, longMs: dashboard.perf.longTaskMs,
		ticks: dashboard.client.seq - window.__seq0, inView: dashboard.inView, duration: performance.now() - window.__t0 })`)
	require.NotEmpty(t, f.Frames, "%s: frames drawn", phase)
	require.NotEmpty(t, f.Rendered, "%s: frames rendered", phase)
	over := func(ms []float64) float64 {
		n := 0
		for _, v := range ms {
			if v > 16 {
				n++
			}
		}
		return 100 * float64(n) / float64(len(ms))
	}
	secs := f.Duration / 1000
	t.Logf("%s: %d series, %d ticks in %.1f s (%.1f/s), %d charts in view, %d frames drew (%.1f/s), charts per frame p50 %d max %d",
		phase, nSeries, f.Ticks, secs, float64(f.Ticks)/secs, f.InView, len(f.Frames), float64(len(f.Frames))/secs,
		quantile(f.Charts, 0.5), slices.Max(f.Charts))
	t.Logf("%s: drawing (dashboard.js) ms per frame p50 %.1f p99 %.1f max %.1f, over 16 ms %.0f%%",
		phase, quantile(f.Frames, 0.5), quantile(f.Frames, 0.99), slices.Max(f.Frames), over(f.Frames))
	t.Logf("%s: whole frame (drawing, style, layout, paint, raster, commit) ms p50 %.1f p99 %.1f max %.1f, over 16 ms %.0f%%",
		phase, quantile(f.Rendered, 0.5), quantile(f.Rendered, 0.99), slices.Max(f.Rendered), over(f.Rendered))
	t.Logf("%s: message handling ms p50 %.2f p99 %.2f; main-thread tasks over 50 ms: %d (%.0f ms, %.0f%% of the time)",
		phase, quantile(f.Updates, 0.5), quantile(f.Updates, 0.99), f.Long, f.LongMs, f.LongMs/f.Duration*100)
	// A very generous sanity bound, not a speed requirement.
	require.Less(t, quantile(f.Frames, 0.5), 250.0, "%s: median drawing time per frame", phase)
	return f
}

// quantile returns the q-quantile (nearest rank) of xs, which it does not
// change.
func quantile[T int | float64](xs []T, q float64) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
