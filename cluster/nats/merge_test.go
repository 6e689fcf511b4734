package clusternats

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/sources/active"
)

// bare is a Cluster without NATS or Hubs: the tests feed it messages
// through receive and run merge themselves, deterministically.
type bare struct {
	*Cluster
	t   *testing.T
	enc encoder

	clockMu sync.Mutex
	clock   time.Time
}

func newBare(t *testing.T, opts Options) *bare {
	opts.Cluster = "test"
	if opts.Node == "" {
		opts.Node = "self"
	}
	o, err := opts.withDefaults()
	require.NoError(t, err)
	c := &Cluster{
		opts:     o,
		instance: 1,
		joined:   time.Now(),
		warm:     true,
		st: mergeState{
			peers:  make(map[string]*peer),
			totals: make(map[string]*total),
			aggs:   make(map[string]*agg),
			unions: make(map[string]*union),
			rules:  make(map[string]resolved),
		},
	}
	c.self = &peer{node: o.Node, self: true, live: true, instance: 1}
	c.st.peers[o.Node] = c.self
	b := &bare{Cluster: c, t: t, clock: time.Now()}
	c.now = func() time.Time {
		b.clockMu.Lock()
		defer b.clockMu.Unlock()
		return b.clock
	}
	return b
}

// at sets the clock.
func (b *bare) at(t time.Time) {
	b.clockMu.Lock()
	b.clock = t
	b.clockMu.Unlock()
}

// feed delivers a message of node as NATS would.
func (b *bare) feed(node string, instance, seq uint64, samples ...pulse.Sample) {
	b.t.Helper()
	data, err := b.enc.encode(&header{cluster: "test", node: node, instance: instance, seq: seq, interval: time.Second}, samples, nil)
	require.NoError(b.t, err)
	b.receive(&nats.Msg{Data: append([]byte(nil), data...)})
}

// tick sets the clock to now and merges, as a collection would, and
// returns the values.
func (b *bare) tick(now time.Time) map[string]float64 {
	b.at(now)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	out := map[string]float64{}
	for _, m := range b.merge() {
		out[m.Key()] = m.Value
	}
	return out
}

func counter(name string, v float64) pulse.Sample { return sample(name, pulse.KindCounter, v, nil) }
func gauge(name string, v float64) pulse.Sample   { return sample(name, pulse.KindGauge, v, nil) }

func TestCounterMonotonic(t *testing.T) {
	b := newBare(t, Options{PeerTimeout: time.Second})
	now := b.now()
	b.self.samples = []pulse.Sample{counter("req", 100)}
	b.feed("a", 1, 1, counter("req", 10))
	require.Equal(t, 110.0, b.tick(now)["req"])

	b.feed("a", 1, 2, counter("req", 15)) // +5
	require.Equal(t, 115.0, b.tick(now)["req"])
	b.feed("a", 1, 3, counter("req", 3)) // reset: +3
	require.Equal(t, 118.0, b.tick(now)["req"])
	b.feed("a", 1, 3, counter("req", 1000)) // not newer than seq 3: ignored
	require.Equal(t, 118.0, b.tick(now)["req"])
	b.feed("a", 2, 1, counter("req", 9)) // new instance, past the last value: +9
	require.Equal(t, 127.0, b.tick(now)["req"])
	b.feed("a", 2, 2, counter("req", math.NaN())) // ignored
	require.Equal(t, 127.0, b.tick(now)["req"])

	// a leaves: its 9 stays.
	later := now.Add(2 * time.Hour).Add(-time.Minute)
	got := b.tick(later)
	require.Equal(t, 127.0, got["req"])
	require.Equal(t, 1, b.Stats().Peers)
	require.Equal(t, 1, b.Stats().Departed)
	// and comes back (a partition healed) with its counter a little
	// further: only the increase is added.
	b.at(later)
	b.feed("a", 2, 3, counter("req", 12))
	require.Equal(t, 130.0, b.tick(later)["req"])

	// Self's own counter resets (a new local counter): +1.
	b.self.samples = []pulse.Sample{counter("req", 1)}
	require.Equal(t, 131.0, b.tick(later)["req"])
}

func TestDepartedForgotten(t *testing.T) {
	b := newBare(t, Options{PeerTimeout: time.Second})
	now := b.now()
	b.self.samples = []pulse.Sample{counter("req", 1)}
	b.feed("a", 1, 1, counter("req", 10), counter("only_a", 5), gauge("g", 2))
	got := b.tick(now)
	require.Equal(t, map[string]float64{"req": 11, "only_a": 5, "g": 2}, got)

	// a leaves: its gauge goes, its counters stay in the sums, but a
	// counter no live replica reports goes too.
	got = b.tick(now.Add(2 * time.Second))
	require.Equal(t, map[string]float64{"req": 11}, got)
	require.Equal(t, uint64(1), b.Stats().Expired)

	// Past the retention a is forgotten; its contribution is not.
	got = b.tick(now.Add(time.Hour))
	require.Equal(t, map[string]float64{"req": 11}, got)
	require.Equal(t, 0, b.Stats().Departed)
	require.Len(t, b.Peers(), 1)
	// Coming back after that, it is a new replica: counted in full.
	b.at(now.Add(time.Hour))
	b.feed("a", 1, 2, counter("req", 10), counter("only_a", 5))
	got = b.tick(now.Add(time.Hour))
	require.Equal(t, map[string]float64{"req": 21, "only_a": 5}, got)
}

