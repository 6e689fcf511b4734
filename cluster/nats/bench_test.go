package clusternats

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/sources/active"
	runtimesource "github.com/go-pulse/pulse/sources/runtime"
)

// benchPages are the pages of the simulated service.
var benchPages = []string{"/", "/shop", "/cart", "/checkout", "/search", "/blog", "/about", "/login", "/api/items", "/api/orders"}

// benchVisitors is the number of active users per replica; consecutive
// replicas share half of theirs.
const benchVisitors = 1000

// benchLocal returns a local Hub with the series of a typical replica: the
// Go runtime's metrics (sources/runtime), requests and errors per page
// (counters), requests in flight and latency per page (gauges), and active
// users per page (sources/active, with benchVisitors visitors), and its
// tracker. It waits for the Hub's first collection of them.
func benchLocal(b testing.TB, replica int) (*pulse.Hub, *active.Tracker) {
	local, err := pulse.NewHub(pulse.Options{Interval: 20 * time.Millisecond, History: -1})
	require.NoError(b, err)
	rt, err := runtimesource.New()
	require.NoError(b, err)
	require.NoError(b, local.Register(rt, pulse.SourceOptions{Name: "runtime"}))
	tr := benchTracker(b, replica)
	require.NoError(b, local.Register(tr, pulse.SourceOptions{Name: "active_users"}))
	for _, p := range benchPages {
		l := pulse.Labels{"path": p}
		req := pulse.NewCounter("http_requests_total", pulse.WithLabels(l), pulse.WithHelp("Requests served"), pulse.WithUnit("requests"))
		req.Add(1000)
		errs := pulse.NewCounter("http_errors_total", pulse.WithLabels(l), pulse.WithHelp("Requests failed"), pulse.WithUnit("requests"))
		errs.Add(3)
		inflight := pulse.NewGauge("http_requests_in_flight", pulse.WithLabels(l), pulse.WithHelp("Requests being served"))
		inflight.Set(2)
		lat := pulse.NewGauge("http_request_duration_seconds", pulse.WithLabels(l), pulse.WithHelp("p90 latency"), pulse.WithUnit("seconds"))
		lat.Set(0.012)
		for _, src := range []pulse.MetricSource{req, errs, inflight, lat} {
			require.NoError(b, local.Register(src, pulse.SourceOptions{}))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, s := local.Snapshot()
		runtimeSeries, users := 0, false
		for _, x := range s {
			if strings.HasPrefix(x.Name, "go_") {
				runtimeSeries++
			}
			users = users || x.Name == "active_users"
		}
		if runtimeSeries > 40 && users && len(s) > runtimeSeries+4*len(benchPages) {
			break
		}
		require.True(b, time.Now().Before(deadline), "local Hub never collected")
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling for an event with a deadline
	}
	return local, tr
}

func benchTracker(b testing.TB, replica int) *active.Tracker {
	tr, err := active.New(active.Options{Label: "page"})
	require.NoError(b, err)
	for i := range benchVisitors {
		id := replica*benchVisitors/2 + i
		tr.SeenOn("visitor-"+strconv.Itoa(id), benchPages[id%len(benchPages)])
	}
	return tr
}

var benchRules = []Rule{
	{Pattern: "http_requests_total", PerNode: true},
	{Pattern: "http_request_duration_seconds", Merge: MergeMax},
}

// BenchmarkCluster measures one replica's collection (its local snapshot,
// sketches, encoding, publishing, and the merge of every replica's latest
// samples) per tick, with N replicas: one real Cluster, and N-1 simulated
// peers publishing, on each tick, a message of the same series (with their
// own values and visitors) to one in-process NATS server. It reports the
// bytes of one replica's message per tick, the bytes a replica receives per
// tick, and the series of the merged view.
//
//	go test -run '^$' -bench Cluster -benchmem ./cluster/nats/
//
// With users=false, the replicas do not ship the sketches of their active
// users (their series are then summed like other gauges).
func BenchmarkCluster(b *testing.B) {
	for _, n := range []int{3, 10, 50} {
		for _, users := range []bool{true, false} {
			b.Run(fmt.Sprintf("replicas=%d/users=%v", n, users), func(b *testing.B) { benchCluster(b, n, users) })
		}
	}
}

func benchCluster(b *testing.B, n int, withUsers bool) {
	srv := startNATS(b, -1)
	defer stopNATS(srv)
	local, tr := benchLocal(b, 0)
	defer local.Close()
	public, err := pulse.NewHub(pulse.Options{Interval: time.Hour, History: -1}) // the benchmark collects
	require.NoError(b, err)
	defer public.Close()
	nc := connect(b, srv.ClientURL(), "n00")
	defer nc.Close()
	opts := Options{Cluster: "bench", Node: "n00", Rules: benchRules, PeerTimeout: time.Hour}
	if withUsers {
		opts.ActiveUsers = []*active.Tracker{tr}
	}
	cl, err := Join(nc, local, public, opts)
	require.NoError(b, err)
	defer cl.Close()
	cl.mu.Lock()
	cl.warm = true
	cl.mu.Unlock()

	// The simulated peers: same series, their own values and visitors.
	_, _, samples := local.Snapshot()
	peers := newSimPeers(b, srv.ClientURL(), n-1, samples, withUsers)
	defer func() {
		for _, p := range peers {
			p.nc.Close()
		}
	}()
	ctx := context.Background()
	var ms []pulse.Metric
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for _, p := range peers {
			p.publishTick(b)
		}
		for _, p := range peers {
			require.NoError(b, p.nc.Flush())
		}
		want := uint64(i+1) * uint64(n-1)
		deadline := time.Now().Add(10 * time.Second)
		for cl.stats.msgsIn.Load() < want {
			require.True(b, time.Now().Before(deadline), "peers' messages not received")
			runtime.Gosched()
		}
		b.StartTimer()
		ms, err = cl.collect(ctx)
		require.NoError(b, err)
	}
	b.StopTimer()
	st := cl.Stats()
	require.Equal(b, n, st.Peers)
	require.Zero(b, st.Malformed+st.Foreign+st.PublishErrors)
	// Averaged over the messages: one in descEvery carries the units and
	// help texts in full.
	perMsg := float64(st.BytesOut) / float64(st.MessagesOut)
	b.ReportMetric(perMsg, "B/msg")
	b.ReportMetric(perMsg*float64(n-1), "B-in/tick")
	b.ReportMetric(float64(len(samples)), "series/replica")
	b.ReportMetric(float64(len(ms)), "series-merged")
}

