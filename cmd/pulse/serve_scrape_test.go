package main

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	promsource "github.com/go-pulse/pulse/sources/prometheus"
	"github.com/go-pulse/pulse/subscriber"
)

// The series pulse serve shows for a target are exactly those the
// Prometheus adapter shows for the same registry in a Go service, with
// the target's instance and job labels.
func TestServeScrape(t *testing.T) {
	app := newAppTarget(t)
	s := startServe(t, "-scrape", app.url(), "-job", "shop", "-scrape-timeout", scrapeTimeout)
	sub := dialServe(t, s.ws(), nil)

	// What the adapter makes of the registry, relabelled as a scrape is.
	want := map[string]pulse.Kind{}
	gatherer := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := app.reg.Gather()
		for _, mf := range mfs {
			for _, m := range mf.Metric {
				m.Label = withTargetLabels(m.Label, app.instance(), "shop")
			}
		}
		return mfs, err
	})
	src, err := promsource.New(promsource.WithGatherer(gatherer))
	require.NoError(t, err)
	ms, err := src.Collect(context.Background())
	require.NoError(t, err)
	for _, m := range ms {
		want[m.Key()] = m.Kind
	}
	require.Contains(t, want, `http_request_duration_seconds{instance="`+app.instance()+`",job="shop",quantile="0.99",view="home"}`)
	require.Contains(t, want, `queue_depth{exported_instance="worker-1",instance="`+app.instance()+`",job="shop"}`)

	scraped := func() map[string]subscriber.Sample {
		got := map[string]subscriber.Sample{}
		for k, v := range sub.Values() {
			if !strings.HasPrefix(k, "pulse_scrape_") {
				got[k] = v
			}
		}
		return got
	}
	eventually(t, func() bool { return len(scraped()) == len(want) }, "the target's series")
	got := scraped()
	require.ElementsMatch(t, slices.Collect(maps.Keys(want)), slices.Collect(maps.Keys(got)))
	for k, kind := range want {
		require.Equal(t, kind.String(), string(got[k].Kind), k)
	}
	users := `active_users{instance="` + app.instance() + `",job="shop"}`
	require.Equal(t, 7.0, got[users].Value)
	require.Equal(t, 42.0, got[`build_number{instance="`+app.instance()+`",job="shop"}`].Value, "untyped: a gauge")

	// Counters get the Hub's rates; gauges follow the target.
	orders := `shop_orders_total{instance="` + app.instance() + `",job="shop"}`
	eventually(t, func() bool {
		app.orders.Add(5)
		v, _ := sub.Value(orders)
		return v.HasRate && v.Rate > 0
	}, "a rate for the counter")
	app.users.Set(9)
	eventually(t, func() bool { v, _ := sub.Value(users); return v.Value == 9 }, "the gauge's new value")

	health := `{instance="` + app.instance() + `",job="shop"}`
	up, _ := sub.Value("pulse_scrape_up" + health)
	require.Equal(t, 1.0, up.Value)
	n, _ := sub.Value("pulse_scrape_series" + health)
	require.Equal(t, float64(len(want)), n.Value)
}

// scrapeTimeout bounds a scrape in the tests that count the log's lines:
// the default (the 20 ms interval) can be exceeded by a loopback scrape on
// a loaded CI machine, and that failure would be logged as well.
const scrapeTimeout = "10s"

// A target that fails has its series marked stale, says so in the log and
// in pulse_scrape_up and pulse_scrape_errors_total, and recovers when it
// answers again.
func TestServeTargetFailsAndRecovers(t *testing.T) {
	app := newAppTarget(t)
	s := startServe(t, "-scrape", app.url(), "-scrape-timeout", scrapeTimeout)
	sub := dialServe(t, s.ws(), nil)
	users := `active_users{instance="` + app.instance() + `",job="app"}`
	health := `{instance="` + app.instance() + `",job="app"}`
	eventually(t, func() bool { v, ok := sub.Value(users); return ok && !v.Stale }, "the target's series")

	app.failing.Store(true)
	eventually(t, func() bool { v, _ := sub.Value(users); return v.Stale }, "its series marked stale")
	eventually(t, func() bool {
		up, _ := sub.Value("pulse_scrape_up" + health)
		errs, _ := sub.Value("pulse_scrape_errors_total" + health)
		return up.Value == 0 && errs.Value >= 3
	}, "up 0 and errors counted")
	v, _ := sub.Value(users)
	require.Equal(t, 7.0, v.Value, "the last value is kept")
	s.sawLine(`level=WARN msg="pulse serve: scrape failed" target=` + app.url() + ` .*err=".*503 Service Unavailable"`)

	app.failing.Store(false)
	eventually(t, func() bool {
		v, _ := sub.Value(users)
		up, _ := sub.Value("pulse_scrape_up" + health)
		return !v.Stale && up.Value == 1
	}, "the target recovered")
	s.sawLine(`level=INFO msg="pulse serve: scrape recovered" target=` + app.url() + ` .*failures=\d+`)
	require.Equal(t, 1, strings.Count(s.stderr.String(), "scrape failed"), "one line when it started, not one per failure:\n%s", s.stderr.String())
	require.NotContains(t, s.stderr.String(), "pulse: source", "the Hub's own lines about the target are dropped")
}

