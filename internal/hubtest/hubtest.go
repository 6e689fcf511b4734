// Package hubtest holds test helpers shared by the adapters' tests: serve a
// Hub over httptest and read its JSON snapshot.
package hubtest

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
)

// ByKey indexes metrics by series key, failing on duplicates.
func ByKey(t testing.TB, ms []pulse.Metric) map[string]pulse.Metric {
	t.Helper()
	out := make(map[string]pulse.Metric, len(ms))
	for _, m := range ms {
		k := m.Key()
		_, dup := out[k]
		require.False(t, dup, "duplicate series %s", k)
		require.NoError(t, m.Validate(), k)
		out[k] = m
	}
	return out
}

// Snapshot is the JSON a plain GET on a Hub returns (PROTOCOL.md).
type Snapshot struct {
	Type   string         `json:"type"`
	Seq    uint64         `json:"seq"`
	Series []Series       `json:"series"`
	Values map[string]any `json:"values"`
	Rates  map[string]any `json:"rates"`
	Stale  []string       `json:"stale"`
}

// Series is one entry of a snapshot's series list.
type Series struct {
	Key    string            `json:"key"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Kind   string            `json:"kind"`
	Unit   string            `json:"unit"`
	Help   string            `json:"help"`
}

// Num reads a protocol number: a JSON number or "+Inf"/"-Inf" (anything
// else, "NaN" included, is NaN).
func Num(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case string:
		switch v {
		case "+Inf":
			return math.Inf(1)
		case "-Inf":
			return math.Inf(-1)
		}
	}
	return math.NaN()
}

// Serve mounts hub on an httptest server closed with the test.
func Serve(t testing.TB, hub *pulse.Hub) (url string, client *http.Client) {
	t.Helper()
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

// GetSnapshot GETs url and decodes the snapshot, failing the test otherwise.
func GetSnapshot(t testing.TB, client *http.Client, url string) Snapshot {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var s Snapshot
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	require.Equal(t, "snapshot", s.Type)
	return s
}

// WaitFor polls the Hub's snapshot until cond holds, failing after a
// deadline. step, if not nil, runs before each poll.
func WaitFor(t testing.TB, client *http.Client, url, what string, step func(), cond func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last Snapshot
	for {
		if step != nil {
			step()
		}
		last = GetSnapshot(t, client, url)
		if cond(last) {
			return last
		}
		if time.Now().After(deadline) {
			keys := make([]string, 0, len(last.Values))
			for k := range last.Values {
				keys = append(keys, k)
			}
			t.Fatalf("timed out waiting for %s; last snapshot values %v, rates %v (keys %s)",
				what, last.Values, last.Rates, strings.Join(keys, " "))
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline, not synchronisation
	}
}
