package subscriber

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

func TestPublishedValuesArrive(t *testing.T) {
	hs := startHub(t, pulse.Options{}, nil)
	hs.src.set(pulse.Metric{Name: "temp", Labels: pulse.Labels{"room": "kitchen"}, Value: 21.5, Unit: "celsius", Help: "Room temperature"})
	var updates atomic.Int64
	// An http:// URL is converted to ws://.
	s := dial(t, "http://"+hs.addr+"/ws/metrics", &Options{OnUpdate: func(Update) { updates.Add(1) }})
	require.True(t, s.Connected())

	const key = `temp{room="kitchen"}`
	eventually(t, func() bool { _, ok := s.Value(key); return ok }, "the published series")
	got, _ := s.Value(key)
	require.Equal(t, Sample{Key: key, Name: "temp", Labels: map[string]string{"room": "kitchen"}, Kind: KindGauge, Unit: "celsius", Help: "Room temperature", Value: 21.5}, got)

	hs.src.set(pulse.Metric{Name: "temp", Labels: pulse.Labels{"room": "kitchen"}, Value: 22, Unit: "celsius", Help: "Room temperature"})
	eventually(t, func() bool { v, _ := s.Value(key); return v.Value == 22 }, "the new value")

	seq := s.Seq()
	eventually(t, func() bool { return s.Seq() >= seq+3 }, "deltas keep coming: seq %d", s.Seq())
	select {
	case u := <-s.Updates():
		require.Contains(t, []UpdateType{UpdateSnapshot, UpdateDelta, UpdateHistory}, u.Type)
	case <-time.After(20 * time.Second):
		t.Fatal("no update")
	}
	require.Positive(t, updates.Load())
	st := s.Stats()
	require.Equal(t, uint64(1), st.Connects)
	require.Zero(t, st.Reconnects)
	require.Positive(t, st.Deltas)
	require.GreaterOrEqual(t, st.Messages, st.Deltas+st.Snapshots)
	require.Zero(t, st.Resyncs)
	require.Equal(t, []string{"*"}, s.Patterns())
	requireConverges(t, s, hs, "", key)
}

// counterSource reports a counter that grows by 10 at each collection until
// frozen, and a gauge counting collections.
type counterSource struct {
	mu     sync.Mutex
	n      int
	frozen bool
}

func (c *counterSource) Collect(context.Context) ([]pulse.Metric, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		c.n++
	}
	return []pulse.Metric{
		{Name: "requests_total", Kind: pulse.KindCounter, Value: float64(10 * c.n), Unit: "requests"},
		{Name: "collections", Value: float64(c.n)},
	}, nil
}

func (c *counterSource) freeze() {
	c.mu.Lock()
	c.frozen = true
	c.mu.Unlock()
}

func TestCounterRates(t *testing.T) {
	hs := startHub(t, pulse.Options{}, nil)
	src := &counterSource{}
	require.NoError(t, hs.hub.Register(src, pulse.SourceOptions{}))
	s := dial(t, hs.wsURL(), &Options{Patterns: []string{"requests_*"}})

	eventually(t, func() bool { v, _ := s.Value("requests_total"); return v.HasRate && v.Rate > 0 }, "a positive rate")
	v, _ := s.Value("requests_total")
	require.Equal(t, KindCounter, v.Kind)
	require.Equal(t, "requests", v.Unit)
	_, ok := s.Value("collections")
	require.False(t, ok, "outside the patterns")

	// Once the counter stops, its rate falls to 0, as the server says.
	src.freeze()
	eventually(t, func() bool { v, _ := s.Value("requests_total"); return v.HasRate && v.Rate == 0 }, "rate 0")
	requireConverges(t, s, hs, "requests_*", "requests_total")
}

// rawHistory reads the history message a fresh connection gets.
func rawHistory(t *testing.T, hs *hubServer) (seq uint64, times []int64, values, rates map[string][]any) {
	t.Helper()
	c, _, err := websocket.Dial(testCtx(t), hs.wsURL(), nil)
	require.NoError(t, err)
	defer c.CloseNow()
	c.SetReadLimit(-1)
	for {
		_, data, err := c.Read(testCtx(t))
		require.NoError(t, err)
		if !strings.HasPrefix(string(data), `{"type":"history"`) {
			continue
		}
		var m struct {
			Seq    uint64           `json:"seq"`
			Times  []int64          `json:"times"`
			Values map[string][]any `json:"values"`
			Rates  map[string][]any `json:"rates"`
		}
		require.NoError(t, jsonUnmarshal(data, &m))
		return m.Seq, m.Times, m.Values, m.Rates
	}
}

