package clusternats

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/axiomhq/hyperloglog"
	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/sources/active"
)

func sample(name string, kind pulse.Kind, v float64, labels pulse.Labels) pulse.Sample {
	s := pulse.Sample{Metric: pulse.Metric{Name: name, Kind: kind, Value: v, Labels: labels}}
	s.Key = s.Metric.Key()
	return s
}

func testSamples() []pulse.Sample {
	a := sample("http_requests_total", pulse.KindCounter, 12, pulse.Labels{"path": "/", "code": "200"})
	a.Help, a.Unit = "Requests served", "requests"
	b := a
	b.Labels = pulse.Labels{"path": "/about", "code": "404"}
	b.Key, b.Value = b.Metric.Key(), 3
	c := sample("queue_length", pulse.KindGauge, math.NaN(), nil)
	c.Stale = true
	d := sample("temperature", pulse.KindGauge, math.Inf(-1), pulse.Labels{"room": "é\"\n"})
	// Same name, another description: a group of its own.
	e := sample("http_requests_total", pulse.KindCounter, 1, pulse.Labels{"path": "/x"})
	e.Help = "other help"
	return []pulse.Sample{a, c, b, d, e}
}

func testUsers(t testing.TB) []userSketches {
	tr, err := active.New(active.Options{Label: "page"})
	require.NoError(t, err)
	tr.SeenOn("alice", "/a")
	tr.SeenOn("bob", "/b")
	total, byValue := tr.Sketches()
	return []userSketches{newUserSketches(tr.Name(), tr.Label(), total, byValue)}
}

func sortedByKey(s []pulse.Sample) []pulse.Sample {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b pulse.Sample) int { return strings.Compare(a.Key, b.Key) })
	return s
}

func TestWireRoundTrip(t *testing.T) {
	var enc encoder
	h := header{cluster: "shop", node: "web-1", instance: 0xdeadbeefcafe, interval: 1500 * time.Millisecond}
	in := testSamples()
	users := testUsers(t)
	known := map[uint64]desc{}
	var full, short int
	for _, seq := range []uint64{1, 2, 3, descEvery + 1} { // the encoder's buffers are reused
		h.seq = seq
		data, err := enc.encode(&h, in, users)
		require.NoError(t, err)
		if seq%descEvery == 1 {
			full = len(data)
		} else {
			short = len(data)
		}
		m, err := decode(data, "shop")
		require.NoError(t, err)
		require.Equal(t, h, m.header)
		// Descriptions: in full in the first message, by hash after.
		if seq%descEvery == 1 {
			require.Len(t, m.learned, 2)
			require.Empty(t, m.refs)
		} else {
			require.Empty(t, m.learned)
			require.Len(t, m.refs, 2)
		}
		for _, d := range m.learned {
			known[d.hash] = d
		}
		for _, r := range m.refs {
			d, ok := known[r.hash]
			require.True(t, ok)
			for i := r.lo; i < r.hi; i++ {
				m.samples[i].Unit, m.samples[i].Help = d.unit, d.help
			}
		}
		got, want := sortedByKey(m.samples), sortedByKey(in)
		require.Len(t, got, len(want))
		for i := range want {
			g, w := got[i], want[i]
			require.Equal(t, w.Key, g.Key)
			require.Equal(t, w.Kind, g.Kind)
			require.Equal(t, w.Help, g.Help)
			require.Equal(t, w.Unit, g.Unit)
			require.Equal(t, w.Stale, g.Stale)
			require.Equal(t, math.Float64bits(w.Value), math.Float64bits(g.Value), w.Key)
			if len(w.Labels) == 0 {
				require.Empty(t, g.Labels)
			} else {
				require.Equal(t, w.Labels, g.Labels)
			}
		}
		require.Len(t, m.users, 1)
		u := m.users[0]
		require.Equal(t, "active_users", u.name)
		require.Equal(t, "page", u.label)
		require.Equal(t, uint64(2), u.total.n)
		require.Len(t, u.values, 2)
		require.Equal(t, uint64(1), u.values["/a"].n)
	}
	require.Less(t, short, full)

	// Empty messages are fine too.
	data, err := enc.encode(&header{cluster: "shop", node: "n", instance: 1, seq: 1}, nil, nil)
	require.NoError(t, err)
	m, err := decode(data, "shop")
	require.NoError(t, err)
	require.Empty(t, m.samples)
	require.Empty(t, m.users)
}

