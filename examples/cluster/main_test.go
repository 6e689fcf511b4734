package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-pulse/pulse/internal/idlecheck"
	"github.com/go-pulse/pulse/internal/leakcheck"
	"github.com/stretchr/testify/require"
)

// TestMain fails the run when any goroutine outlives the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 10*time.Second)) }

// snapshot is the part of a Hub's JSON snapshot (a plain GET of its route)
// the test reads.
type snapshot struct {
	Type   string `json:"type"`
	Series []struct {
		Key    string            `json:"key"`
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"series"`
	Values map[string]any `json:"values"`
}

func (s *snapshot) value(key string) (float64, bool) {
	v, ok := s.Values[key].(float64) // NaN and ±Inf are strings: none here
	return v, ok
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// idleTimeout is the replicas' IdleTimeout in TestRun.
const idleTimeout = 300 * time.Millisecond

// The demo runs briefly: three replicas on free ports, each showing the
// merged values of all three, then a clean shutdown.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urlsCh := make(chan []string, 1)
	natsCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{host: "127.0.0.1", ports: []int{0, 0, 0}, interval: 50 * time.Millisecond, natsPort: -1, idleTimeout: idleTimeout},
			func(urls []string, natsURL string) {
				natsCh <- natsURL
				urlsCh <- urls
			})
	}()
	var urls []string
	select {
	case urls = <-urlsCh:
		natsURL := <-natsCh
		require.True(t, strings.HasPrefix(natsURL, "nats://127.0.0.1:"), natsURL)
	case err := <-done:
		t.Fatalf("run ended before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("run not ready after 30s")
	}
	require.Len(t, urls, 3)

	for i, u := range urls {
		code, body := get(t, u)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `import { connect } from "/pulse.js"`)
		code, body = get(t, u+"pulse.js")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "export function connect")
		code, body = get(t, u+"node")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, fmt.Sprintf("r%d", i+1), body)
	}

	// Each replica closes an idle keep-alive connection after its
	// IdleTimeout: well before the 30 s ReadTimeout net/http would use
	// without one.
	for _, u := range urls {
		_, err := idlecheck.Closed(strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/"), 15*time.Second)
		require.NoError(t, err, u)
	}

	// Every replica's public Hub converges on the merged view of the three.
	deadline := time.Now().Add(30 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for _, u := range urls {
		for {
			why := checkMerged(t, u+"ws/metrics")
			if why == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: merged view not reached: %s", u, why)
			}
			<-poll.C
		}
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// checkMerged reads a replica's snapshot and returns "" if it shows the
// whole cluster, else what is missing.
func checkMerged(t *testing.T, url string) string {
	code, body := get(t, url)
	if code != http.StatusOK {
		return fmt.Sprintf("status %d", code)
	}
	var s snapshot
	require.NoError(t, json.Unmarshal([]byte(body), &s))
	require.Equal(t, "snapshot", s.Type)
	if v, _ := s.value("pulse_cluster_peers"); v != 3 {
		return fmt.Sprintf("pulse_cluster_peers %v", v)
	}
	// Requests: each page's merged counter is the sum of the replicas'
	// (no replica restarted), in the same snapshot.
	merged, perNode := map[string]float64{}, map[string]float64{}
	nodes := map[string]bool{}
	var activeSum float64
	for _, se := range s.Series {
		v, _ := s.value(se.Key)
		switch {
		case se.Name == "http_requests_total" && se.Labels["node"] != "":
			perNode[se.Labels["page"]] += v
			nodes[se.Labels["node"]] = true
		case se.Name == "http_requests_total":
			merged[se.Labels["page"]] = v
		case se.Name == "active_users" && se.Labels["node"] != "" && se.Labels["page"] == "":
			activeSum += v
		}
	}
	if len(nodes) != 3 {
		return fmt.Sprintf("per-node requests of %d replicas", len(nodes))
	}
	if len(merged) != len(pages) {
		return fmt.Sprintf("merged requests of %d pages", len(merged))
	}
	for p, v := range merged {
		if v == 0 || v != perNode[p] {
			return fmt.Sprintf("requests of %s: merged %v, replicas %v", p, v, perNode[p])
		}
	}
	// Active users: the distinct visitors of all replicas, at most the
	// sum of each replica's.
	users, ok := s.value("active_users")
	if !ok || users == 0 || users > activeSum {
		return fmt.Sprintf("active users %v (replicas' sum %v)", users, activeSum)
	}
	for _, name := range []string{"http_requests_in_flight", "http_request_duration_seconds",
		`process_uptime_seconds{node="r1"}`, `process_uptime_seconds{node="r3"}`} {
		if _, ok := s.value(name); !ok {
			return name + " missing"
		}
	}
	return ""
}
