package main

// Browser tests of pulse.Dashboard's charts against a Hub of known series
// (shopSource): families, histograms, constant series, units, hover, the
// legend, zoom, CSV and PNG export, time ranges, keyboard use and pins.
// The conventions are those of browser_test.go.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coder/websocket"
	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

// shopSource is a source of known series, moving every tick n:
//
//	shop_requests_total{path="/a"|"/b"|"/c"}  counters, +1, +2, +3 per tick
//	shop_queue_depth{queue="q00".."q11"}      gauges, 10*(k+1) + n%7: twelve lines
//	shop_latency_seconds{quantile=...}        p50/p90/p99 gauges, with _sum (+0.1) and _count (+2)
//	shop_limit_bytes                          math.MaxInt64: constant, 8 EiB
//	shop_build_info{version="1.2.3"}          1: constant
//	shop_inflight (unit requests)             1: constant, "1 request"
type shopSource struct {
	mu sync.Mutex
	n  int
}

const shopQueues = 12

func (s *shopSource) Collect(context.Context) ([]pulse.Metric, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	n := float64(s.n)
	ms := []pulse.Metric{
		{Name: "shop_limit_bytes", Value: math.MaxInt64, Unit: "bytes", Help: "The memory limit"},
		{Name: "shop_build_info", Labels: pulse.Labels{"version": "1.2.3"}, Value: 1, Help: "The build"},
		{Name: "shop_inflight", Value: 1, Unit: "requests", Help: "Requests in flight"},
		{Name: "shop_latency_seconds_sum", Kind: pulse.KindCounter, Value: 0.1 * n, Help: "Latency"},
		{Name: "shop_latency_seconds_count", Kind: pulse.KindCounter, Value: 2 * n, Help: "Latency"},
	}
	for i, p := range []string{"/a", "/b", "/c"} {
		ms = append(ms, pulse.Metric{Name: "shop_requests_total", Labels: pulse.Labels{"path": p}, Kind: pulse.KindCounter,
			Value: float64(i+1) * n, Help: "Requests served"})
	}
	for k := range shopQueues {
		ms = append(ms, pulse.Metric{Name: "shop_queue_depth", Labels: pulse.Labels{"queue": fmt.Sprintf("q%02d", k)},
			Value: float64(10*(k+1) + s.n%7), Unit: "jobs", Help: "Jobs waiting"})
	}
	for i, q := range []string{"0.5", "0.9", "0.99"} {
		ms = append(ms, pulse.Metric{Name: "shop_latency_seconds", Labels: pulse.Labels{"quantile": q},
			Value: 0.01 * float64(i+1) * (1 + float64(s.n%5)/10), Help: "Latency"})
	}
	return ms, nil
}

// shopHub serves a Hub of shopSource and its dashboard at /dashboard/:
// a 100 ms tick and 3,000 points (5 minutes) of history.
func shopHub(t *testing.T) (*pulse.Hub, string) {
	t.Helper()
	return shopHubWith(t, pulse.Options{Interval: 100 * time.Millisecond, History: 3000})
}

// shopHubWith is shopHub with other Options.
func shopHubWith(t *testing.T, opts pulse.Options) (*pulse.Hub, string) {
	t.Helper()
	hub, err := pulse.NewHub(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	require.NoError(t, hub.Register(&shopSource{}, pulse.SourceOptions{Name: "shop"}))
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", pulse.Dashboard(hub, pulse.DashboardTitle("shop")))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return hub, srv.URL + "/dashboard/"
}

// hubHistory is the Hub's history as a new client gets it: the history
// message that follows the connect snapshot, read over a WebSocket.
type hubHistory struct {
	Times  []int64
	Values map[string][]json.RawMessage
	Rates  map[string][]json.RawMessage
}

func readHubHistory(t *testing.T, dashboardURL, match string) hubHistory {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	u := "ws" + strings.TrimPrefix(dashboardURL, "http") + "stream?match=" + match
	conn, _, err := websocket.Dial(ctx, u, nil)
	require.NoError(t, err)
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 20)
	for {
		_, msg, err := conn.Read(ctx)
		require.NoError(t, err)
		var typ struct{ Type string }
		require.NoError(t, json.Unmarshal(msg, &typ))
		if typ.Type == "history" {
			var h hubHistory
			require.NoError(t, json.Unmarshal(msg, &h))
			return h
		}
	}
}

