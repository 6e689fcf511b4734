package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Simulated traffic.
const (
	visitorPool   = 1500 // distinct visitor IDs the simulator draws from
	browsing      = 40   // visitors clicking around at any one moment
	stayChance    = 0.75 // chance that the next request comes from a visitor already browsing
	maxConcurrent = 32   // requests in flight at most; arrivals past it are dropped
)

// simulateTraffic sends simulated visitors to the given paths under baseURL
// until ctx is done, then waits for its requests to end and closes its
// connections. Arrivals follow a Poisson process whose rate drifts between
// about 3 and 25 requests per second.
func simulateTraffic(ctx context.Context, baseURL string, paths []string) {
	tr := &http.Transport{
		Proxy:               nil, // loopback: never through a proxy
		MaxIdleConns:        maxConcurrent,
		MaxIdleConnsPerHost: maxConcurrent,
		IdleConnTimeout:     30 * time.Second,
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	defer tr.CloseIdleConnections() // runs after wg.Wait
	defer wg.Wait()

	v := newVisitors()
	sem := make(chan struct{}, maxConcurrent)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(nextArrival(trafficRate(time.Since(start))))

		select {
		case sem <- struct{}{}:
		default:
			continue // saturated: this visitor gives up
		}
		id, path := v.next(), pickPath(paths)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			visit(ctx, client, baseURL+path, id)
		}()
	}
}

// trafficRate is the request rate, per second, at time t into the
// simulation: a slow wave with a faster ripple on top.
func trafficRate(t time.Duration) float64 {
	s := t.Seconds()
	r := 14 + 8*math.Sin(2*math.Pi*s/90) + 3*math.Sin(2*math.Pi*s/17)
	return max(r, 1)
}

// nextArrival is an exponentially distributed wait, with mean 1/rate.
func nextArrival(rate float64) time.Duration {
	return time.Duration(rand.ExpFloat64() / rate * float64(time.Second))
}

// pickPath picks a page, the first ones more popular than the later ones.
func pickPath(paths []string) string {
	// Weights n, n-1, ..., 1.
	n := len(paths)
	x := rand.IntN(n * (n + 1) / 2)
	for i := range paths {
		w := n - i
		if x < w {
			return paths[i]
		}
		x -= w
	}
	return paths[0]
}

// visitors chooses who makes the next request: mostly someone already
// browsing, sometimes a new arrival from the pool. It is used by one
// goroutine only.
type visitors struct {
	current [browsing]string
}

func newVisitors() *visitors {
	v := &visitors{}
	for i := range v.current {
		v.current[i] = poolID()
	}
	return v
}

func (v *visitors) next() string {
	i := rand.IntN(len(v.current))
	if rand.Float64() >= stayChance {
		v.current[i] = poolID() // someone leaves, someone arrives
	}
	return v.current[i]
}

// poolID draws a visitor of the pool. Its id has the form of the ids the
// active-users middleware issues (32 lower-case hex digits; it replaces any
// other cookie value with a new id): visitor n of the pool is n in hex.
func poolID() string { return fmt.Sprintf("%032x", rand.IntN(visitorPool)) }

// visit requests url as visitor id and reads the whole response. Errors are
// ignored: the simulated visitor just leaves.
func visit(ctx context.Context, client *http.Client, url, id string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	req.AddCookie(&http.Cookie{Name: visitorCookie, Value: id})
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}