func TestGaugeMerges(t *testing.T) {
	b := newBare(t, Options{
		Gauges: MergeMax,
		Rules: []Rule{
			{Pattern: "s_*", Merge: MergeSum},
			{Pattern: "mean", Merge: MergeMean, PerNode: true},
			{Pattern: "min", Merge: MergeMin},
			{Pattern: "node", Merge: MergePerNode},
			{Pattern: "cmax", Merge: MergeMax}, // a counter: summed anyway
		},
		NodeLabel: "replica",
	})
	b.self.samples = []pulse.Sample{gauge("s_x", 1), gauge("mean", 1), gauge("min", 5), gauge("other", 1),
		sample("node", pulse.KindGauge, 1, pulse.Labels{"replica": "overwritten", "k": "v"}), counter("cmax", 1)}
	b.feed("a", 1, 1, gauge("s_x", 2), gauge("mean", 2), gauge("min", 3), gauge("other", 7),
		sample("node", pulse.KindGauge, 2, pulse.Labels{"k": "v"}), counter("cmax", 2))
	b.feed("b", 1, 1, gauge("s_x", 3), gauge("mean", 6), gauge("min", 4), gauge("other", 3), counter("cmax", 3))
	got := b.tick(time.Now())
	require.Equal(t, map[string]float64{
		"s_x":                        6,
		"mean":                       3,
		`mean{replica="a"}`:          2,
		`mean{replica="b"}`:          6,
		`mean{replica="self"}`:       1,
		"min":                        3,
		"other":                      7, // Options.Gauges: max
		`node{k="v",replica="a"}`:    2,
		`node{k="v",replica="self"}`: 1,
		"cmax":                       6,
	}, got)
}

func TestKindConflict(t *testing.T) {
	b := newBare(t, Options{})
	b.self.samples = nil
	b.feed("b", 1, 1, gauge("x", 5))
	b.feed("a", 1, 1, counter("x", 3)) // "a" sorts first: its kind wins
	got := b.tick(time.Now())
	require.Equal(t, map[string]float64{"x": 3}, got)
	v := b.View()
	require.Len(t, v, 1)
	require.Equal(t, pulse.KindCounter, v[0].Kind)
}

func TestReceiveRefusals(t *testing.T) {
	b := newBare(t, Options{MaxPeers: 2}) // self and one peer
	b.feed("self", 1, 1, gauge("g", 1))   // our own message, echoed: ignored
	require.Zero(t, b.Stats().Foreign)
	b.feed("self", 2, 1, gauge("g", 1)) // another process with our node id
	require.Equal(t, uint64(1), b.Stats().Foreign)
	require.ErrorContains(t, b.Stats().LastError, "node id")
	b.feed("a", 1, 1, gauge("g", 1))
	b.feed("b", 1, 1, gauge("g", 1)) // past MaxPeers
	require.Equal(t, uint64(2), b.Stats().Foreign)
	require.Equal(t, uint64(1), b.Stats().MessagesIn)
	b.receive(&nats.Msg{Data: []byte("garbage")})
	require.Equal(t, uint64(1), b.Stats().Malformed)

	b.closed.Store(true) // after Close, nothing is taken
	b.feed("a", 1, 2, gauge("g", 1))
	require.Equal(t, uint64(1), b.Stats().MessagesIn)
}

func TestSketchUnion(t *testing.T) {
	mk := func(ids ...string) userSketches {
		tr, err := active.New(active.Options{Name: "visitors", Label: "page"})
		require.NoError(t, err)
		for _, id := range ids {
			tr.SeenOn(id, "/"+id[:1])
		}
		total, byValue := tr.Sketches()
		return newUserSketches(tr.Name(), tr.Label(), total, byValue)
	}
	b := newBare(t, Options{})
	b.self.users = []userSketches{mk("ann", "bob")}
	// self's local Hub reports the sums, which the union replaces; a peer
	// without sketches (an older version) is added to the union.
	b.self.samples = []pulse.Sample{gauge("visitors", 2), sample("visitors", pulse.KindGauge, 1, pulse.Labels{"page": "/a"})}
	var enc encoder
	data, err := enc.encode(&header{cluster: "test", node: "a", instance: 1, seq: 1}, []pulse.Sample{gauge("visitors", 2)}, []userSketches{mk("bob", "cid")})
	require.NoError(t, err)
	b.receive(&nats.Msg{Data: data})
	b.feed("old", 1, 1, gauge("visitors", 10))
	got := b.tick(time.Now())
	require.Equal(t, map[string]float64{
		"visitors":            3 + 10,
		`visitors{page="/a"}`: 1,
		`visitors{page="/b"}`: 1,
		`visitors{page="/c"}`: 1,
	}, got)
}
