// Command slowlink measures what a client on a slow link sees of the demo
// (examples/server, 1 s ticks, its defaults): clients whose TCP receive
// buffer is small (-rcvbuf, 4 KB) and that read at a fixed byte rate
// (-rates, bytes a second), speaking what pulse.js speaks (?match=*&v=2,
// permessage-deflate offered). Each applies every message to a view and
// records the staleness (receive time minus the ts of the newest tick
// applied; also sampled every 250 ms), the seq order (a delta is seq+1, a
// merged delta's from is at most the view's seq), the ticks each update
// covered (the update interval the server's merged deltas announce, in
// ticks of hello's interval_ms), resyncs and disconnects.
//
// With -old, the same clients run at the same time against a second
// checkout's demo (an older core), for a before and after in one run:
//
//	cd bench && go run ./cmd/slowlink -duration 5m -old /work/wt/defects -v1
//
// (-v1 adds, on the new core, clients that speak protocol v1 without
// compression: the old core's wire format, so the two cores are compared
// on the same bytes too.)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	newRoot := flag.String("new", "..", "checkout whose examples/server is measured")
	oldRoot := flag.String("old", "", "a second checkout measured at the same time (empty: none)")
	rates := flag.String("rates", "3072,1024", "read rates of the clients, bytes a second (one client each, per checkout)")
	rcvbuf := flag.Int("rcvbuf", 4096, "SO_RCVBUF of each client's socket, bytes")
	duration := flag.Duration("duration", 5*time.Minute, "how long the clients run")
	v1 := flag.Bool("v1", false, "also run each rate with protocol v1 and no compression (the old core's wire format), on the new core")
	sse := flag.Bool("sse", false, "also run each rate over Server-Sent Events (pulse.js's fallback), on the new core")
	jsonOut := flag.String("json", "", "also write the results to this file")
	flag.Parse()
	var bps []int
	for _, s := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("slowlink: bad rate %q", s)
		}
		bps = append(bps, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "slowlink")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	roots := [][2]string{{"new", *newRoot}}
	if *oldRoot != "" {
		roots = append(roots, [2]string{"old", *oldRoot})
	}
	var clients []*client
	for _, r := range roots {
		d, err := startDemo(ctx, r[0], r[1], dir)
		if err != nil {
			log.Fatalf("slowlink: %v", err)
		}
		defer d.stop()
		for _, b := range bps {
			clients = append(clients, &client{name: fmt.Sprintf("%s %d B/s", r[0], b), url: d.url + "?" + pulseJSQuery(), bps: b, rcvbuf: *rcvbuf, deflate: true})
			if *sse && r[0] == "new" {
				clients = append(clients, &client{name: fmt.Sprintf("new %d B/s SSE", b), url: d.url + "?" + pulseJSQuery(), bps: b, rcvbuf: *rcvbuf, sse: true})
			}
			if *v1 && r[0] == "new" {
				clients = append(clients, &client{name: fmt.Sprintf("new %d B/s v1, no deflate", b), url: d.url + "?match=%2A", bps: b, rcvbuf: *rcvbuf})
			}
		}
	}
	rctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(rctx) }()
	}
	wg.Wait()
	rs := make([]result, len(clients))
	for i, c := range clients {
		rs[i] = c.result(*duration)
	}
	printTable(rs, *rcvbuf, *duration)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rs, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// pulseJSQuery is what pulse.js asks for on its first connection with its
// defaults (match ["*"], PROTOCOL_VERSION 2).
func pulseJSQuery() string { return url.Values{"match": {"*"}, "v": {"2"}}.Encode() }

// result is one client's figures.
type result struct {
	Client        string         `json:"client"`
	Version       int            `json:"version"`
	IntervalMS    int64          `json:"interval_ms"`
	Updates       int            `json:"updates"` // messages that moved the view to a newer tick
	Merged        int            `json:"merged"`
	Resyncs       int            `json:"resyncs"`
	TicksPer      map[uint64]int `json:"ticks_per_update"`
	UpdateEveryS  float64        `json:"update_every_s"` // mean seconds between updates, from the ticks they covered
	P50, P99, Max float64        // staleness at receive, seconds
	SteadyP99     float64        `json:"steady_p99"` // staleness at receive after the first minute
	FirstSyncedS  float64        `json:"first_synced_s"`
	SilenceS      float64        `json:"longest_silence_s"` // longest time between two messages of a connection
	SampledP99    float64        `json:"sampled_p99"`
	SampledMax    float64        `json:"sampled_max"`
	LinkBytesPS   float64        `json:"link_bytes_per_s"`
	Disconnects   []disconnect   `json:"disconnects"`
	Violations    []string       `json:"violations"`
}

func (c *client) result(d time.Duration) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := result{Client: c.name, Version: c.version, IntervalMS: c.interval, Updates: len(c.recv), Merged: c.merged,
		Resyncs: c.resyncs, TicksPer: c.ticksPer, Disconnects: c.disconnects, Violations: c.violations,
		LinkBytesPS: float64(c.linkBytes.Load()) / d.Seconds()}
	var ticks, updates uint64
	for t, n := range c.ticksPer {
		ticks += t * uint64(n)
		updates += uint64(n)
	}
	if updates > 0 {
		r.UpdateEveryS = float64(ticks) / float64(updates) * float64(c.interval) / 1e3
	}
	r.P50, r.P99, r.Max = quantiles(c.recv)
	var steady []float64
	for i, at := range c.recvAt {
		if at >= 60 {
			steady = append(steady, c.recv[i])
		}
	}
	_, r.SteadyP99, _ = quantiles(steady)
	r.FirstSyncedS, r.SilenceS = c.firstSynced.Seconds(), c.silence.Seconds()
	_, r.SampledP99, r.SampledMax = quantiles(c.sampled)
	return r
}

func quantiles(xs []float64) (p50, p99, maxv float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q := func(f float64) float64 { return s[min(len(s)-1, int(f*float64(len(s))))] }
	return q(0.5), q(0.99), s[len(s)-1]
}

func printTable(rs []result, rcvbuf int, d time.Duration) {
	fmt.Printf("slowlink: %v, SO_RCVBUF %d B, demo at 1 s ticks\n\n", d, rcvbuf)
	fmt.Println("| client | protocol | updates | merged | resyncs | updates every | staleness p50 / p99 / max | p99 after 1 min | sampled p99 / max | first snapshot | longest silence | link B/s | disconnects | seq violations |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		var ds []string
		for _, x := range r.Disconnects {
			ds = append(ds, fmt.Sprintf("%v %s", x.At, x.Reason))
		}
		disc := "none"
		if len(ds) > 0 {
			disc = fmt.Sprintf("%d (%s)", len(ds), strings.Join(ds[:min(3, len(ds))], "; "))
		}
		fmt.Printf("| %s | v%d | %d | %d | %d | %.1f s | %.1f / %.1f / %.1f s | %.1f s | %.1f / %.1f s | %.1f s | %.1f s | %.0f | %s | %d |\n",
			r.Client, r.Version, r.Updates, r.Merged, r.Resyncs, r.UpdateEveryS, r.P50, r.P99, r.Max, r.SteadyP99,
			r.SampledP99, r.SampledMax, r.FirstSyncedS, r.SilenceS, r.LinkBytesPS, disc, len(r.Violations))
	}
	for _, r := range rs {
		for _, v := range r.Violations[:min(3, len(r.Violations))] {
			fmt.Printf("%s: %s\n", r.Client, v)
		}
	}
}
