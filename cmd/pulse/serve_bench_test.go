//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
)

// The scrape benchmarks read real HTTP targets serving real client_golang
// registries of 1,000 series each, run in a child process (this test
// binary, started with benchTargetsEnv) so that the CPU time measured is
// pulse serve's alone:
//
//	flock /tmp/pulse-heavy.lock go test -run '^$' -bench Scrape -benchtime 200x ./cmd/pulse
const (
	benchTargetsEnv = "PULSE_BENCH_TARGETS"
	benchTargets    = 10
	benchSeries     = 1000
)

func init() { childMain = benchTargetsMain }

// benchTargetsMain is the child: it serves benchTargets registries on
// loopback, prints their URLs and runs until its standard input closes.
func benchTargetsMain() int {
	if os.Getenv(benchTargetsEnv) == "" {
		return -1
	}
	var srvs []*http.Server
	for range benchTargets {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		srv := &http.Server{Handler: benchTarget(), ReadHeaderTimeout: time.Minute}
		go func() { _ = srv.Serve(ln) }()
		srvs = append(srvs, srv)
		fmt.Printf("target http://%s\n", ln.Addr())
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, s := range srvs {
		_ = s.Close()
	}
	return 0
}

// benchTarget is one application's /metrics: 500 counters, 300 gauges
// and 40 histograms (each _count, _sum and 3 quantiles in pulse): 1,000
// series, whose values change at every scrape. /metrics negotiates (the
// protobuf format for pulse serve), /text always sends the text format, as
// the Python, Ruby and Node clients do.
func benchTarget() http.Handler {
	reg := prometheus.NewRegistry()
	counters := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "app_requests_total", Help: "Requests"}, []string{"route"})
	gauges := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "app_queue_depth", Help: "Jobs waiting"}, []string{"queue"})
	hists := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "app_latency_seconds", Help: "Latency"}, []string{"route"})
	reg.MustRegister(counters, gauges, hists)
	n := 0
	bump := func() {
		n++
		for i := range 500 {
			counters.WithLabelValues("/r" + strconv.Itoa(i)).Add(float64(n % 7))
		}
		for i := range 300 {
			gauges.WithLabelValues("q" + strconv.Itoa(i)).Set(float64((n + i) % 100))
		}
		for i := range 40 {
			hists.WithLabelValues("/h" + strconv.Itoa(i)).Observe(float64(n%50) / 100)
		}
	}
	bump()
	prom := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) { bump(); prom.ServeHTTP(w, r) })
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		bump()
		r.Header.Del("Accept")
		prom.ServeHTTP(w, r)
	})
	return mux
}

// startBenchTargets starts the child and returns its targets' base URLs.
func startBenchTargets(b *testing.B) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchTargetsEnv+"=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	cmd.Stderr = os.Stderr
	require.NoError(b, cmd.Start())
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	var urls []string
	sc := bufio.NewScanner(stdout)
	for len(urls) < benchTargets && sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "target "); ok {
			urls = append(urls, u)
		}
	}
	require.Len(b, urls, benchTargets, "the targets' URLs")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return urls
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScrape measures pulse serve's cost of scraping targets of 1,000
// series: "target" is one scrape (HTTP GET, parse with expfmt, convert with
// the Prometheus adapter, health series), as the Hub runs it; "serve" is a
// whole round of pulse serve's Hub with 10 such targets (10 scrapes and
// the tick over their 10,000 series), at a 100 ms tick so that the
// benchmark runs quickly; a round costs the same CPU at the default 1 s.
// cpu-ms/op is the process's CPU time per op, garbage collection included.
func BenchmarkScrape(b *testing.B) {
	urls := startBenchTargets(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client := testClient(b)
	for _, format := range []string{"protobuf", "text"} {
		path := map[string]string{"protobuf": "/metrics", "text": "/text"}[format]
		b.Run("target/format="+format, func(b *testing.B) {
			hub, err := pulse.NewHub(pulse.Options{MaxSeries: 100000})
			require.NoError(b, err)
			defer hub.Close()
			tg, err := newTarget(urls[0]+path, "bench", client, hub, log)
			require.NoError(b, err)
			ms, err := tg.Collect(context.Background())
			require.NoError(b, err)
			require.Len(b, ms, benchSeries)
			b.ReportAllocs()
			b.ResetTimer()
			start := cpuTime(b)
			for range b.N {
				if _, err := tg.Collect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
		b.Run("serve/targets=10/format="+format, func(b *testing.B) {
			benchServeRounds(b, urls, path, client, log)
		})
	}
}

// benchServeRounds runs pulse serve's Hub over the targets for b.N ticks.
func benchServeRounds(b *testing.B, urls []string, path string, client *http.Client, log *slog.Logger) {
	c := &serveConfig{interval: 100 * time.Millisecond, scrapeTimeout: time.Second, maxSeries: 100000, history: 300, job: "bench"}
	for _, u := range urls {
		c.scrape = append(c.scrape, u+path)
	}
	acc, err := newAccess("", "", nil)
	require.NoError(b, err)
	hub, err := newServeHub(c, acc, log)
	require.NoError(b, err)
	defer hub.Close()
	require.NoError(b, addTargets(hub, c, client, log))
	want := benchTargets * (benchSeries + 4) // and the health series
	waitTicks := func(n uint64) {
		deadline := time.Now().Add(time.Duration(n)*c.interval + time.Minute)
		for from := hub.Stats().Ticks; hub.Stats().Ticks < from+n; {
			if time.Now().After(deadline) {
				b.Fatal("the Hub does not tick")
			}
			time.Sleep(time.Millisecond) // polling the tick count: not a measurement
		}
	}
	for hub.Stats().Series < want {
		waitTicks(1)
	}
	b.ResetTimer()
	start := cpuTime(b)
	waitTicks(uint64(b.N))
	b.ReportMetric(float64(cpuTime(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(hub.Stats().Series), "series")
}