// A target's failure is logged when it starts, then at most once a
// minute with the count, and when it ends.
func TestScrapeFailureLog(t *testing.T) {
	app := newAppTarget(t)
	hub, err := pulse.NewHub(pulse.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	tg, err := newTarget(app.url(), "app", testClient(t), hub, log)
	require.NoError(t, err)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tg.log.now = func() time.Time { return now }
	collect := func() error {
		_, err := tg.Collect(context.Background())
		return err
	}

	require.NoError(t, collect())
	require.Empty(t, logs.String())
	app.failing.Store(true)
	for range 30 { // 30 s of failures, one a second
		require.ErrorContains(t, collect(), "503 Service Unavailable")
		now = now.Add(time.Second)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 1, logs.String())
	require.Contains(t, lines[0], `level=WARN msg="pulse serve: scrape failed" target=`+app.url())

	for range 31 {
		require.Error(t, collect())
		now = now.Add(time.Second)
	}
	lines = strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2, logs.String())
	require.Contains(t, lines[1], `msg="pulse serve: scrape failed (still)"`)
	require.Contains(t, lines[1], "failures=60")
	require.Contains(t, lines[1], "since=2026-01-01T12:00:00Z")

	app.failing.Store(false)
	require.NoError(t, collect())
	require.NoError(t, collect())
	lines = strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 3, logs.String())
	require.Contains(t, lines[2], `level=INFO msg="pulse serve: scrape recovered"`)
	require.Contains(t, lines[2], "failures=61 down=1m1s")
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

// The text the targets of other languages send: the Prometheus text
// format as prometheus_client (Python) writes it, and OpenMetrics, read
// by the same parser.
func TestScrapeTextFormats(t *testing.T) {
	const text = `# HELP django_http_requests_total_by_method_total Count of requests by method.
# TYPE django_http_requests_total_by_method_total counter
django_http_requests_total_by_method_total{method="GET"} 12.0
# HELP django_http_requests_total_by_method_created Count of requests by method.
# TYPE django_http_requests_total_by_method_created gauge
django_http_requests_total_by_method_created{method="GET"} 1.7963e+09
# HELP django_http_requests_latency_seconds Histogram of request processing time.
# TYPE django_http_requests_latency_seconds histogram
django_http_requests_latency_seconds_bucket{le="0.1"} 10.0
django_http_requests_latency_seconds_bucket{le="+Inf"} 12.0
django_http_requests_latency_seconds_count 12.0
django_http_requests_latency_seconds_sum 0.9
# HELP django_http_requests_latency_seconds_created Histogram of request processing time.
# TYPE django_http_requests_latency_seconds_created gauge
django_http_requests_latency_seconds_created 1.7963e+09
# HELP deploy_created When this deploy was created: a gauge of its own.
# TYPE deploy_created gauge
deploy_created 1.7e+09
# HELP active_users Distinct sessions seen in the last 5 minutes
# TYPE active_users gauge
active_users 3.0
`
	const openMetrics = `# TYPE active_users gauge
# HELP active_users Distinct sessions seen in the last 5 minutes
active_users 4.0
# EOF
`
	for _, tc := range []struct{ ctype, body string }{
		{"text/plain; version=0.0.4; charset=utf-8", text},
		{"application/openmetrics-text; version=1.0.0; charset=utf-8", openMetrics},
	} {
		srv := newTextServer(t, tc.ctype, tc.body)
		hub, err := pulse.NewHub(pulse.Options{})
		require.NoError(t, err)
		tg, err := newTarget(srv+"/metrics", "django", testClient(t), hub, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
		require.NoError(t, err)
		ms, err := tg.Collect(context.Background())
		require.NoError(t, err, tc.ctype)
		got := map[string]float64{}
		for _, m := range ms {
			got[m.Key()] = m.Value
		}
		inst := strings.TrimPrefix(srv, "http://")
		if tc.body == text {
			require.Equal(t, 12.0, got[`django_http_requests_total_by_method_total{instance="`+inst+`",job="django",method="GET"}`])
			require.Equal(t, 12.0, got[`django_http_requests_latency_seconds_count{instance="`+inst+`",job="django"}`])
			require.Contains(t, got, `django_http_requests_latency_seconds{instance="`+inst+`",job="django",quantile="0.5"}`)
			require.Equal(t, 3.0, got[`active_users{instance="`+inst+`",job="django"}`])
			require.Equal(t, 1.7e9, got[`deploy_created{instance="`+inst+`",job="django"}`], "a _created of no counter, histogram or summary stays")
			for k := range got {
				require.NotContains(t, k, "by_method_created", "the _created series of a counter go")
				require.NotContains(t, k, "latency_seconds_created", "and of a histogram")
			}
		} else {
			require.Equal(t, 4.0, got[`active_users{instance="`+inst+`",job="django"}`])
		}
		require.NoError(t, hub.Close())
	}
}

func newTextServer(t *testing.T, ctype, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// testClient is an HTTP client whose idle connections are closed when the
// test ends.
func testClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
