package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

// readmePath is the repository's README, whose snippets these tests run.
const readmePath = "../../README.md"

// readmeBlock returns the one ```lang block of the README that contains
// marker, failing the test unless there is exactly one.
func readmeBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	src, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	var found []string
	for _, m := range regexp.MustCompile("(?ms)^```"+lang+"\n(.*?)^```$").FindAllStringSubmatch(string(src), -1) {
		if strings.Contains(m[1], marker) {
			found = append(found, m[1])
		}
	}
	require.Len(t, found, 1, "```%s blocks of %s containing %q", lang, readmePath, marker)
	return found[0]
}

// quickStartSources registers on hub the series the README's quick start
// registers, read from its Go block: counters (returned, for the test to
// increment), gauges and gauge funcs.
func quickStartSources(t *testing.T, hub *pulse.Hub) []*pulse.Counter {
	t.Helper()
	quick := readmeBlock(t, "go", "pulse.NewCounter(")
	calls := regexp.MustCompile(`pulse\.(NewCounter|NewGauge|GaugeFunc)\("([^"]+)"`).FindAllStringSubmatch(quick, -1)
	require.GreaterOrEqual(t, len(calls), 2, "the quick start's sources:\n%s", quick)
	var counters []*pulse.Counter
	for _, c := range calls {
		var src pulse.MetricSource
		switch c[1] {
		case "NewCounter":
			ctr := pulse.NewCounter(c[2])
			counters = append(counters, ctr)
			src = ctr
		case "NewGauge":
			src = pulse.NewGauge(c[2])
		case "GaugeFunc":
			src = pulse.GaugeFunc(c[2], func() float64 { return 1 })
		}
		require.NoError(t, hub.Register(src, pulse.SourceOptions{}), c[0])
	}
	return counters
}

// TestBrowserREADMESnippet loads a page made of the README's pulse.js
// snippet, taken from README.md as it is, against a Hub with the quick
// start's sources: the request rate it displays becomes a number, and
// follows the requests.
func TestBrowserREADMESnippet(t *testing.T) {
	snippet := readmeBlock(t, "html", `from "/pulse.js"`)
	hub, err := pulse.NewHub(pulse.Options{Interval: browserInterval})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	counters := quickStartSources(t, hub)

	page := "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>README snippet</title></head><body>\n" +
		snippet + "</body></html>\n"
	mux := http.NewServeMux()
	mux.Handle("/ws/metrics", hub)
	mux.Handle("/pulse.js", pulse.JS())
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	})
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range counters {
			c.Inc() // as the quick start's handlers do
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := newBrowser(t) // after the server: its cleanup runs first

	const (
		jsRate  = `document.getElementById("rps").textContent`
		jsIsNum = `/^\d+\.\d$/.test(` + jsRate + `)`
	)
	b.navigate(srv.URL + "/")
	b.waitFor("the rate to show as a number", jsIsNum)
	b.waitFor("the status badge", `document.getElementById("badge").textContent === "live"`)

	// Requests move the rate.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: waitLimit}
	for range 50 {
		resp, err := client.Get(srv.URL + "/work")
		require.NoError(t, err)
		_ = resp.Body.Close()
	}
	b.waitFor("a rate above zero", fmt.Sprintf(`%s && Number(%s) > 0`, jsIsNum, jsRate))
	b.noPageErrors()
}
