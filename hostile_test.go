package pulse

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// The table of hostile inputs and what each gets. The transport-level
// ones (binary frames, oversize, malformed JSON, unknown types, repeated
// abuse, bad origin, too many clients) are in http_test.go.
func TestHostileMessages(t *testing.T) {
	th := newTestHub(t, Options{ReadLimit: 4096})
	require.NoError(t, th.Publish(gauge("g", 1)))
	th.Tick(time.Second)
	cases := []struct {
		name string
		msg  string
		code string
	}{
		{"deeply nested JSON", strings.Repeat("[", 1500) + strings.Repeat("]", 1500), ErrCodeBadJSON},
		{"nested object in place of patterns", `{"type":"subscribe","patterns":{"a":{"b":{"c":[]}}}}`, ErrCodeBadJSON},
		{"pattern with regexp syntax", `{"type":"subscribe","patterns":["(a+)+$"]}`, ErrCodeBadPattern},
		{"path traversal pattern", `{"type":"subscribe","patterns":["../../etc/passwd"]}`, ErrCodeBadPattern},
		{"overlong pattern", `{"type":"subscribe","patterns":["` + strings.Repeat("a", maxPatternLen+1) + `"]}`, ErrCodeBadPattern},
		{"huge type name", `{"type":"` + strings.Repeat("x", 3000) + `"}`, ErrCodeUnknownType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := th.dial("")
			c.expect("hello")
			c.expect("snapshot")
			c.sendRaw(websocket.MessageText, []byte(tc.msg))
			e := c.expect("error")
			require.Equal(t, tc.code, e.Code)
			require.Less(t, len(e.Message), 300, "the error does not echo the input back")
			// The connection still works.
			c.send(map[string]string{"type": "snapshot"})
			c.expect("snapshot")
		})
	}
}

func TestExpensivePatternsArePaidOncePerName(t *testing.T) {
	th := newTestHub(t, Options{MaxSeries: 5000})
	ms := make([]Metric, 2000)
	name := strings.Repeat("a", 150)
	for i := range ms {
		ms[i] = Metric{Name: name, Labels: Labels{"i": fmt.Sprint(i)}, Value: float64(i)}
	}
	require.NoError(t, th.Publish(ms...))
	th.Tick(time.Second)
	evil := strings.Repeat("*a", 30) + "*b" // never matches, worst case for backtracking
	c := th.dial("match=" + evil)
	c.expect("hello")
	c.expect("snapshot")
	require.Empty(t, c.v.values)
	require.Len(t, th.frame.Load().names.byID, 1, "2,000 series, one name: the filter is matched against one name")
	th.reg.mu.Lock()
	g := th.clientGroup()
	require.Empty(t, g.lens.sees.key(), "and sees nothing")
	th.reg.mu.Unlock()
}

func (th *testHub) clientGroup() *group {
	for c := range th.reg.clients {
		return c.g
	}
	return nil
}

func TestSubscribeFloodIsRateLimitedThenClosed(t *testing.T) {
	th := newTestHub(t, Options{MessageRate: 5, MaxClientErrors: 3})
	c := th.dial("")
	c.expect("hello")
	c.expect("snapshot")
	sub := map[string]any{"type": "subscribe", "patterns": []string{"x"}}
	for i := 0; i < 10; i++ { // the burst: twice the rate
		c.send(sub)
		c.expect("snapshot")
	}
	c.send(sub)
	require.Equal(t, ErrCodeRateLimited, c.expect("error").Code)
	th.clock.Advance(time.Second) // refills 5 tokens
	for i := 0; i < 5; i++ {
		c.send(sub)
		c.expect("snapshot")
	}
	for i := 0; i < 5; i++ {
		c.send(sub)
	}
	require.Equal(t, websocket.StatusPolicyViolation, c.closeStatus())
}

func TestMalformedUpgrades(t *testing.T) {
	th := newTestHub(t, Options{})
	cases := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"upgrade without key", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}}, http.StatusBadRequest},
		{"wrong version", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"8"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}, http.StatusBadRequest},
		{"upgrade to something else", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}}, http.StatusOK}, // not a WebSocket: the JSON snapshot
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := get(t, th.srv.URL, tc.header)
			require.Equal(t, tc.want, resp.StatusCode)
		})
	}
	require.GreaterOrEqual(t, th.Stats().Rejected, uint64(2))
	c := th.dial("")
	c.expect("hello")
}

