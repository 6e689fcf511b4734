package clusternats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/sources/active"
)

// mergeRules are the rules of the tests: one series name per merge.
var mergeRules = []Rule{
	{Pattern: "g_max", Merge: MergeMax},
	{Pattern: "g_min", Merge: MergeMin},
	{Pattern: "g_mean", Merge: MergeMean},
	{Pattern: "g_node", Merge: MergePerNode},
	{Pattern: "c_*", PerNode: true},
}

// threeReplicas starts replicas r1, r2, r3 on url, and sets on replica i
// (1-based) c_requests_total{path="/"} = 10·i, g_sum = i, g_max = 10·i,
// g_min = 10·i, g_mean = i and g_node = i.
func threeReplicas(t *testing.T, url string, opts Options) []*replica {
	rs := make([]*replica, 3)
	for i := range rs {
		n := float64(i + 1)
		r := newReplica(t, url, "r"+strconv.Itoa(i+1), opts, nil)
		r.counter("c_requests_total", pulse.Labels{"path": "/"}).Add(10 * n)
		r.gauge("g_sum").Set(n)
		r.gauge("g_max").Set(10 * n)
		r.gauge("g_min").Set(10 * n)
		r.gauge("g_mean").Set(n)
		r.gauge("g_node").Set(n)
		rs[i] = r
	}
	return rs
}

// converged are the merged values of threeReplicas.
var converged = map[string]float64{
	`c_requests_total{path="/"}`:           60,
	`c_requests_total{node="r1",path="/"}`: 10,
	`c_requests_total{node="r2",path="/"}`: 20,
	`c_requests_total{node="r3",path="/"}`: 30,
	"g_sum":                                6,
	"g_max":                                30,
	"g_min":                                10,
	"g_mean":                               2,
	`g_node{node="r1"}`:                    1,
	`g_node{node="r2"}`:                    2,
	`g_node{node="r3"}`:                    3,
	"pulse_cluster_peers":                  3,
}