// at returns the series' value (or rate) at time ts, as the Hub sent it.
func (h hubHistory) at(t *testing.T, rates bool, key string, ts int64) (float64, bool) {
	t.Helper()
	i := slices.Index(h.Times, ts)
	require.GreaterOrEqual(t, i, 0, "time %d in the Hub's history", ts)
	col := h.Values[key]
	if rates {
		col = h.Rates[key]
	}
	require.NotNil(t, col, "%s in the Hub's history", key)
	return wireNumber(t, col[i])
}

func wireNumber(t *testing.T, raw json.RawMessage) (float64, bool) {
	t.Helper()
	switch s := string(raw); s {
	case "null":
		return 0, false
	case `"NaN"`:
		return math.NaN(), true
	case `"+Inf"`:
		return math.Inf(1), true
	case `"-Inf"`:
		return math.Inf(-1), true
	default:
		v, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err)
		return v, true
	}
}

// downloads collects the files the page downloads, into a directory.
type downloads struct {
	dir   string
	mu    sync.Mutex
	names map[string]string // guid -> suggested file name
	done  chan [2]string    // suggested name, path
}

func (b *browser) enableDownloads() *downloads {
	b.t.Helper()
	eventsOn := true
	d := &downloads{dir: b.t.TempDir(), names: map[string]string{}, done: make(chan [2]string, 16)}
	require.NoError(b.t, chromedp.Listen(b.ctx, func(ev any) {
		d.mu.Lock()
		defer d.mu.Unlock()
		switch ev := ev.(type) {
		case *cdpbrowser.EventDownloadWillBegin:
			d.names[ev.GUID] = ev.SuggestedFilename
		case *cdpbrowser.EventDownloadProgress:
			if ev.State == cdpbrowser.DownloadProgressStateCompleted {
				select {
				case d.done <- [2]string{d.names[ev.GUID], filepath.Join(d.dir, ev.GUID)}:
				default:
				}
			}
		}
	}))
	b.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: d.dir, EventsEnabled: &eventsOn,
		})
		return err
	}))
	return d
}

// next waits for the next completed download: its suggested name and content.
func (d *downloads) next(t *testing.T) (string, []byte) {
	t.Helper()
	select {
	case f := <-d.done:
		body, err := os.ReadFile(f[1])
		require.NoError(t, err)
		return f[0], body
	case <-time.After(waitLimit):
		t.Fatal("no download")
		return "", nil
	}
}

// rect is an element's box in CSS px of the viewport.
type rect struct{ Left, Top, Width, Height float64 }

const jsChart = `dashboard.chart(%q)`

func chartRect(b *browser, id string) rect {
	b.t.Helper()
	return eval[rect](b, fmt.Sprintf(`(() => { const c = %s.canvas; c.scrollIntoView({ block: "center" });
		const r = c.getBoundingClientRect(); return { left: r.left, top: r.top, width: r.width, height: r.height }; })()`,
		fmt.Sprintf(jsChart, id)))
}

// plotX is the x in the viewport at fraction f of a chart's plot area (right of its 46 px gutter).
func (r rect) plotX(f float64) float64 { return r.Left + 46 + f*(r.Width-46) }