// A handshake dribbled in byte by byte never reaches the Hub: the host's
// http.Server.ReadHeaderTimeout closes it (see SECURITY.md), and nobody
// else waits.
func TestDribbledHandshakeDoesNotHoldTheHub(t *testing.T) {
	h, err := NewHub(Options{Interval: 10 * time.Millisecond})
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadHeaderTimeout = 200 * time.Millisecond
	srv.Start()
	defer srv.Close()
	defer h.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgr") // and then nothing
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err, "others connect meanwhile")
	ws.CloseNow()

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = bufio.NewReader(conn).ReadString('\n')
	// The server answers 408 or just closes; either way the dribbler is cut off.
	if err == nil {
		rest, _ := io.ReadAll(conn)
		require.NotContains(t, string(rest), "101 Switching Protocols")
	}
	require.Zero(t, h.Stats().Clients)
}

// A restricted connection cannot reach a forbidden series through any
// message type or transport.
func TestForbiddenSeriesUnreachable(t *testing.T) {
	th := newTestHub(t, Options{Authorize: func(*http.Request) (Access, error) {
		return Access{Patterns: []string{"public_*"}}, nil
	}})
	require.NoError(t, th.Publish(gauge("public_a", 1), gauge("secret_b", 2), Metric{Name: "secret_total", Kind: KindCounter, Value: 3}))
	th.Tick(time.Second)
	require.NoError(t, th.Publish(gauge("public_a", 2), gauge("secret_b", 3), Metric{Name: "secret_total", Kind: KindCounter, Value: 4}))
	th.Tick(time.Second)

	var all []string
	c := th.dial("match=secret_*,*")
	for _, m := range []any{
		map[string]any{"type": "subscribe", "patterns": []string{"secret_b", "secret_*", "*", "?ecret_b"}},
		map[string]string{"type": "snapshot"},
		map[string]any{"type": "unsubscribe", "patterns": []string{"public_*"}},
		map[string]any{"type": "subscribe", "patterns": []string{"*_b", "*_total"}},
	} {
		c.send(m)
	}
	require.NoError(t, th.Publish(gauge("public_a", 3), gauge("secret_b", 4)))
	seq := th.Tick(time.Second)
	for !c.v.synced || c.v.seq < seq {
		m := c.next()
		all = append(all, string(m.raw))
	}
	s := th.sse("match=secret_b,*", nil, nil)
	for !s.v.synced || s.v.seq < seq {
		all = append(all, string(s.next().raw))
	}
	_, body := get(t, th.srv.URL+"?match=secret_*", nil)
	all = append(all, string(body))
	_, body = get(t, th.srv.URL, nil)
	all = append(all, string(body))
	for _, m := range all {
		require.NotContains(t, m, "secret", "leaked in %s", m)
	}
	require.Contains(t, strings.Join(all, ""), "public_a")
}

// Thousands of connections that never read: the Hub keeps serving a
// healthy client every tick, in order; their queues stay bounded; the next
// connection past MaxClients gets 503; Shutdown still ends everything.
func TestThousandsOfIdleConnectionsThatNeverRead(t *testing.T) {
	const idle = 2000
	th := newTestHub(t, Options{MaxClients: idle + 1, PingInterval: -1, QueueSize: 4})
	require.NoError(t, th.Publish(gauge("g", 0)))
	th.Tick(time.Second)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	conns := make([]*websocket.Conn, idle)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, th.wsURL(""), nil)
			if err == nil {
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	for i, c := range conns {
		require.NotNil(t, c, "idle connection %d", i)
		t.Cleanup(func() { _ = c.CloseNow() })
	}
	healthy := th.dial("")
	healthy.expect("hello")
	healthy.expect("snapshot")
	_, err := th.dialErr("", nil)
	require.Error(t, err, "past MaxClients")

	for i := 1; i <= 30; i++ {
		require.NoError(t, th.Publish(gauge("g", float64(i))))
		seq := th.Tick(time.Second)
		healthy.untilSeq(seq) // every tick, in order
		require.Equal(t, float64(i), healthy.v.values["g"])
	}
	th.reg.mu.Lock()
	for c := range th.reg.clients {
		n, b := c.queueLen()
		require.LessOrEqual(t, n, 4)
		require.LessOrEqual(t, b, 1<<20)
	}
	th.reg.mu.Unlock()
	require.Equal(t, idle+1, th.Stats().Clients)
}