// Three replicas, each with known values: every public Hub shows the exact
// merged values, by Snapshot and by a plain GET. Default PeerTimeout.
func TestMergeExact(t *testing.T) {
	srv := startNATS(t, -1)
	defer stopNATS(srv)
	rs := threeReplicas(t, srv.ClientURL(), Options{Rules: mergeRules})
	eventually(t, "merged view", func() string { return want(rs, converged, "g_node") })

	// The same over HTTP: a plain GET of the public Hub is its snapshot.
	ts := httptest.NewServer(rs[1].public)
	defer ts.Close()
	eventually(t, "GET", func() string {
		resp, err := http.Get(ts.URL)
		require.NoError(t, err)
		defer resp.Body.Close()
		var snap struct {
			Type   string             `json:"type"`
			Values map[string]float64 `json:"values"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&snap))
		require.Equal(t, "snapshot", snap.Type)
		for k, v := range converged {
			if snap.Values[k] != v {
				return fmt.Sprintf("%s = %v, want %v", k, snap.Values[k], v)
			}
		}
		return ""
	})

	// A machine loaded enough to keep a replica silent past its timeout
	// (three ticks here) makes it leave the view for a moment: the checks
	// wait for every replica to be live.
	for _, r := range rs {
		eventually(t, r.node+" peers", func() string {
			ps := r.cl.Peers()
			if len(ps) != 3 {
				return fmt.Sprintf("%d peers", len(ps))
			}
			for _, p := range ps {
				if !p.Live || p.Series != 6 { // c_requests_total and five gauges
					return fmt.Sprintf("%+v", p)
				}
			}
			return ""
		})
		for _, p := range r.cl.Peers() {
			require.Equal(t, p.Node == r.node, p.Self)
		}
		st := r.cl.Stats()
		require.Equal(t, r.node, st.Node)
		require.NotZero(t, st.MessagesIn)
		require.NotZero(t, st.MessagesOut)
		require.NotZero(t, st.BytesOut)
		require.NotZero(t, st.LastMessageBytes)
		require.Zero(t, st.Malformed)
		require.Zero(t, st.Foreign)
		require.NotZero(t, st.Interval, "the tick is measured")
		t.Logf("%s: last message %d bytes (one in %d carries the help texts in full), merge %v", r.node, st.LastMessageBytes, descEvery, st.LastMerge)
	}
	// Descriptions travel (in full one message in ten, by hash otherwise).
	v := rs[0].view()
	require.Equal(t, "a test gauge", v[`g_node{node="r3"}`].Help)
	require.Equal(t, "a test counter", v[`c_requests_total{node="r2",path="/"}`].Help)

	// The cluster's own series describe this replica.
	for _, name := range []string{"pulse_cluster_messages_in_total", "pulse_cluster_messages_out_total",
		"pulse_cluster_bytes_in_total", "pulse_cluster_bytes_out_total", "pulse_cluster_malformed_total",
		"pulse_cluster_foreign_total", "pulse_cluster_publish_errors_total", "pulse_cluster_expired_total",
		"pulse_cluster_message_bytes", "pulse_cluster_stale_series", "pulse_cluster_merge_seconds"} {
		require.Contains(t, v, name)
	}
	require.Equal(t, pulse.KindCounter, v["pulse_cluster_messages_in_total"].Kind)
	// View has the merged series, not the cluster's own.
	view := rs[0].cl.View()
	keys := map[string]bool{}
	for _, s := range view {
		keys[s.Key] = true
		require.False(t, s.Stale, s.Key)
	}
	require.True(t, keys["g_sum"])
	require.False(t, keys["pulse_cluster_peers"])
}

// A replica that stops leaves the gauges after its timeout; the counters
// keep its contribution, and stay monotonic.
func TestReplicaLeaves(t *testing.T) {
	srv := startNATS(t, -1)
	defer stopNATS(srv)
	rs := threeReplicas(t, srv.ClientURL(), Options{Rules: mergeRules, PeerTimeout: 400 * time.Millisecond})
	eventually(t, "merged view", func() string { return want(rs, converged) })
	stop := monitor(rs[0], `c_requests_total{path="/"}`)

	rs[2].stop()
	left := map[string]float64{
		`c_requests_total{path="/"}`:           60, // r3's 30 stays
		`c_requests_total{node="r1",path="/"}`: 10,
		"g_sum":                                3,
		"g_max":                                20,
		"g_min":                                10,
		"g_mean":                               1.5,
		`g_node{node="r1"}`:                    1,
		`g_node{node="r2"}`:                    2,
		"pulse_cluster_peers":                  2,
	}
	eventually(t, "r3 gone", func() string {
		return want(rs[:2], left, `g_node{node="r3"}`, `c_requests_total{node="r3",path="/"}`)
	})
	bad, ticks := stop()
	require.Empty(t, bad)
	require.NotZero(t, ticks)
	for _, r := range rs[:2] {
		// Expired counts r3, and any peer that a loaded machine kept
		// silent past the timeout for a moment.
		eventually(t, r.node+" stats", func() string {
			if st := r.cl.Stats(); st.Peers != 2 || st.Departed != 1 || st.Expired < 1 {
				return fmt.Sprintf("%+v", st)
			}
			return ""
		})
	}

	// More requests on the others still add up.
	rs[0].counter("c_requests_total", pulse.Labels{"path": "/"}).Add(5)
	eventually(t, "r1 counts", func() string { return want(rs[:2], map[string]float64{`c_requests_total{path="/"}`: 65}) })
}

// A replica restarting (same node id, new process: its counter starts from
// zero) and one replaced under a new node id keep the merged counter
// monotonic and exact on the others, and the rate settles at zero.
func TestReplicaRestart(t *testing.T) {
	srv := startNATS(t, -1)
	defer stopNATS(srv)
	opts := Options{Rules: mergeRules, PeerTimeout: 400 * time.Millisecond}
	rs := threeReplicas(t, srv.ClientURL(), opts)
	eventually(t, "merged view", func() string { return want(rs, converged) })
	key := `c_requests_total{path="/"}`
	stop := monitor(rs[0], key)

	// r2 restarts at once, before its peers notice it left: its new
	// counter counts from zero, on top of the 20 of its first life, even
	// though it is already past 20 (the new instance tells the restart).
	rs[1].stop()
	r2 := newReplica(t, srv.ClientURL(), "r2", opts, nil)
	r2.counter("c_requests_total", pulse.Labels{"path": "/"}).Add(25)
	others := []*replica{rs[0], rs[2]}
	eventually(t, "r2 restarted", func() string {
		return want(others, map[string]float64{key: 85, `c_requests_total{node="r2",path="/"}`: 25})
	})
	// The restarted replica knows only the current values.
	eventually(t, "r2's own view", func() string { return want([]*replica{r2}, map[string]float64{key: 65}) })

	// r2 is replaced by r4, under a new node id: r2 leaves the view with
	// its 45, r4 adds its 7.
	r2.stop()
	r4 := newReplica(t, srv.ClientURL(), "r4", opts, nil)
	r4.counter("c_requests_total", pulse.Labels{"path": "/"}).Add(7)
	eventually(t, "r4 replaced r2", func() string {
		return want(others, map[string]float64{key: 92, "pulse_cluster_peers": 3}, `c_requests_total{node="r2",path="/"}`)
	})

	// Nothing changes any more: the rate is zero.
	eventually(t, "rate settles", func() string {
		s := rs[0].view()[key]
		if !s.HasRate || s.Rate != 0 {
			return fmt.Sprintf("rate %v (has %v)", s.Rate, s.HasRate)
		}
		return ""
	})
	bad, ticks := stop()
	require.Empty(t, bad)
	require.NotZero(t, ticks)
}

// NATS restarting mid-run: each replica falls back to its own values
// (keeping the others' counters), counts its failed publishes, reconnects
// by itself and the views converge again.
func TestNATSRestart(t *testing.T) {
	srv := startNATS(t, -1)
	port := natsPort(srv)
	rs := threeReplicas(t, srv.ClientURL(), Options{Rules: mergeRules, PeerTimeout: 400 * time.Millisecond})
	eventually(t, "merged view", func() string { return want(rs, converged) })
	key := `c_requests_total{path="/"}`
	stop := monitor(rs[0], key)

	stopNATS(srv)
	for i, r := range rs {
		n := float64(i + 1)
		eventually(t, r.node+" alone", func() string {
			return want([]*replica{r}, map[string]float64{
				key: 60, "g_sum": n, "g_max": 10 * n, "g_mean": n, "pulse_cluster_peers": 1,
			})
		})
		eventually(t, r.node+" counts its failed publishes", func() string {
			if st := r.cl.Stats(); st.PublishErrors == 0 || st.LastError == nil {
				return fmt.Sprintf("%+v", st)
			}
			return ""
		})
	}
	// The public Hubs keep serving.
	ts := httptest.NewServer(rs[0].public)
	resp, err := http.Get(ts.URL)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()
	ts.Close()

	srv = startNATS(t, port)
	defer stopNATS(srv)
	eventually(t, "healed", func() string { return want(rs, converged) })
	bad, _ := stop()
	require.Empty(t, bad)
}

// A malformed message and a foreign one (another cluster, another
// version, invalid names) are counted and ignored.
func TestMalformedAndForeign(t *testing.T) {
	srv := startNATS(t, -1)
	defer stopNATS(srv)
	rs := threeReplicas(t, srv.ClientURL(), Options{Rules: mergeRules})
	eventually(t, "merged view", func() string { return want(rs, converged) })

	raw := connect(t, srv.ClientURL(), "intruder")
	defer raw.Close()
	var enc encoder
	samples := []pulse.Sample{{Metric: pulse.Metric{Name: "g_sum", Value: 1000}, Key: "g_sum"}}
	foreign, err := enc.encode(&header{cluster: "other", node: "x", instance: 1, seq: 1}, samples, nil)
	require.NoError(t, err)
	foreign = append([]byte(nil), foreign...)
	v2 := append([]byte(nil), foreign...)
	v2[2] = 2 // a future version
	badName := []pulse.Sample{{Metric: pulse.Metric{Name: "bad name", Value: 1}, Key: "bad name"}}
	invalid, err := enc.encode(&header{cluster: "test", node: "y", instance: 1, seq: 1}, badName, nil)
	require.NoError(t, err)
	invalid = append([]byte(nil), invalid...)

	subj := Subject("test")
	require.NoError(t, raw.Publish(subj, []byte(`{"not":"ours"}`))) // malformed
	require.NoError(t, raw.Publish(subj, invalid))                  // malformed: invalid name
	require.NoError(t, raw.Publish(subj, foreign))                  // foreign: other cluster
	require.NoError(t, raw.Publish(subj, v2))                       // foreign: other version
	require.NoError(t, raw.Flush())

	for _, r := range rs {
		eventually(t, r.node+" counted", func() string {
			if st := r.cl.Stats(); st.Malformed != 2 || st.Foreign != 2 {
				return fmt.Sprintf("malformed %d, foreign %d", st.Malformed, st.Foreign)
			}
			return ""
		})
		require.Error(t, r.cl.Stats().LastError)
	}
	// The view is unchanged, and the intruders are not peers.
	eventually(t, "unchanged", func() string {
		return want(rs, map[string]float64{"g_sum": 6, "pulse_cluster_peers": 3, "pulse_cluster_malformed_total": 2, "pulse_cluster_foreign_total": 2})
	})
	for _, r := range rs {
		require.Len(t, r.cl.Peers(), 3)
	}
}

// Active users seen on two replicas are counted once, in total and per
// page.
func TestActiveUsers(t *testing.T) {
	srv := startNATS(t, -1)
	defer stopNATS(srv)
	visits := [][][2]string{
		{{"alice", "/a"}, {"bob", "/a"}}, // r1
		{{"bob", "/a"}, {"carol", "/b"}}, // r2: bob again
		nil,                              // r3: nobody
	}
	rs := make([]*replica, 3)
	for i := range rs {
		tr, err := active.New(active.Options{Label: "page"})
		require.NoError(t, err)
		for _, v := range visits[i] {
			tr.SeenOn(v[0], v[1])
		}
		rs[i] = newReplica(t, srv.ClientURL(), "r"+strconv.Itoa(i+1), Options{
			ActiveUsers: []*active.Tracker{tr},
			Rules:       []Rule{{Pattern: "active_users", PerNode: true}},
		}, func(local *pulse.Hub) {
			require.NoError(t, local.Register(tr, pulse.SourceOptions{Name: "active_users"}))
		})
	}
	eventually(t, "distinct visitors", func() string {
		return want(rs, map[string]float64{
			"active_users":            3, // not 4
			`active_users{page="/a"}`: 2, // not 3
			`active_users{page="/b"}`: 1,
			`active_users{node="r1"}`: 2, // per node: each replica's own count
			`active_users{node="r2"}`: 2,
			`active_users{node="r3"}`: 0,
			"pulse_cluster_peers":     3,
		})
	})
	require.Equal(t, "users", rs[2].view()["active_users"].Unit)
}

// A series is stale in the merged view when every replica's sample of it
// is; Stats and pulse_cluster_stale_series count them.
func TestStale(t *testing.T) {
	srv := startNATS(t, -1)
	defer stopNATS(srv)
	var fail [2]atomic.Bool
	rs := make([]*replica, 2)
	for i := range rs {
		rs[i] = newReplica(t, srv.ClientURL(), "r"+strconv.Itoa(i+1), Options{}, func(local *pulse.Hub) {
			src := pulse.SourceFunc(func(context.Context) ([]pulse.Metric, error) {
				if fail[i].Load() {
					return nil, errors.New("backend down")
				}
				return []pulse.Metric{{Name: "queue_length", Value: 4}}, nil
			})
			require.NoError(t, local.Register(src, pulse.SourceOptions{Name: "queue", StaleAfter: 1}))
		})
	}
	staleOf := func(r *replica) (bool, bool) {
		for _, s := range r.cl.View() {
			if s.Key == "queue_length" {
				return s.Stale, true
			}
		}
		return false, false
	}
	check := func(wantStale bool) func() string {
		return func() string {
			for _, r := range rs {
				stale, ok := staleOf(r)
				if !ok || stale != wantStale || (r.cl.Stats().StaleSeries == 1) != wantStale {
					return fmt.Sprintf("%s: present %v, stale %v", r.node, ok, stale)
				}
				if v := r.view()["queue_length"]; v.Value != 8 {
					return fmt.Sprintf("%s: queue_length %v", r.node, v.Value)
				}
			}
			return ""
		}
	}
	eventually(t, "fresh", check(false))
	fail[0].Store(true)
	eventually(t, "one stale source: fresh", check(false))
	fail[1].Store(true)
	eventually(t, "all stale", check(true))
	eventually(t, "counted", func() string {
		return want(rs, map[string]float64{"pulse_cluster_stale_series": 1})
	})
	fail[0].Store(false)
	eventually(t, "fresh again", check(false))
}

// Close unregisters the merged view and unsubscribes; a second Close is a
// no-op; the NATS connection stays the host's.
func TestClose(t *testing.T) {
	srv := startNATS(t, -1)
	defer stopNATS(srv)
	r := newReplica(t, srv.ClientURL(), "r1", Options{}, nil)
	r.gauge("g_sum").Set(1)
	eventually(t, "view", func() string { return want([]*replica{r}, map[string]float64{"g_sum": 1}) })

	// The source name is taken while joined.
	_, err := Join(r.nc, r.local, r.public, Options{Cluster: "test", Node: "other"})
	require.ErrorIs(t, err, pulse.ErrDuplicateSource)

	require.NoError(t, r.cl.Close())
	require.NoError(t, r.cl.Close())
	require.False(t, r.cl.sub.IsValid())
	require.True(t, r.nc.IsConnected())
	eventually(t, "series removed", func() string { return want([]*replica{r}, nil, "g_sum", "pulse_cluster_peers") })
	out := r.cl.Stats().MessagesOut
	// The public Hub ticks on; nothing more is published.
	seq, _, _ := r.public.Snapshot()
	eventually(t, "a few ticks", func() string {
		if s, _, _ := r.public.Snapshot(); s < seq+3 {
			return "waiting"
		}
		return ""
	})
	require.Equal(t, out, r.cl.Stats().MessagesOut)
	require.Empty(t, r.cl.View())

	// The source name is free again.
	cl, err := Join(r.nc, r.local, r.public, Options{Cluster: "test", Node: "r1"})
	require.NoError(t, err)
	require.NoError(t, cl.Close())
}

// Join's defaults and its refusals.
func TestJoinOptions(t *testing.T) {
	local, err := pulse.NewHub(pulse.Options{Interval: tick})
	require.NoError(t, err)
	defer local.Close()
	public, err := pulse.NewHub(pulse.Options{Interval: tick})
	require.NoError(t, err)
	defer public.Close()
	nc := &nats.Conn{} // never used: every case fails before

	for name, tc := range map[string]struct {
		nc            *nats.Conn
		local, public *pulse.Hub
		opts          Options
	}{
		"nil conn":        {nil, local, public, Options{Cluster: "a"}},
		"nil hub":         {nc, nil, public, Options{Cluster: "a"}},
		"same hub":        {nc, local, local, Options{Cluster: "a"}},
		"no cluster":      {nc, local, public, Options{}},
		"dot in cluster":  {nc, local, public, Options{Cluster: "a.b"}},
		"star in cluster": {nc, local, public, Options{Cluster: "*"}},
		"long node":       {nc, local, public, Options{Cluster: "a", Node: string(make([]byte, 200))}},
		"bad node utf8":   {nc, local, public, Options{Cluster: "a", Node: "\xff"}},
		"negative to":     {nc, local, public, Options{Cluster: "a", PeerTimeout: -1}},
		"bad pattern":     {nc, local, public, Options{Cluster: "a", Rules: []Rule{{Pattern: "a b"}}}},
		"empty pattern":   {nc, local, public, Options{Cluster: "a", Rules: []Rule{{}}}},
		"bad merge":       {nc, local, public, Options{Cluster: "a", Rules: []Rule{{Pattern: "a", Merge: 99}}}},
		"bad gauges":      {nc, local, public, Options{Cluster: "a", Gauges: 99}},
		"bad node label":  {nc, local, public, Options{Cluster: "a", NodeLabel: "__x"}},
		"nil tracker":     {nc, local, public, Options{Cluster: "a", ActiveUsers: []*active.Tracker{nil}}},
		"negative peers":  {nc, local, public, Options{Cluster: "a", MaxPeers: -1}},
	} {
		_, err := Join(tc.nc, tc.local, tc.public, tc.opts)
		require.ErrorIs(t, err, ErrInvalidOptions, name)
	}
	tr, err := active.New(active.Options{})
	require.NoError(t, err)
	_, err = Join(nc, local, public, Options{Cluster: "a", ActiveUsers: []*active.Tracker{tr, tr}})
	require.ErrorIs(t, err, ErrInvalidOptions)

	o, err := Options{Cluster: "shop"}.withDefaults()
	require.NoError(t, err)
	host, _ := os.Hostname()
	require.Equal(t, host+"-"+strconv.Itoa(os.Getpid()), o.Node)
	require.Equal(t, MergeSum, o.Gauges)
	require.Equal(t, "node", o.NodeLabel)
	require.Equal(t, "cluster", o.SourceName)
	require.Equal(t, 1000, o.MaxPeers)
	require.Equal(t, "pulse.shop.samples", Subject("shop"))
	for m, s := range map[Merge]string{MergeDefault: "default", MergeSum: "sum", MergeMax: "max", MergeMin: "min", MergeMean: "mean", MergePerNode: "per-node", 9: "Merge(9)"} {
		require.Equal(t, s, m.String())
	}
}