func (b *browser) click(sel string) {
	b.t.Helper()
	b.run(chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) keys(k string) {
	b.t.Helper()
	b.run(chromedp.KeyEvent(k))
}

// TestDashboardCharts checks the charts of known series in Chromium.
func TestDashboardCharts(t *testing.T) {
	hub, base := shopHub(t)
	b := newBrowser(t) // after the server: its cleanup runs first
	dl := b.enableDownloads()
	b.run(chromedp.EmulateViewport(1280, 1000))
	b.navigate(base)
	b.waitFor("live", jsDashState+` === "live"`)
	b.waitFor("60 ticks", `dashboard.client.seq >= 60`)

	// One browser for all: steps, not subtests (the browser's helpers fail the test that made it).
	testFamilies(t, b)
	testFormat(t, b)
	testHover(t, b, base)
	testLegend(t, b)
	testZoomCSV(t, b, base, dl)
	testPNG(t, b, dl)
	testRanges(t, b, hub)
	testKeyboard(t, b)
	testPins(t, b)
	b.noPageErrors()
}

// testFamilies: a chart per family with a line per label set, a
// histogram's quantiles and average in one chart, the top eight of twelve
// lines, and constant series in the list.
func testFamilies(t *testing.T, b *browser) {
	legend := func(id string) []string {
		return eval[[]string](b, fmt.Sprintf(`[...%s.el.querySelectorAll(".legend .item")].map((el) => el.dataset.line)`, fmt.Sprintf(jsChart, id)))
	}
	labels := func(id string) []string {
		return eval[[]string](b, fmt.Sprintf(`[...%s.el.querySelectorAll(".legend .item .lname")].map((el) => el.textContent)`, fmt.Sprintf(jsChart, id)))
	}
	b.waitFor("the requests chart drawn", fmt.Sprintf(`%s?.el.dataset.lines === "3"`, fmt.Sprintf(jsChart, "shop_requests_total")))
	want := eval[[]string](b, `[...dashboard.client.state.series.values()].filter((s) => s.name === "shop_requests_total").map((s) => s.key).sort()`)
	require.Equal(t, []string{`shop_requests_total{path="/a"}`, `shop_requests_total{path="/b"}`, `shop_requests_total{path="/c"}`}, want)
	require.Equal(t, want, legend("shop_requests_total"), "a line per label set")
	require.Equal(t, []string{"/a", "/b", "/c"}, labels("shop_requests_total"))
	require.Equal(t, 1, eval[int](b, `document.querySelectorAll('#grid .card[data-chart="shop_requests_total"]').length`), "one chart for the family")

	require.Equal(t, []string{"p50", "p90", "p99", "avg"}, labels("shop_latency_seconds"), "quantiles and the average in one chart")
	b.waitFor("the average: Δsum/Δcount = 0.1/2", fmt.Sprintf(`%s.legendVals.get("avg(shop_latency_seconds)").textContent === "50 ms"`, fmt.Sprintf(jsChart, "shop_latency_seconds")))

	queues := legend("shop_queue_depth")
	require.Len(t, queues, 8, "the top eight of twelve")
	for k := 4; k < shopQueues; k++ {
		require.Contains(t, queues, fmt.Sprintf(`shop_queue_depth{queue="q%02d"}`, k), "the largest")
	}
	b.click(`[data-chart="shop_queue_depth"] .legend .all`)
	require.Len(t, legend("shop_queue_depth"), shopQueues, "show all")
	b.waitFor("all twelve drawn", fmt.Sprintf(`%s.el.dataset.lines === "12"`, fmt.Sprintf(jsChart, "shop_queue_depth")))
	b.click(`[data-chart="shop_queue_depth"] .legend .all`)
	require.Len(t, legend("shop_queue_depth"), 8)

	// Constant series: a row each in the list, not a chart.
	row := func(key string) string { return constRow(key) + `?.querySelector(".cval").textContent` }
	b.waitFor("the constant series listed", row("shop_limit_bytes")+` === "8 EiB"`)
	require.Equal(t, "1", eval[string](b, row(`shop_build_info{version="1.2.3"}`)))
	require.Equal(t, "1 request", eval[string](b, row("shop_inflight")), "singular")
	require.Zero(t, eval[int](b, `document.querySelectorAll('#grid .card[data-chart="shop_limit_bytes"], #grid .card[data-chart="shop_inflight"]').length`))
	require.Equal(t, 3, eval[int](b, `document.querySelectorAll("#constants .const").length`))

	// Help on demand: over the chart, closed by Escape.
	help := `document.querySelector('[data-chart="shop_requests_total"] .help')`
	require.True(t, eval[bool](b, help+`.hidden`))
	b.click(`[data-chart="shop_requests_total"] .info`)
	require.False(t, eval[bool](b, help+`.hidden`))
	require.Equal(t, "true", eval[string](b, `document.querySelector('[data-chart="shop_requests_total"] .info').getAttribute("aria-expanded")`))
	require.Contains(t, eval[string](b, help+`.textContent`), "Requests served")
	require.Contains(t, eval[string](b, help+`.textContent`), `shop_requests_total{path="/b"}`)
	b.keys(kb.Escape)
	require.True(t, eval[bool](b, help+`.hidden`))
	require.Equal(t, "icon info", eval[string](b, `document.activeElement.className`), "the focus back on its button")
}

// constRow is the expression of the constant list's row of a series.
func constRow(key string) string {
	return fmt.Sprintf(`document.querySelector('#constants .const[data-key="' + CSS.escape(%s) + '"]')`, strconv.Quote(key))
}

// testFormat checks format.js in the page: units, plurals, rates.
func testFormat(t *testing.T, b *browser) {
	type tc struct {
		V    float64
		Unit string
		Rate bool
		Want string
	}
	cases := []tc{
		{1, "requests", false, "1 request"},
		{2, "requests", false, "2 requests"},
		{0, "requests", false, "0 requests"},
		{1, "requests", true, "1 request/s"},
		{12.5, "requests", true, "12.5 requests/s"},
		{2500, "requests", false, "2.5k requests"},
		{1, "series", false, "1 series"},
		{1, "gc cycles", false, "1 gc cycle"},
		{3, "entries", false, "3 entries"},
		{1, "entries", false, "1 entry"},
		{1, "processes", false, "1 process"},
		{0.25, "seconds", true, "0.25 s/s"},
		{2, "seconds", true, "2 s/s"},
		{0.0285, "seconds", false, "28.5 ms"},
		{1536, "bytes", false, "1.5 KiB"},
		{math.MaxInt64, "bytes", false, "8 EiB"},
		{1048576, "bytes", true, "1 MiB/s"},
		{0.45, "ratio", false, "45%"},
		{7, "", true, "7/s"},
		{1234567, "", false, "1.23M"},
		{8.5e-7, "seconds", true, "0.00000085 s/s"},
		{0.000123, "", false, "0.00012"},
	}
	got := evalAsync[[]string](b, fmt.Sprintf(`import(new URL("format.js", location.href)).then((f) => %s.map((c) => f.text(c.v, c.unit, c.rate)))`, mustJSON(t, cases)))
	for i, c := range cases {
		require.Equal(t, c.Want, got[i], "%v %q rate=%v", c.V, c.Unit, c.Rate)
	}
	units := evalAsync[[]string](b, `import(new URL("format.js", location.href)).then((f) => [
		f.unitOf({ name: "x_requests_total", kind: "counter" }), f.unitOf({ name: "x_seconds_sum", kind: "counter" }),
		f.unitOf({ name: "x", unit: "cpu-seconds" }), f.unitOf({ name: "x", unit: "gc-cycles" }), f.unitOf({ name: "x_bytes" })])`)
	require.Equal(t, []string{"requests", "seconds", "seconds", "gc cycles", "bytes"}, units)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	// Go's field names, as JSON keys in lower case for the page.
	return strings.NewReplacer(`"V":`, `"v":`, `"Unit":`, `"unit":`, `"Rate":`, `"rate":`, `"Want":`, `"want":`).Replace(string(b))
}

// evalAsync evaluates an expression that gives a Promise, into a T.
func evalAsync[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, "evaluating %s", expr)
	return v
}