// setBuildHook installs hooks.build for the groups made from now on.
func (th *testHub) setBuildHook(hook func(g *group, what string)) {
	th.reg.mu.Lock()
	th.reg.onBuild = hook
	th.reg.mu.Unlock()
}

// buildCounter counts the messages groups build, by kind.
type buildCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (b *buildCounter) hook(_ *group, what string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == nil {
		b.n = map[string]int{}
	}
	b.n[what]++
}

func (b *buildCounter) count(what string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n[what]
}

// connectSnapshotSize is the size of the connect snapshot of a client's
// group, built.
func (th *testHub) connectSnapshotSize() int {
	th.reg.mu.Lock()
	g := th.clientGroup()
	th.reg.mu.Unlock()
	gt := g.cur.Load()
	gt.lock() // a groupTick's mu is taken alone
	defer gt.mu.Unlock()
	return len(gt.snaps[0].payload())
}

func (th *testHub) groupCount() int {
	th.reg.mu.Lock()
	defer th.reg.mu.Unlock()
	return len(th.reg.groups)
}

// Filters that differ in text but match the same series share one group:
// one hello, one snapshot and one history for all of them, and one encode
// per tick. (The attack of issue 20: match=*,zq1, match=*,zq2, ...)
func TestDistinctFilterTextsShareOneGroup(t *testing.T) {
	th := newTestHub(t, Options{MaxGroups: 2})
	require.NoError(t, th.Publish(gauge("a_x", 1), gauge("b_y", 1)))
	th.Tick(time.Second)
	var builds buildCounter
	th.setBuildHook(builds.hook)
	queries := []string{"match=*", "match=a_*,b_*", "match=b_y,a_x", "match=?_?,zz"}
	for i := range 40 {
		queries = append(queries, fmt.Sprintf("match=*,zq%d", i))
	}
	conns := make([]*testConn, len(queries))
	for i, q := range queries {
		conns[i] = th.dial(q)
		conns[i].expect("hello")
		conns[i].expect("snapshot")
	}
	require.Equal(t, 1, th.groupCount(), "44 filter texts, one set of series")
	require.Equal(t, 1, builds.count("hello"))
	require.Equal(t, 1, builds.count("snapshot"))
	require.Equal(t, 1, builds.count("history"))

	before := th.stats.encodes.Load()
	var seq uint64
	for i := range 5 {
		require.NoError(t, th.Publish(gauge("a_x", float64(i)), gauge("b_y", float64(i))))
		seq = th.Tick(time.Second)
	}
	require.EqualValues(t, 5, th.stats.encodes.Load()-before, "one encode per tick")
	for i, c := range conns {
		c.untilSeq(seq)
		require.Equal(t, map[string]float64{"a_x": 4, "b_y": 4}, c.v.values, queries[i])
	}
	require.Zero(t, th.Stats().GroupsRefused, "MaxGroups 2 is never reached")
}