// requireSameHistory checks that pts, cut at the tick ending at times, equals
// the server's history of the same series (its v1 message, with the rates
// the Hub computed): times and values exactly (these series are integers,
// which a v2 history carries exactly). A rate is either the Hub's (a point
// that came in a delta) or, for a point of the v2 backfill, which has no
// rates, the one PROTOCOL.md says a client derives: over the ticks' times,
// from the point before. Which of the two it is, the check does not know;
// the derived one is not compared with the Hub's, which is taken over the
// samples' times and differs by the sampling jitter (a loaded machine makes
// that large). Only the client's first point may have no rate, and its
// rate, if derived, cannot be checked (its predecessor is gone).
func requireSameHistory(t *testing.T, key string, pts []Point, times []int64, values, rates []any) {
	t.Helper()
	end := len(pts)
	for end > 0 && pts[end-1].Time.UnixMilli() > times[len(times)-1] {
		end--
	}
	var want []Point
	for i, tm := range times {
		if values[i] == nil {
			continue
		}
		p := Point{Time: msTime(tm), Value: num(values[i])}
		if rates != nil && rates[i] != nil {
			p.Rate, p.HasRate = num(rates[i]), true
		}
		want = append(want, p)
	}
	require.GreaterOrEqual(t, end, len(want), "%s: the client has fewer points than the server", key)
	start := end - len(want)
	for i, w := range want {
		got := pts[start+i]
		require.Equal(t, w.Time, got.Time, "%s point %d", key, i)
		require.Equal(t, w.Value, got.Value, "%s point %d: history differs from the server's", key, i)
		if !got.HasRate {
			require.True(t, !w.HasRate || start+i == 0, "%s point %d: only the client's first point has no rate", key, i)
			continue
		}
		require.True(t, w.HasRate, "%s point %d", key, i)
		if got.Rate == w.Rate {
			continue // the Hub's
		}
		if start+i == 0 {
			continue // derived from a point the client no longer holds (HistoryLimit)
		}
		prev := pts[start+i-1]
		dv := got.Value - prev.Value
		if dv < 0 {
			dv = got.Value // a reset
		}
		derived := dv / got.Time.Sub(prev.Time).Seconds()
		require.InDelta(t, derived, got.Rate, 1e-9*math.Abs(derived), "%s point %d: neither the Hub's rate (%v) nor the derived one", key, i, w.Rate)
	}
}

func TestHistoryBackfillAndContinuity(t *testing.T) {
	const n = 10
	hs := startHub(t, pulse.Options{History: n}, nil)
	src := &counterSource{}
	require.NoError(t, hs.hub.Register(src, pulse.SourceOptions{}))
	eventually(t, func() bool { return hs.hub.Stats().Seq > 2*n }, "the hub's ring to fill")

	// Default: keep what the server keeps.
	s := dial(t, hs.wsURL(), nil)
	eventually(t, func() bool { return s.Stats().Histories == 1 }, "the history message")
	require.Len(t, s.History("collections"), n, "backfilled at connect")
	// A client keeping more than the server shows the seam between the
	// backfill and the ticks received since.
	long := dial(t, hs.wsURL(), &Options{HistoryLimit: 5 * n})
	eventually(t, func() bool { return long.Stats().Histories == 1 }, "the history message")
	connectSeq := long.Seq()

	// Half a ring later, a new connection's history (the server's truth)
	// must equal what both clients hold for the same ticks.
	eventually(t, func() bool { return hs.hub.Stats().Seq > connectSeq+n/2 }, "ticks")
	seq, times, values, rates := rawHistory(t, hs)
	require.Len(t, times, n)
	eventually(t, func() bool { return s.Seq() >= seq && long.Seq() >= seq }, "the clients to reach seq %d", seq)
	for _, key := range []string{"collections", "requests_total"} {
		requireSameHistory(t, key, long.History(key), times, values[key], rates[key])
		pts := s.History(key)
		require.Len(t, pts, n)
		if s.Seq() == seq {
			requireSameHistory(t, key, pts, times, values[key], rates[key])
		}
	}
	pts := long.History("requests_total")
	require.Greater(t, len(pts), n)
	for i := 1; i < len(pts); i++ {
		require.Greater(t, pts[i].Time, pts[i-1].Time, "one point per tick")
		require.GreaterOrEqual(t, pts[i].Value, pts[i-1].Value)
		require.True(t, pts[i].HasRate)
	}
}

