// Command pulse-server serves a pulse.Hub on /ws, fed by one MetricSource.
//
// Workloads (-workload):
//
//	broadcast  -series gauges that all change every tick, plus bench_sent_us
//	           (the collection time, in Unix microseconds): a delta of about
//	           1 KiB per tick, the same bytes as the peers' payload. History
//	           off (no peer backfills).
//	dashboard  -series series (gauges and counters with dashboard-like names
//	           and labels) of which -change (a fraction) change per tick,
//	           plus bench_sent_us; History at its default (300).
//
// Until "start" the source's values do not change, so the Hub sends empty
// deltas. -hz 0 means saturation: Interval 10ms, pulse's minimum.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-pulse/pulse"

	"github.com/go-pulse/pulse/bench/internal/srv"
)

type source struct {
	started atomic.Bool
	ms      []pulse.Metric // the last one is the stamp
	change  int            // series changed per tick
	tick    int
}

func newSource(workload string, n int, change float64) *source {
	s := &source{}
	switch workload {
	case "broadcast":
		for i := range n {
			s.ms = append(s.ms, pulse.Metric{Name: "bench_pad", Labels: pulse.Labels{"i": fmt.Sprintf("%02d", i)},
				Kind: pulse.KindGauge, Value: 100000.125 + float64(i)})
		}
		s.change = n
	case "dashboard":
		paths := []string{"/", "/api/v1/users", "/api/v1/orders", "/api/v1/search", "/static", "/login", "/health", "/metrics"}
		methods := []string{"GET", "POST"}
		for i := range n {
			var m pulse.Metric
			switch i % 4 {
			case 0:
				m = pulse.Metric{Name: "http_requests_total", Kind: pulse.KindCounter, Unit: "requests", Help: "HTTP requests served",
					Labels: pulse.Labels{"path": paths[i/4%len(paths)], "method": methods[i/32%2], "instance": fmt.Sprintf("web-%d", i/64)}}
			case 1:
				m = pulse.Metric{Name: "http_request_duration_seconds", Kind: pulse.KindGauge, Unit: "seconds", Help: "p99 latency",
					Labels: pulse.Labels{"path": paths[i/4%len(paths)], "quantile": "0.99", "instance": fmt.Sprintf("web-%d", i/64)}}
			case 2:
				m = pulse.Metric{Name: "queue_depth", Kind: pulse.KindGauge, Unit: "jobs", Help: "Jobs waiting",
					Labels: pulse.Labels{"queue": fmt.Sprintf("q%03d", i)}}
			default:
				m = pulse.Metric{Name: "cache_hit_ratio", Kind: pulse.KindGauge, Help: "Cache hits over lookups",
					Labels: pulse.Labels{"cache": fmt.Sprintf("c%03d", i)}}
			}
			m.Value = float64(i)
			s.ms = append(s.ms, m)
		}
		s.change = max(1, int(float64(n)*change+0.5))
	default:
		log.Fatalf("unknown workload %q", workload)
	}
	s.ms = append(s.ms, pulse.Metric{Name: "bench_sent_us", Kind: pulse.KindGauge, Unit: "microseconds"})
	return s
}

func (s *source) Collect(context.Context) ([]pulse.Metric, error) {
	if !s.started.Load() {
		return s.ms, nil
	}
	s.tick++
	n := len(s.ms) - 1
	start := (s.tick * s.change) % n
	for j := range s.change {
		m := &s.ms[(start+j)%n]
		if m.Kind == pulse.KindCounter {
			m.Value += float64(1 + j%7)
		} else {
			m.Value += 0.25 + float64(j%5)
		}
	}
	s.ms[n].Value = float64(time.Now().UnixMicro())
	return s.ms, nil
}

func main() {
	workload := flag.String("workload", "broadcast", "broadcast or dashboard")
	series := flag.Int("series", 28, "series in the source (besides bench_sent_us)")
	change := flag.Float64("change", 0.2, "dashboard: fraction of the series that change per tick")
	queue := flag.Int("queue", 0, "the Hub's QueueSize (0: pulse's default)")
	ping := flag.Duration("ping", 0, "the Hub's PingInterval (0: pulse's default, 25s; negative: no pings)")
	ival := flag.Duration("interval", 0, "the Hub's Interval; default 1/hz, or 10ms (pulse's minimum) for -hz 0")
	maxClients := flag.Int("max-clients", -1, "the Hub's MaxClients (-1: no limit; 0: pulse's default, 10,000)")
	f := srv.ParseFlags()
	srv.RaiseNoFile()
	interval := 10 * time.Millisecond
	if f.Hz > 0 {
		interval = time.Duration(float64(time.Second) / f.Hz)
	}
	if *ival > 0 {
		interval = *ival
	}
	opts := pulse.Options{Interval: interval, MaxClients: *maxClients, QueueSize: *queue, PingInterval: *ping}
	if *workload == "broadcast" {
		opts.History = -1
	}
	hub, err := pulse.NewHub(opts)
	if err != nil {
		log.Fatal(err)
	}
	src := newSource(*workload, *series, *change)
	if err := hub.Register(src, pulse.SourceOptions{Name: "bench"}); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	ln, err := srv.Listen(f.Addr)
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	srv.Run(f, ln, driver{hub, src, hs})
}

type driver struct {
	hub *pulse.Hub
	src *source
	hs  *http.Server
}

func (d driver) Start() { d.src.started.Store(true) }

// Shutdown is what quit does first, as a deployment's SIGTERM handler
// would (see pulse's ExampleHub_Shutdown): the HTTP server stops listening,
// then Hub.Shutdown sends every client "going away" (1001).
func (d driver) Shutdown(ctx context.Context) error {
	return errors.Join(d.hs.Shutdown(ctx), d.hub.Shutdown(ctx))
}
func (d driver) Stop() { d.src.started.Store(false) }
func (d driver) Stats() map[string]any {
	s := d.hub.Stats()
	return map[string]any{
		"clients": s.Clients, "messages_sent": s.MessagesSent, "bytes_sent": s.BytesSent,
		"resyncs": s.Resyncs, "slow_disconnects": s.SlowDisconnects, "ping_timeouts": s.PingTimeouts,
		"ticks": s.Ticks, "last_tick_us": s.LastTick.Microseconds(), "max_tick_us": s.MaxTick.Microseconds(),
		"source_errors": s.SourceErrors, "source_timeouts": s.SourceTimeouts, "rejected": s.Rejected,
		"resumes": s.Resumes,
	}
}