func TestWireErrors(t *testing.T) {
	var enc encoder
	h := header{cluster: "shop", node: "web-1", instance: 7, seq: 1}
	good, err := enc.encode(&h, testSamples(), testUsers(t))
	require.NoError(t, err)
	good = bytes.Clone(good)

	// Every truncation is refused, none panics.
	for n := range len(good) {
		_, err := decode(good[:n], "shop")
		require.Error(t, err, "prefix of %d bytes", n)
	}
	_, err = decode(append(bytes.Clone(good), 0), "shop")
	require.ErrorIs(t, err, errMalformed, "trailing byte")

	_, err = decode(good, "other")
	require.ErrorIs(t, err, errForeign)
	v2 := bytes.Clone(good)
	v2[2] = 2
	_, err = decode(v2, "shop")
	require.ErrorIs(t, err, errForeign)
	_, err = decode([]byte(`{"type":"samples"}`), "shop")
	require.ErrorIs(t, err, errMalformed)
	_, err = decode(nil, "shop")
	require.ErrorIs(t, err, errMalformed)

	bad := func(what string, samples []pulse.Sample, users []userSketches, hh header) {
		t.Helper()
		data, err := enc.encode(&hh, samples, users)
		require.NoError(t, err)
		_, err = decode(data, "shop")
		require.ErrorIs(t, err, errMalformed, what)
		require.False(t, errors.Is(err, errForeign), what)
	}
	bad("invalid name", []pulse.Sample{sample("1abc", pulse.KindGauge, 1, nil)}, nil, h)
	bad("invalid label", []pulse.Sample{sample("a", pulse.KindGauge, 1, pulse.Labels{"__x": "1"})}, nil, h)
	bad("invalid kind", []pulse.Sample{sample("a", 7, 1, nil)}, nil, h)
	bad("invalid utf-8", []pulse.Sample{sample("a", pulse.KindGauge, 1, pulse.Labels{"x": "\xff"})}, nil, h)
	dup := sample("a", pulse.KindGauge, 1, nil)
	dupHelp := dup
	dupHelp.Help = "other group, same key"
	bad("duplicate series", []pulse.Sample{dup, dupHelp}, nil, h)
	bad("empty node", nil, nil, header{cluster: "shop", instance: 1, seq: 1})
	users := testUsers(t)
	users[0].name = "bad name"
	bad("invalid tracker name", nil, users, h)
	users = testUsers(t)
	users[0].label = ""
	bad("values without label", nil, users, h)
	users = testUsers(t)
	users = append(users, users[0])
	bad("tracker twice", nil, users, h)
	users = testUsers(t)
	sk, err := hyperloglog.NewSketch(16, true)
	require.NoError(t, err)
	users[0].total = sketch{sk, 0}
	bad("precision", nil, users, h)
}

// FuzzDecode: no input panics or allocates past its size; whatever decodes
// encodes again to a message that decodes to the same series.
func FuzzDecode(f *testing.F) {
	var enc encoder
	h := header{cluster: "shop", node: "web-1", instance: 7, seq: 1, interval: time.Second}
	good, err := enc.encode(&h, testSamples(), testUsers(f))
	require.NoError(f, err)
	f.Add(bytes.Clone(good))
	empty, err := enc.encode(&h, nil, nil)
	require.NoError(f, err)
	f.Add(bytes.Clone(empty))
	f.Add([]byte("pC\x01"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decode(data, "shop")
		if err != nil {
			return
		}
		var e encoder
		again, err := e.encode(&m.header, m.samples, m.users)
		require.NoError(t, err)
		m2, err := decode(again, "shop")
		require.NoError(t, err)
		require.Len(t, m2.samples, len(m.samples))
		require.Len(t, m2.users, len(m.users))
	})
}