type tipRow struct {
	Line, Value, Text string
}

const jsTipRows = `[...document.querySelectorAll("#tip .trow")].map((el) => ({ line: el.dataset.line, value: el.dataset.value, text: el.querySelector(".tval").textContent }))`

// testHover: the crosshair's tooltip shows the tick's time and each line's
// value, the Hub's own.
func testHover(t *testing.T, b *browser, base string) {
	const id = "shop_requests_total"
	r := chartRect(b, id)
	b.run(chromedp.MouseEvent("mouseMoved", r.plotX(0.7), r.Top+r.Height/2))
	b.waitFor("the tooltip", `!document.getElementById("tip").hidden && document.querySelectorAll("#tip .trow").length === 3`)
	ts := int64(eval[float64](b, `Number(document.getElementById("tip").dataset.time)`))
	require.Equal(t, float64(ts), eval[float64](b, fmt.Sprintf(`%s.drawn.result.hover.t`, fmt.Sprintf(jsChart, id))), "the crosshair's tick")
	require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$`, eval[string](b, `document.querySelector("#tip .ttime").textContent`), "the exact time")
	rows := eval[[]tipRow](b, jsTipRows)
	h := readHubHistory(t, base, "shop_requests_total")
	for _, row := range rows {
		want, ok := h.at(t, true, row.Line, ts)
		require.True(t, ok, "%s has a rate at %d", row.Line, ts)
		require.Equal(t, strconv.FormatFloat(want, 'g', -1, 64), formatJS(t, row.Value), "%s at %d", row.Line, ts)
		require.Regexp(t, `^[\d.]+k? requests?/s$`, row.Text, row.Line)
	}
	require.Equal(t, `shop_requests_total{path="/c"}`, rows[0].Line, "largest first")
	b.run(chromedp.MouseEvent("mouseMoved", 5, 5))
	b.waitFor("the tooltip gone", `document.getElementById("tip").hidden`)

	// Paused, the charts hold still and still answer the pointer.
	b.keys("p")
	end := eval[float64](b, `dashboard.window().t1`)
	seq := eval[int](b, `dashboard.client.seq`)
	b.waitFor("ticks while paused", fmt.Sprintf(`dashboard.client.seq >= %d`, seq+3))
	require.Equal(t, end, eval[float64](b, `dashboard.window().t1`), "the window holds still")
	b.run(chromedp.MouseEvent("mouseMoved", r.plotX(0.99), r.Top+r.Height/2))
	b.waitFor("the tooltip while paused", `!document.getElementById("tip").hidden`)
	require.LessOrEqual(t, eval[float64](b, `Number(document.getElementById("tip").dataset.time)`), end, "no tick after the pause")
	b.run(chromedp.MouseEvent("mouseMoved", 5, 5))
	b.keys("p")
	b.waitFor("moving again", fmt.Sprintf(`dashboard.window().t1 > %v`, end))
}

// formatJS reads a number the page wrote with String(v) as Go writes it.
func formatJS(t *testing.T, s string) string {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err, s)
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// inked counts a canvas's pixels near a color (CSS hex).
func inked(b *browser, id, color string) int {
	return eval[int](b, fmt.Sprintf(`(() => { const c = %s.canvas; const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		const h = %q, r = parseInt(h.slice(1, 3), 16), g = parseInt(h.slice(3, 5), 16), bl = parseInt(h.slice(5, 7), 16);
		let n = 0; for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - bl) < 60) n++;
		return n; })()`, fmt.Sprintf(jsChart, id), color))
}

// testLegend: a legend item hides and shows its line.
func testLegend(t *testing.T, b *browser) {
	const id = "shop_requests_total"
	color := eval[string](b, `getComputedStyle(document.documentElement).getPropertyValue("--c1").trim()`) // the second line's
	item := `[data-chart="shop_requests_total"] .legend .item[data-line='shop_requests_total{path="/b"}']`
	chartRect(b, id)
	b.waitFor("the /b line drawn", fmt.Sprintf(`%s.drawn.lines.length === 3`, fmt.Sprintf(jsChart, id)))
	require.Greater(t, inked(b, id, color), 20, "pixels of the /b line")
	b.click(item)
	require.Equal(t, "false", eval[string](b, fmt.Sprintf(`document.querySelector(%q).getAttribute("aria-pressed")`, item)))
	b.waitFor("/b not drawn", fmt.Sprintf(`%s.drawn.lines.map((l) => l.line.id).join() === 'shop_requests_total{path="/a"},shop_requests_total{path="/c"}'`, fmt.Sprintf(jsChart, id)))
	require.Zero(t, inked(b, id, color), "no pixel of the /b line")
	b.click(item)
	b.waitFor("/b drawn again", fmt.Sprintf(`%s.drawn.lines.length === 3`, fmt.Sprintf(jsChart, id)))
	require.Greater(t, inked(b, id, color), 20)
}

// testZoomCSV: dragging across a chart zooms every chart; the CSV of the
// zoomed window is the Hub's points of it; double-click resets.
func testZoomCSV(t *testing.T, b *browser, base string, dl *downloads) {
	const id = "shop_requests_total"
	r := chartRect(b, id)
	y := r.Top + r.Height/2
	b.run(chromedp.DragAndDropXY(r.plotX(0.3), y, r.plotX(0.6), y))
	b.waitFor("zoomed", `dashboard.zoom !== null && document.body.dataset.zoomed === "true" && !document.getElementById("zoomed").hidden`)
	zoom := eval[struct{ T0, T1 float64 }](b, `dashboard.zoom`)
	require.Greater(t, zoom.T1-zoom.T0, 1000.0, "a window of some ticks")
	q := eval[map[string]string](b, `Object.fromEntries(new URLSearchParams(location.search))`)
	require.Equal(t, strconv.FormatFloat(math.Round(zoom.T0), 'f', -1, 64), q["from"], "the zoom in the address")
	require.Equal(t, strconv.FormatFloat(math.Round(zoom.T1), 'f', -1, 64), q["to"])
	b.waitFor("every chart in view drawn over the zoom", `[...dashboard.cards.values()].filter((c) => c.drawn && !c.el.hidden && c.el.getBoundingClientRect().bottom > 0 && c.el.getBoundingClientRect().top < innerHeight)
		.every((c) => c.drawn.win.t0 === dashboard.zoom.t0 && c.drawn.win.t1 === dashboard.zoom.t1)`)

	b.click(`[data-chart="shop_requests_total"] .more`)
	b.click(`[data-chart="shop_requests_total"] .actions .csv`)
	name, body := dl.next(t)
	require.True(t, eval[bool](b, `document.querySelector('[data-chart="shop_requests_total"] .actions').hidden`), "the menu closed")
	require.Regexp(t, `^shop_requests_total-\d{8}T\d{6}Z\.csv$`, name)
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"time", "unix_ms", `rate(shop_requests_total{path="/a"})`, `rate(shop_requests_total{path="/b"})`, `rate(shop_requests_total{path="/c"})`}, recs[0])

	h := readHubHistory(t, base, "shop_requests_total")
	var want []int64
	for _, ts := range h.Times {
		if float64(ts) >= zoom.T0 && float64(ts) <= zoom.T1 {
			want = append(want, ts)
		}
	}
	require.Len(t, recs[1:], len(want), "a row per tick of the Hub in the window")
	for i, rec := range recs[1:] {
		ts, err := strconv.ParseInt(rec[1], 10, 64)
		require.NoError(t, err)
		require.Equal(t, want[i], ts, "row %d", i)
		when, err := time.Parse(time.RFC3339Nano, rec[0])
		require.NoError(t, err)
		require.Equal(t, ts, when.UnixMilli())
		for j, key := range []string{`shop_requests_total{path="/a"}`, `shop_requests_total{path="/b"}`, `shop_requests_total{path="/c"}`} {
			v, ok := h.at(t, true, key, ts)
			if !ok {
				require.Empty(t, rec[2+j], "%s at %d: no point", key, ts)
				continue
			}
			require.Equal(t, strconv.FormatFloat(v, 'g', -1, 64), formatJS(t, rec[2+j]), "%s at %d", key, ts)
		}
	}

	// The zoom is in the address: a reload keeps it.
	b.run(chromedp.Reload())
	b.waitFor("live again", jsDashState+` === "live"`)
	require.Equal(t, []float64{math.Round(zoom.T0), math.Round(zoom.T1)}, eval[[]float64](b, `[dashboard.zoom.t0, dashboard.zoom.t1]`))
	b.waitFor("drawn over the zoom", fmt.Sprintf(`%s?.drawn?.win.t0 === dashboard.zoom.t0`, fmt.Sprintf(jsChart, id)))

	b.run(chromedp.DoubleClick(chromedp.CSS(`[data-chart="shop_requests_total"] canvas`)))
	b.waitFor("the zoom reset", `dashboard.zoom === null && document.getElementById("zoomed").hidden && !new URLSearchParams(location.search).has("from")`)
}

// testPNG: a chart downloads as a PNG of it, title and legend included.
func testPNG(t *testing.T, b *browser, dl *downloads) {
	const id = "shop_latency_seconds"
	chartRect(b, id)
	b.click(`[data-chart="shop_latency_seconds"] .more`)
	require.Equal(t, "true", eval[string](b, `document.querySelector('[data-chart="shop_latency_seconds"] .more').getAttribute("aria-expanded")`))
	b.click(`[data-chart="shop_latency_seconds"] .actions .png`)
	name, body := dl.next(t)
	require.Regexp(t, `^shop_latency_seconds-\d{8}T\d{6}Z\.png$`, name)
	img, err := png.Decode(bytes.NewReader(body))
	require.NoError(t, err)
	cw := eval[int](b, fmt.Sprintf(`%s.canvas.width`, fmt.Sprintf(jsChart, id)))
	ch := eval[int](b, fmt.Sprintf(`%s.canvas.height`, fmt.Sprintf(jsChart, id)))
	require.Greater(t, img.Bounds().Dx(), cw, "the chart and a margin")
	require.Greater(t, img.Bounds().Dy(), ch+40, "the chart, its title and its legend")
	require.Greater(t, colors(img), 20, "something drawn")
	require.Equal(t, "false", eval[string](b, `document.querySelector('[data-chart="shop_latency_seconds"] .more').getAttribute("aria-expanded")`), "the menu closed")
}

// colors counts the distinct colors of an image, up to 1,000.
func colors(img image.Image) int {
	seen := map[[4]uint32]bool{}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y && len(seen) < 1000; y += 2 {
		for x := bd.Min.X; x < bd.Max.X; x += 2 {
			r, g, b, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, b, a}] = true
		}
	}
	return len(seen)
}

// testRanges: live and 5 min come from the per-tick history (3,000 points
// of 100 ms); 1 h loads the Hub's 10 s tier (the same bucket starts as
// Hub.History) and keeps appending the live ticks; 24 h loads the 1 min tier.
func testRanges(t *testing.T, b *browser, hub *pulse.Hub) {
	btn := func(r string) string { return fmt.Sprintf(`document.querySelector('#ranges [data-range=%q]')`, r) }
	require.Equal(t, "true", eval[string](b, btn("live")+`.getAttribute("aria-checked")`))
	for _, r := range []string{"5m", "1h", "24h"} {
		require.Equal(t, "false", eval[string](b, btn(r)+`.getAttribute("aria-disabled")`), r)
	}
	eval[chromedp.Void](b, `document.activeElement.blur()`)
	b.keys("2")
	b.waitFor("5 min", `dashboard.range === "5m" && new URLSearchParams(location.search).get("range") === "5m"`)
	require.Equal(t, 300000.0, eval[float64](b, `(() => { const w = dashboard.window(); return w.t1 - w.t0; })()`))

	const key = `shop_queue_depth{queue="q00"}`
	b.click(`#ranges [data-range="1h"]`)
	b.waitFor("the 1 h tier", `dashboard.range === "1h" && dashboard.source.tier === "1h" && dashboard.source.ready`)
	require.Equal(t, 3600000.0, eval[float64](b, `(() => { const w = dashboard.window(); return w.t1 - w.t0; })()`))
	n := len(requireTierShown(t, b, hub, key, pulse.Tier1h, 10_000))
	b.waitFor("live ticks appended", fmt.Sprintf(`dashboard.source.history(%q).times.length > %d`, key, n))

	b.keys("4")
	b.waitFor("the 24 h tier", `dashboard.range === "24h" && dashboard.source.tier === "24h" && dashboard.source.ready`)
	d := eval[[]float64](b, fmt.Sprintf(`dashboard.source.history(%q).times`, key))
	require.Zero(t, int64(d[0])%60_000, "a 1 min bucket start")
	b.keys("1")
	b.waitFor("live", `dashboard.range === "live" && !new URLSearchParams(location.search).has("range")`)
}

