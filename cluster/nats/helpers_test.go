package clusternats

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/leakcheck"
)

// TestMain fails the run when any goroutine outlives the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 10*time.Second)) }

// tick is the Interval of the test Hubs.
const tick = 50 * time.Millisecond

// waitTimeout bounds every wait for the cluster to converge. Generous: the
// race detector and a loaded machine slow everything down, and a test
// waits only as long as it takes.
const waitTimeout = 20 * time.Second

// startNATS starts an in-process NATS server, without disk, on 127.0.0.1 and
// port (-1: a random one). The caller shuts it down (see stopNATS).
func startNATS(t testing.TB, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, MaxPayload: 4 << 20})
	require.NoError(t, err)
	s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second), "NATS server not ready")
	return s
}

func stopNATS(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

func natsPort(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// connect opens a NATS connection that reconnects forever, quickly: the
// host's job, not the library's.
func connect(t testing.TB, url, name string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.RetryOnFailedConnect(true),
	)
	require.NoError(t, err)
	return nc
}

// replica is one replica of a test cluster: a local Hub with the
// application's values, a public Hub with the merged view.
type replica struct {
	t      testing.TB
	node   string
	local  *pulse.Hub
	public *pulse.Hub
	nc     *nats.Conn
	cl     *Cluster

	mu       sync.Mutex
	counters map[string]*pulse.Counter
	gauges   map[string]*pulse.Gauge
	once     sync.Once
}

// newReplica starts a replica named node on the NATS server at url. Join
// gets opts with Cluster "test" and Node node unless set; setup, if not
// nil, registers more sources on the local Hub first.
func newReplica(t testing.TB, url, node string, opts Options, setup func(local *pulse.Hub)) *replica {
	t.Helper()
	r := &replica{t: t, node: node, counters: map[string]*pulse.Counter{}, gauges: map[string]*pulse.Gauge{}}
	var err error
	r.local, err = pulse.NewHub(pulse.Options{Interval: tick, History: -1})
	require.NoError(t, err)
	r.public, err = pulse.NewHub(pulse.Options{Interval: tick, History: -1})
	require.NoError(t, err)
	if setup != nil {
		setup(r.local)
	}
	r.nc = connect(t, url, node)
	if opts.Cluster == "" {
		opts.Cluster = "test"
	}
	if opts.Node == "" {
		opts.Node = node
	}
	r.cl, err = Join(r.nc, r.local, r.public, opts)
	require.NoError(t, err)
	t.Cleanup(r.stop)
	return r
}

// counter returns the local counter name{labels}, registering it.
func (r *replica) counter(name string, labels pulse.Labels) *pulse.Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := (&pulse.Metric{Name: name, Labels: labels}).Key()
	c := r.counters[key]
	if c == nil {
		c = pulse.NewCounter(name, pulse.WithLabels(labels), pulse.WithHelp("a test counter"))
		require.NoError(r.t, r.local.Register(c, pulse.SourceOptions{Name: "c:" + key}))
		r.counters[key] = c
	}
	return c
}

// gauge returns the local gauge name, registering it.
func (r *replica) gauge(name string) *pulse.Gauge {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.gauges[name]
	if g == nil {
		g = pulse.NewGauge(name, pulse.WithHelp("a test gauge"))
		require.NoError(r.t, r.local.Register(g, pulse.SourceOptions{Name: "g:" + name}))
		r.gauges[name] = g
	}
	return g
}

// stop closes the replica: the Cluster, then the NATS connection and the
// Hubs. Safe to call twice.
func (r *replica) stop() {
	r.once.Do(func() {
		require.NoError(r.t, r.cl.Close())
		r.nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(r.t, r.public.Shutdown(ctx))
		require.NoError(r.t, r.local.Shutdown(ctx))
	})
}

// view returns the public Hub's last snapshot by key.
func (r *replica) view() map[string]pulse.Sample {
	_, _, samples := r.public.Snapshot()
	m := make(map[string]pulse.Sample, len(samples))
	for _, s := range samples {
		m[s.Key] = s
	}
	return m
}

// eventually polls cond until it returns "" (nothing left to wait for), or
// fails the test with its last answer after waitTimeout.
func eventually(t testing.TB, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %v: %s", what, waitTimeout, msg)
		}
		<-poll.C
	}
}

// want checks that every key of expect has that value in the public view
// of every replica in rs, and that no key of absent is there. It returns
// "" when so, else what differs.
func want(rs []*replica, expect map[string]float64, absent ...string) string {
	for _, r := range rs {
		v := r.view()
		for k, e := range expect {
			s, ok := v[k]
			if !ok {
				return fmt.Sprintf("%s: %s missing", r.node, k)
			}
			if s.Value != e {
				return fmt.Sprintf("%s: %s = %v, want %v", r.node, k, s.Value, e)
			}
		}
		for _, k := range absent {
			if _, ok := v[k]; ok {
				return fmt.Sprintf("%s: %s present", r.node, k)
			}
		}
	}
	return ""
}

// monitor records every value of key seen on r's public Hub and reports a
// decrease. Stop it with the returned function, which returns the first
// decrease seen (or "") and the number of distinct ticks observed.
func monitor(r *replica, key string) (stop func() (string, int)) {
	done := make(chan struct{})
	var (
		wg    sync.WaitGroup
		bad   string
		ticks int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		poll := time.NewTicker(2 * time.Millisecond)
		defer poll.Stop()
		var lastSeq uint64
		last, seen := 0.0, false
		for {
			select {
			case <-done:
				return
			case <-poll.C:
			}
			seq, _, samples := r.public.Snapshot()
			if seq == lastSeq {
				continue
			}
			lastSeq = seq
			ticks++
			for _, s := range samples {
				if s.Key != key {
					continue
				}
				if seen && s.Value < last && bad == "" {
					bad = fmt.Sprintf("%s went down from %v to %v at seq %d", key, last, s.Value, seq)
				}
				if s.HasRate && s.Rate < 0 && bad == "" {
					bad = fmt.Sprintf("%s has a negative rate %v at seq %d", key, s.Rate, seq)
				}
				last, seen = s.Value, true
			}
		}
	}()
	return func() (string, int) {
		close(done)
		wg.Wait()
		return bad, ticks
	}
}