func TestSubscribeUnsubscribe(t *testing.T) {
	hs := startHub(t, pulse.Options{}, nil)
	hs.set("a_x", 1, "a_y", 2, "b_z", 3)
	s := dial(t, hs.wsURL()+"?match=a_*", nil) // the URL's match is the default pattern set
	ctx := testCtx(t)
	eventually(t, func() bool { return len(s.Values()) == 2 }, "a_x and a_y")
	require.Equal(t, []string{"a_x", "a_y"}, keys(s.Values()))
	require.Equal(t, "a_*", hs.lastMatch())

	// Subscribe returns once the view reflects the change.
	require.NoError(t, s.Subscribe(ctx, "b_*"))
	require.Equal(t, []string{"a_x", "a_y", "b_z"}, keys(s.Values()))
	require.Equal(t, []string{"a_*", "b_*"}, s.Patterns())
	require.NoError(t, s.Subscribe(ctx, "b_*"), "already subscribed: nothing to do")

	require.NoError(t, s.Unsubscribe(ctx, "a_*"))
	require.Equal(t, []string{"b_z"}, keys(s.Values()))
	require.NoError(t, s.Unsubscribe(ctx, "a_x"), "compared as written: not subscribed, nothing to do")

	require.NoError(t, s.Unsubscribe(ctx, "b_*"))
	require.Empty(t, s.Values())
	require.Empty(t, s.Patterns())

	require.NoError(t, s.Subscribe(ctx, "a_x", "a_?"))
	require.Equal(t, []string{"a_x", "a_y"}, keys(s.Values()))

	require.ErrorIs(t, s.Subscribe(ctx, "bad-pattern"), ErrInvalidPattern)
	require.ErrorIs(t, s.Subscribe(ctx), ErrInvalidPattern)
	require.ErrorIs(t, s.Unsubscribe(ctx, strings.Repeat("a", 201)), ErrInvalidPattern)
	require.Equal(t, []string{"a_?", "a_x"}, s.Patterns())
	require.Zero(t, s.Stats().ServerErrors)
}

func TestServerRefusesSubscription(t *testing.T) {
	hs := startHub(t, pulse.Options{MaxPatterns: 2}, nil)
	hs.set("a", 1, "b", 2, "c", 3)
	var errs []error
	var mu sync.Mutex
	s := dial(t, hs.wsURL(), &Options{Patterns: []string{"a"}, OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}})
	ctx := testCtx(t)
	require.NoError(t, s.Subscribe(ctx, "b"))
	err := s.Subscribe(ctx, "c")
	var se *ServerError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "too_many_patterns", se.Code)
	require.Equal(t, []string{"a", "b"}, s.Patterns(), "the refused change is undone")
	require.Equal(t, uint64(1), s.Stats().ServerErrors)
	mu.Lock()
	seen := slices.Clone(errs)
	mu.Unlock()
	require.Len(t, seen, 1, "OnError ran before Subscribe returned")
	require.ErrorAs(t, seen[0], &se)

	// Not fatal: the stream goes on.
	seq := s.Seq()
	eventually(t, func() bool { return s.Seq() > seq+2 }, "deltas after the error")
	require.True(t, s.Connected())
	require.Equal(t, uint64(1), s.Stats().Connects)
	requireConverges(t, s, hs, "a,b", "a", "b")
}

type statusErr int

func (e statusErr) Error() string   { return "refused" }
func (e statusErr) StatusCode() int { return int(e) }