// simPeer is a simulated replica of benchCluster: it publishes the local
// Hub's series with its own values and visitors.
type simPeer struct {
	nc    *nats.Conn
	enc   encoder
	h     header
	users []userSketches
	vals  []pulse.Sample
}

// newSimPeers connects n simulated peers, n01 to nn, to the NATS server at
// url; the caller closes their connections.
func newSimPeers(b *testing.B, url string, n int, samples []pulse.Sample, withUsers bool) []*simPeer {
	peers := make([]*simPeer, n)
	for i := range peers {
		t := benchTracker(b, i+1)
		total, byValue := t.Sketches()
		p := &simPeer{
			nc:   connect(b, url, "sim"),
			h:    header{cluster: "bench", node: fmt.Sprintf("n%02d", i+1), instance: uint64(i + 1), interval: time.Second},
			vals: append([]pulse.Sample(nil), samples...),
		}
		if withUsers {
			p.users = []userSketches{newUserSketches(t.Name(), t.Label(), total, byValue)}
		}
		peers[i] = p
	}
	return peers
}

// publishTick publishes p's next message: its counters one higher.
func (p *simPeer) publishTick(b *testing.B) {
	p.h.seq++
	for j := range p.vals {
		if p.vals[j].Kind == pulse.KindCounter {
			p.vals[j].Value++
		}
	}
	data, err := p.enc.encode(&p.h, p.vals, p.users)
	require.NoError(b, err)
	require.NoError(b, p.nc.Publish(Subject("bench"), data))
}

// BenchmarkDecode measures the decoding of one message of a typical
// replica (see benchLocal), with its descriptions by hash, which each
// replica does for each peer's message on its subscription's goroutine.
//
//	go test -run '^$' -bench Decode -benchmem ./cluster/nats/
func BenchmarkDecode(b *testing.B) {
	local, tr := benchLocal(b, 0)
	defer local.Close()
	_, _, samples := local.Snapshot()
	total, byValue := tr.Sketches()
	for _, withUsers := range []bool{true, false} {
		b.Run(fmt.Sprintf("users=%v", withUsers), func(b *testing.B) {
			var users []userSketches
			if withUsers {
				users = []userSketches{newUserSketches(tr.Name(), tr.Label(), total, byValue)}
			}
			var enc encoder
			data, err := enc.encode(&header{cluster: "bench", node: "n01", instance: 1, seq: 2}, samples, users)
			require.NoError(b, err)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := decode(data, "bench"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(data)), "B/msg")
			b.ReportMetric(float64(len(samples)), "series")
		})
	}
}