// requireTierShown checks that the dashboard's source shows the Hub's tier
// of key: the same first bucket as Hub.History, buckets of stepMS; it
// returns the times shown.
func requireTierShown(t *testing.T, b *browser, hub *pulse.Hub, key, tier string, stepMS int64) []float64 {
	t.Helper()
	want, err := hub.History(key, tier)
	require.NoError(t, err)
	require.NotEmpty(t, want.Times)
	got := eval[[]float64](b, fmt.Sprintf(`dashboard.source.history(%q).times`, key))
	require.GreaterOrEqual(t, len(got), len(want.Times))
	require.Equal(t, float64(want.Times[0]), got[0], "the chart starts at the tier's first bucket")
	require.Zero(t, int64(got[0])%stepMS, "a bucket start")
	return got
}

// testKeyboard: the focus order, the keys for pause and zoom, the time
// cursor on a focused chart.
func testKeyboard(t *testing.T, b *browser) {
	eval[chromedp.Void](b, `(window.scrollTo(0, 0), document.activeElement.blur())`)
	b.run(chromedp.MouseClickXY(4, 4)) // the start of the page: Tab goes on from there
	var order []string
	for range 7 {
		b.keys(kb.Tab)
		order = append(order, eval[string](b, `(() => { const e = document.activeElement; return e.id || e.dataset.range || e.className; })()`))
	}
	require.Equal(t, []string{"filter", "server-filter", "live", "pause", "keys-button"}, order[:5], "the bar first, in order")
	require.Equal(t, "icon info", order[5], "then the first chart's buttons")

	b.keys("p")
	require.Equal(t, "true", eval[string](b, `document.body.dataset.paused`))
	b.keys("p")
	require.Equal(t, "false", eval[string](b, `document.body.dataset.paused`))

	const id = "shop_requests_total"
	chartRect(b, id)
	eval[chromedp.Void](b, fmt.Sprintf(`%s.canvas.focus()`, fmt.Sprintf(jsChart, id)))
	b.waitFor("the cursor at the last tick", `!document.getElementById("tip").hidden`)
	t1 := eval[float64](b, `Number(document.getElementById("tip").dataset.time)`)
	b.keys(kb.ArrowLeft + kb.ArrowLeft + kb.ArrowLeft)
	b.waitFor("the cursor moved and drawn", fmt.Sprintf(`dashboard.hover.t < %v && Number(document.getElementById("tip").dataset.time) === dashboard.hover.t`, t1))
	times := eval[[]float64](b, fmt.Sprintf(`%s.drawn.lines[0].times`, fmt.Sprintf(jsChart, id)))
	at := eval[float64](b, `Number(document.getElementById("tip").dataset.time)`)
	require.Equal(t, 3, slices.Index(times, t1)-slices.Index(times, at), "three ticks")
	require.Contains(t, eval[string](b, fmt.Sprintf(`%s.canvas.getAttribute("aria-valuetext")`, fmt.Sprintf(jsChart, id))), "requests/s")

	span := eval[float64](b, `(() => { const w = dashboard.window(); return w.t1 - w.t0; })()`)
	b.keys("+")
	b.waitFor("zoomed in", `dashboard.zoom !== null`)
	require.InDelta(t, span/2, eval[float64](b, `dashboard.zoom.t1 - dashboard.zoom.t0`), span/20)
	b.keys(kb.Escape)
	b.waitFor("the cursor gone", `document.getElementById("tip").hidden`)
	require.NotNil(t, eval[any](b, `dashboard.zoom`), "the first Escape lets go of the cursor")
	b.keys(kb.Escape)
	b.waitFor("the zoom reset", `dashboard.zoom === null`)
}

