package main

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-pulse/pulse/bench/internal/wsproto"
)

// snapshotRequests runs n clients with textually distinct filters that
// each send a snapshot request rate times a second for window (and
// reconnect when the Hub closes them), while healthy clients read.
func snapshotRequests(d *demo, n int, rate float64, window time.Duration) ([]result, error) {
	hs, err := d.healthies(3)
	if err != nil {
		return nil, err
	}
	defer hs.close()
	quietGap, _ := hs.quiet(d, window)
	var from []int
	for _, h := range hs {
		from = append(from, h.count())
	}
	req := wsproto.AppendClientFrame(nil, 0x1, []byte(`{"type":"snapshot"}`))
	start := time.Now()
	end := start.Add(window)
	var closes, limited, answers atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for time.Now().Before(end) {
				c, err := d.dialWS(fmt.Sprintf("match=*,zq%d", i), 0)
				if err != nil {
					time.Sleep(100 * time.Millisecond) // a refused attacker retries
					continue
				}
				go func() {
					code := c.readMessages(func(p []byte) {
						switch {
						case hasPrefix(p, `{"type":"snapshot","seq":`) && contains(p[:min(len(p), 120)], `"request"`):
							answers.Add(1)
						case hasPrefix(p, `{"type":"error"`) && contains(p, `rate_limited`):
							limited.Add(1)
						}
					})
					if code != 0 {
						closes.Add(1)
					}
				}()
				t := time.NewTicker(time.Duration(float64(time.Second) / rate))
				for range t.C {
					if !time.Now().Before(end) {
						break
					}
					if err := c.send(req); err != nil {
						break
					}
				}
				t.Stop()
				c.Close()
			}
		})
	}
	wg.Wait()
	var lat []time.Duration
	for i, h := range hs {
		lat = append(lat, h.latencies(from[i])...)
	}
	slices.Sort(lat)
	p99 := time.Duration(0)
	if len(lat) > 0 {
		p99 = lat[len(lat)*99/100]
	}
	return []result{
		{"snapshot requests", fmt.Sprintf("healthy p99 tick-to-delivery (%d deltas); attackers: %d answers, %d rate_limited, %d closed", len(lat), answers.Load(), limited.Load(), closes.Load()),
			fmtDur(p99), fmt.Sprintf("≤ 2 intervals (%v)", 2*d.interval), p99 <= 2*d.interval},
		hs.gapResult("snapshot requests", d, start, end, quietGap),
	}, nil
}

func hasPrefix(p []byte, s string) bool { return len(p) >= len(s) && string(p[:len(s)]) == s }

func contains(p []byte, s string) bool {
	for i := 0; i+len(s) <= len(p); i++ {
		if string(p[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.String()
}