// A group's build runs under that group's own lock only: while one new
// group's hello is held mid-build, another new group's client connects and
// gets its hello and snapshot, ticks go on and reach an existing client,
// and a plain GET is answered.
func TestSlowGroupBuildHoldsNoOtherClient(t *testing.T) {
	th := newTestHub(t, Options{})
	require.NoError(t, th.Publish(gauge("a_x", 1), gauge("b_y", 1)))
	th.Tick(time.Second)
	old := th.dial("")
	old.expect("hello")
	old.expect("snapshot")

	held, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	th.setBuildHook(func(*group, string) {
		if first.CompareAndSwap(false, true) {
			close(held)
			<-release // the first build of a new group waits for the test
		}
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	slow := th.dial("match=a_*")
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow group never started its build")
	}

	fast := th.dial("match=b_*")
	fast.expect("hello")
	fast.expect("snapshot")
	require.Equal(t, map[string]float64{"b_y": 1}, fast.v.values)
	for i := 2; i <= 4; i++ {
		require.NoError(t, th.Publish(gauge("a_x", float64(i)), gauge("b_y", float64(i))))
		seq := th.Tick(time.Second)
		old.untilSeq(seq)
		fast.untilSeq(seq)
	}
	resp, _ := get(t, th.srv.URL+"?match=b_*", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	close(release)
	slow.expect("hello")
	slow.expect("snapshot")
	slow.untilSeq(th.Tick(time.Second))
	require.Equal(t, map[string]float64{"a_x": 4}, slow.v.values)
}

// Past MaxGroups a connection that would make a new group gets 503 before
// the upgrade, and such a subscribe gets too_many_groups and keeps its
// subscription; both are counted in Stats.GroupsRefused. A filter of an
// existing group is always served, and room frees as groups empty.
func TestMaxGroupsRefusedAtConnectAndOnSubscribe(t *testing.T) {
	th := newTestHub(t, Options{MaxGroups: 2})
	require.NoError(t, th.Publish(gauge("a_x", 1), gauge("b_y", 1), gauge("c_z", 1)))
	th.Tick(time.Second)
	a := th.dial("match=a_*")
	a.expect("hello")
	a.expect("snapshot")
	b := th.dial("match=b_*")
	b.expect("hello")
	b.expect("snapshot")

	resp, err := th.dialErr("match=*,zq1", nil)
	require.Error(t, err, "a third group")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.EqualValues(t, 1, th.Stats().GroupsRefused)
	require.EqualValues(t, 1, th.Stats().Rejected)
	same := th.dial("match=a_x,zq2") // the set of group a: served
	same.expect("hello")

	a.send(map[string]any{"type": "subscribe", "patterns": []string{"c_*"}})
	require.Equal(t, ErrCodeTooManyGroups, a.expect("error").Code)
	require.EqualValues(t, 2, th.Stats().GroupsRefused)
	require.NoError(t, th.Publish(gauge("a_x", 2), gauge("c_z", 2)))
	a.untilSeq(th.Tick(time.Second))
	require.Equal(t, map[string]float64{"a_x": 2}, a.v.values, "the old subscription stays")

	require.NoError(t, b.c.Close(websocket.StatusNormalClosure, ""))
	eventually(t, func() bool { return th.groupCount() == 1 }, "group b is gone")
	a.send(map[string]any{"type": "subscribe", "patterns": []string{"c_*"}})
	a.expect("snapshot")
	require.Equal(t, map[string]float64{"a_x": 2, "c_z": 2}, a.v.values)
}

// bigState publishes n gauges with long names (about 60 bytes each in a
// snapshot) and ticks.
func (th *testHub) bigState(n int, v float64) uint64 {
	ms := make([]Metric, n)
	for i := range ms {
		ms[i] = gauge(fmt.Sprintf("a_series_with_a_rather_long_name_for_its_size_%05d", i), v)
	}
	require.NoError(th.t, th.Publish(ms...))
	return th.Tick(time.Second)
}

// A flood of snapshot requests, within MessageRate, is answered from the
// snapshot the group already built (one build for every client of the
// group) and limited by answer bytes: once a client's AnswerRate bucket is
// spent, requests get rate_limited until the clock refills it.
func TestSnapshotRequestFloodIsAnsweredFromTheGroupAndLimitedByBytes(t *testing.T) {
	th := newTestHub(t, Options{MessageRate: 1000, AnswerRate: 64 << 10, History: -1, MaxClientErrors: 100})
	th.bigState(5000, 1)
	var builds buildCounter
	th.setBuildHook(builds.hook)
	a, b := th.dial("match=*"), th.dial("match=*,zq")
	for _, c := range []*testConn{a, b} {
		c.expect("hello")
		c.expect("snapshot")
	}
	require.Equal(t, 1, builds.count("snapshot"), "one connect snapshot for both")
	size := th.connectSnapshotSize()
	require.Greater(t, size, 250_000)
	// The bucket starts full (answerBurst) and may go into debt by one answer.
	want := (answerBurst + size - 1) / size
	answered := func(c *testConn) (n int) {
		for range want + 3 {
			c.send(map[string]string{"type": "snapshot"})
			switch m := c.next(); m.Type {
			case "snapshot":
				require.Equal(t, reasonRequest, m.Reason)
				n++
			default:
				require.Equal(t, ErrCodeRateLimited, m.Code, "message %s", m)
			}
		}
		return n
	}
	require.Equal(t, want, answered(a))
	require.Equal(t, want, answered(b))
	require.Equal(t, 2, builds.count("snapshot"), "one request snapshot for both clients and all their requests")
	require.GreaterOrEqual(t, th.Stats().ClientErrors, uint64(6))

	th.clock.Advance(time.Duration(float64(time.Second) * float64(2*size) / float64(64<<10)))
	a.send(map[string]string{"type": "snapshot"})
	require.Equal(t, "snapshot", a.next().Type, "the bucket refills at AnswerRate")
}