// testPins: pinned charts come first in the pinned order, can be
// reordered by keyboard and by dragging, and survive a reload through the
// address; a constant series pinned is a chart again.
func testPins(t *testing.T, b *browser) {
	pinned := func() []string {
		return eval[[]string](b, `[...document.querySelectorAll("#pinned-grid .card")].map((el) => el.dataset.chart)`)
	}
	b.click(`[data-chart="shop_queue_depth"] .pin`)
	b.click(`[data-chart="shop_latency_seconds"] .pin`)
	require.Equal(t, []string{"shop_queue_depth", "shop_latency_seconds"}, pinned())
	require.Equal(t, []string{"shop_queue_depth", "shop_latency_seconds"}, eval[[]string](b, `new URLSearchParams(location.search).getAll("pin")`))
	require.False(t, eval[bool](b, `document.getElementById("pinned").hidden`))
	require.Zero(t, eval[int](b, `document.querySelectorAll('#grid [data-chart="shop_queue_depth"]').length`), "not in the grid too")

	eval[chromedp.Void](b, `document.querySelector('[data-chart="shop_latency_seconds"] .grip').focus()`)
	b.keys(kb.ArrowLeft)
	require.Equal(t, []string{"shop_latency_seconds", "shop_queue_depth"}, pinned(), "moved by keyboard")
	require.Equal(t, "grip", eval[string](b, `document.activeElement.className`), "the focus stays on the grip")

	grip := eval[rect](b, `(() => { const r = document.querySelector('[data-chart="shop_latency_seconds"] .grip').getBoundingClientRect(); return { left: r.left, top: r.top, width: r.width, height: r.height }; })()`)
	other := eval[rect](b, `(() => { const r = document.querySelector('#pinned-grid [data-chart="shop_queue_depth"]').getBoundingClientRect(); return { left: r.left, top: r.top, width: r.width, height: r.height }; })()`)
	b.run(chromedp.DragAndDropXY(grip.Left+grip.Width/2, grip.Top+grip.Height/2, other.Left+other.Width*0.8, other.Top+other.Height/2))
	b.waitFor("moved by dragging", `[...document.querySelectorAll("#pinned-grid .card")].map((el) => el.dataset.chart).join() === "shop_queue_depth,shop_latency_seconds"`)
	require.Equal(t, []string{"shop_queue_depth", "shop_latency_seconds"}, eval[[]string](b, `new URLSearchParams(location.search).getAll("pin")`))

	// A constant series, pinned, is a chart.
	b.run(chromedp.Click(chromedp.CSS(`#constants .const[data-key="shop_limit_bytes"] summary`)))
	b.click(`#constants .const[data-key="shop_limit_bytes"] .cpin`)
	require.Equal(t, []string{"shop_queue_depth", "shop_latency_seconds", "shop_limit_bytes"}, pinned())

	b.run(chromedp.Reload())
	b.waitFor("live again", jsDashState+` === "live"`)
	b.waitFor("the pins back", `[...document.querySelectorAll("#pinned-grid .card")].map((el) => el.dataset.chart).join() === "shop_queue_depth,shop_latency_seconds,shop_limit_bytes"`)
	b.waitFor("the pinned constant drawn as a chart", `document.querySelector('#pinned-grid [data-chart="shop_limit_bytes"] .num').textContent === "8" &&
		document.querySelector('#pinned-grid [data-chart="shop_limit_bytes"] .unit').textContent === "EiB"`)
	require.Zero(t, eval[int](b, `document.querySelectorAll('#constants .const[data-key="shop_limit_bytes"]').length`))

	b.click(`[data-chart="shop_limit_bytes"] .pin`)
	b.waitFor("back in the list", `document.querySelectorAll('#constants .const[data-key="shop_limit_bytes"]').length === 1`)
	require.Equal(t, []string{"shop_queue_depth", "shop_latency_seconds"}, pinned())
}