func TestHandshakeRefusals(t *testing.T) {
	hs := startHub(t, pulse.Options{
		MaxPatterns: 2,
		Authorize: func(r *http.Request) (pulse.Access, error) {
			switch r.Header.Get("Authorization") {
			case "":
				return pulse.Access{}, statusErr(http.StatusUnauthorized)
			case "Bearer good":
				return pulse.Access{Patterns: []string{"public_*"}}, nil
			}
			return pulse.Access{}, errors.New("no") // 403
		},
	}, nil)
	hs.set("public_a", 1, "secret", 2)
	ctx := testCtx(t)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}

	_, err := Dial(ctx, hs.wsURL(), Options{})
	require.ErrorIs(t, err, ErrUnauthorized)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusUnauthorized, se.StatusCode)
	require.False(t, se.Temporary())

	_, err = Dial(ctx, hs.wsURL(), Options{HTTPHeader: hdr("Authorization", "Bearer bad")})
	require.ErrorIs(t, err, ErrForbidden)
	require.NotErrorIs(t, err, ErrUnauthorized)

	_, err = Dial(ctx, hs.wsURL(), Options{HTTPHeader: hdr("Authorization", "Bearer good", "Origin", "https://evil.example")})
	require.ErrorIs(t, err, ErrForbidden, "a foreign origin")

	_, err = Dial(ctx, hs.wsURL(), Options{HTTPHeader: hdr("Authorization", "Bearer good"), Patterns: []string{"a", "b", "c"}})
	require.ErrorIs(t, err, ErrBadRequest, "more patterns than the server's MaxPatterns")
	require.ErrorAs(t, err, &se)
	require.Contains(t, se.Body, "at most 2")

	s := dial(t, hs.wsURL(), &Options{HTTPHeader: hdr("Authorization", "Bearer good")})
	eventually(t, func() bool { _, ok := s.Value("public_a"); return ok }, "public_a")
	require.Equal(t, []string{"public_a"}, keys(s.Values()), "restricted by Authorize")

	// Refused before any connection.
	_, err = Dial(ctx, hs.wsURL(), Options{Patterns: []string{"no spaces"}})
	require.ErrorIs(t, err, ErrInvalidPattern)
	_, err = Dial(ctx, "ftp://"+hs.addr, Options{})
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, err = Dial(ctx, "ws:///path", Options{})
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, err = Dial(ctx, hs.wsURL(), Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond})
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, err = Dial(ctx, hs.wsURL(), Options{Jitter: 2})
	require.ErrorIs(t, err, ErrInvalidOptions)
}

func TestServerGoesAwayAndComesBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	old := startHub(t, pulse.Options{}, ln)
	old.set("g", 1, "only_old", 1)

	var sawDisconnect atomic.Bool
	opts := fastOptions()
	opts.Patterns = []string{"g", "only_old"}
	opts.OnUpdate = func(u Update) {
		if u.Type == UpdateDisconnected {
			sawDisconnect.Store(true)
		}
	}
	s := dial(t, old.wsURL(), opts)
	eventually(t, func() bool { return len(s.Values()) == 2 }, "g and only_old")

	old.stop() // Hub.Shutdown: going away (1001); then the server closes
	eventually(t, func() bool { return !s.Connected() }, "Connected to become false")
	// OnUpdate is called after Connected turns false (a callback that asks
	// sees false), so the disconnected update may still be on its way.
	eventually(t, sawDisconnect.Load, "an UpdateDisconnected")
	require.Equal(t, []string{"g", "only_old"}, keys(s.Values()), "the last state stays readable")

	// Subscribing while disconnected: remembered, and answered by the next
	// connection.
	subscribed := make(chan error, 1)
	go func() { subscribed <- s.Subscribe(context.Background(), "h") }()

	var ln2 net.Listener
	eventually(t, func() bool { ln2, err = net.Listen("tcp", addr); return err == nil }, "listening on %s again: %v", addr, err)
	fresh := startHub(t, pulse.Options{}, ln2)
	fresh.set("g", 2, "h", 5)

	select {
	case err := <-subscribed:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Subscribe did not return after the reconnection")
	}
	requireConverges(t, s, fresh, "g,h,only_old", "g", "h")
	require.Equal(t, []string{"g", "h"}, keys(s.Values()), "the new hub's snapshot replaced the old state")
	require.Equal(t, "g,h,only_old", fresh.lastMatch())
	st := s.Stats()
	require.GreaterOrEqual(t, st.Reconnects, uint64(1))
	require.GreaterOrEqual(t, st.Disconnects, uint64(1))
	require.Error(t, st.LastError)
}

