package otelsource_test

import (
	"encoding/json"
	"github.com/go-pulse/pulse/internal/leakcheck"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
)

// TestMain fails the run when any goroutine outlives the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }

// byKey indexes metrics by series key, failing on duplicates.
func byKey(t testing.TB, ms []pulse.Metric) map[string]pulse.Metric {
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

// snapshot is the JSON a plain GET on a Hub returns.
type snapshot struct {
	Type   string         `json:"type"`
	Values map[string]any `json:"values"`
	Rates  map[string]any `json:"rates"`
}

func num(v any) float64 {
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

// serve mounts hub on an httptest server closed with the test.
func serve(t testing.TB, hub *pulse.Hub) (url string, client *http.Client) {
	t.Helper()
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

func getSnapshot(t testing.TB, client *http.Client, url string) snapshot {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var s snapshot
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	require.Equal(t, "snapshot", s.Type)
	return s
}

// waitFor polls the Hub's snapshot until cond holds, failing after a
// deadline. step, if not nil, runs before each poll.
func waitFor(t testing.TB, client *http.Client, url, what string, step func(), cond func(snapshot) bool) snapshot {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last snapshot
	for {
		if step != nil {
			step()
		}
		last = getSnapshot(t, client, url)
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