// mirrorSource reports x and x_mirror, equal, growing at each collection.
type mirrorSource struct {
	mu sync.Mutex
	n  int
}

func (m *mirrorSource) Collect(context.Context) ([]pulse.Metric, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	return []pulse.Metric{{Name: "x", Value: float64(m.n)}, {Name: "x_mirror", Value: float64(m.n)}}, nil
}

func TestProxyDropsConnections(t *testing.T) {
	hs := startHub(t, pulse.Options{}, nil)
	hs.set("keep_a", 1, "keep_b", 1)
	mirror := &mirrorSource{}
	require.NoError(t, hs.hub.Register(mirror, pulse.SourceOptions{}))
	px := newProxy(t, hs.addr)

	// x and x_mirror come from one collection, so every consistent view has
	// them equal; x only grows, so a stale message applied late shows.
	var sp atomic.Pointer[Subscriber]
	var bad atomic.Value
	var checked atomic.Int64
	last := -1.0 // the run goroutine only
	opts := fastOptions()
	opts.Patterns = []string{"x*", "keep_a"}
	opts.OnUpdate = func(u Update) {
		s := sp.Load()
		if s == nil {
			return
		}
		x, ok1 := s.Value("x")
		m, ok2 := s.Value("x_mirror")
		switch {
		case ok1 != ok2 || x.Value != m.Value:
			bad.Store("x and x_mirror differ after " + string(u.Type))
		case ok1 && x.Value < last:
			bad.Store("x went backwards after " + string(u.Type))
		case ok1:
			last = x.Value
			checked.Add(1)
		}
	}
	s := dial(t, px.wsURL(), opts)
	sp.Store(s)

	ctx := testCtx(t)
	for round := 1; round <= 3; round++ {
		eventually(t, func() bool { return s.Stats().Connects == uint64(round) && s.Connected() }, "connection %d", round)
		seq := s.Seq()
		eventually(t, func() bool { return s.Seq() > seq+2 }, "deltas on connection %d", round)
		if round == 2 {
			// Patterns changed on a connection are remembered by the next.
			require.NoError(t, s.Subscribe(ctx, "keep_b"))
			require.NoError(t, s.Unsubscribe(ctx, "keep_a"))
		}
		require.Positive(t, px.killAll())
		eventually(t, func() bool { return s.Stats().Connects > uint64(round) }, "reconnection %d", round)
	}
	require.NoError(t, s.Unsubscribe(ctx, "x*")) // x changes at every tick; compare the rest
	requireConverges(t, s, hs, "keep_b", "keep_b")
	require.Nil(t, bad.Load())
	require.Equal(t, "keep_b,x*", hs.lastMatch())
	require.GreaterOrEqual(t, s.Stats().Reconnects, uint64(3))
	require.Zero(t, s.Stats().Resyncs)
	require.Greater(t, checked.Load(), int64(10), "x was checked over many ticks")

	// An empty subscription stays empty across reconnections (an empty
	// match would mean "*").
	require.NoError(t, s.Unsubscribe(ctx, "keep_b"))
	require.Empty(t, s.Values())
	c := s.Stats().Connects
	px.killAll()
	eventually(t, func() bool { return s.Stats().Connects > c && s.Connected() }, "reconnection")
	seq := s.Seq()
	eventually(t, func() bool { return s.Seq() > seq+2 }, "deltas")
	require.Empty(t, s.Values())
	require.Equal(t, matchNothing, hs.lastMatch())
}

func TestSeqGapResynchronises(t *testing.T) {
	hs := startHub(t, pulse.Options{}, nil)
	hs.set("g", 1)
	px := newProxy(t, hs.addr)
	var reasons sync.Map
	opts := fastOptions()
	opts.OnUpdate = func(u Update) {
		if u.Type == UpdateSnapshot {
			reasons.Store(u.Reason, true)
		}
	}
	s := dial(t, px.wsURL(), opts)
	eventually(t, func() bool { return s.Stats().Deltas >= 2 }, "deltas")

	px.dropDelta.Store(true) // the proxy loses the next delta
	eventually(t, func() bool { return s.Stats().Resyncs == 1 }, "the gap to be seen")
	eventually(t, func() bool { _, ok := reasons.Load("request"); return ok }, "the requested snapshot")
	d := s.Stats().Deltas
	hs.set("g", 2)
	eventually(t, func() bool { v, _ := s.Value("g"); return v.Value == 2 && s.Stats().Deltas > d+2 }, "deltas after the resync")
	requireConverges(t, s, hs, "", "g")
	st := s.Stats()
	require.Equal(t, uint64(1), st.Connects, "resynchronised without reconnecting")
	require.Equal(t, uint64(1), st.Resyncs)
}

func TestUpdatesCoalesce(t *testing.T) {
	hs := startHub(t, pulse.Options{}, nil)
	s, err := Dial(testCtx(t), hs.wsURL(), Options{})
	require.NoError(t, err)

	// Nobody reads Updates: the Subscriber is not held up.
	seq := s.Seq()
	eventually(t, func() bool { return s.Stats().UpdatesDropped >= 3 && s.Seq() > seq+3 }, "updates to be replaced")
	before := s.Seq()
	u := <-s.Updates()
	require.GreaterOrEqual(t, u.Seq, before, "the pending update is the latest")

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice")
	for range s.Updates() { // closed: the loop ends
	}
	require.False(t, s.Connected())
	require.ErrorIs(t, s.Subscribe(testCtx(t), "x"), ErrClosed)
	require.NotNil(t, s.Values(), "the last state stays readable")
}

func TestDialGivesUpWithContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused, retried

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []time.Duration
	opts := &Options{hooks: hooks{sleep: func(c context.Context, d time.Duration) error {
		waits = append(waits, d) // the run goroutine only
		if len(waits) == 3 {
			cancel()
		}
		return nil
	}}}
	_, err = Dial(ctx, "ws://"+addr, optsOf(opts))
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, err.Error(), "connect", "the last failure is reported too")
	require.GreaterOrEqual(t, len(waits), 3)
}

// statusRecorder is the common logging middleware's ResponseWriter wrapper:
// it records the status and has neither Hijack nor Unwrap, so the Hub
// behind it cannot take the connection over and answers 501.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// A 501 from the upgrade is permanent: Dial gives up at once, with an
// error that names the cause and the fix, instead of retrying until ctx
// ends.
func TestHandshakeNotImplemented(t *testing.T) {
	hub, err := pulse.NewHub(pulse.Options{Interval: testInterval})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeHTTP(&statusRecorder{ResponseWriter: w}, r)
	}))
	t.Cleanup(srv.Close)

	ctx := testCtx(t)
	_, err = Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), *fastOptions())
	require.ErrorIs(t, err, ErrNotImplemented)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "Dial retried a permanent refusal until ctx ended")
	require.NoError(t, ctx.Err(), "Dial returned only when ctx ended")
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.False(t, se.Temporary())
	require.Contains(t, err.Error(), "http.Hijacker")
	require.Contains(t, err.Error(), "Unwrap")
}

// The hello's tiers: the Hub's custom ones, or none.
func TestTiersFromHello(t *testing.T) {
	tiers := []pulse.Tier{{Name: "short", Step: 100 * time.Millisecond, Span: 2 * time.Second}, {Name: "7d", Step: 10 * time.Minute, Span: 7 * 24 * time.Hour}}
	hs := startHub(t, pulse.Options{Tiers: tiers}, nil)
	s := dial(t, hs.wsURL(), nil)
	require.Equal(t, []Tier{{"short", 100 * time.Millisecond, 2 * time.Second}, {"7d", 10 * time.Minute, 7 * 24 * time.Hour}}, s.Tiers())

	none := startHub(t, pulse.Options{Tiers: []pulse.Tier{}}, nil)
	s2 := dial(t, none.wsURL(), nil)
	require.NotNil(t, s2.Tiers())
	require.Empty(t, s2.Tiers())
}
