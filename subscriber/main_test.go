package subscriber

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/leakcheck"
	"github.com/stretchr/testify/require"
)

// TestMain fails the run when any goroutine outlives the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }

const testInterval = 20 * time.Millisecond

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: "+msg, args...)
		}
		time.Sleep(time.Millisecond) // polling for an event with a deadline
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// hubServer is a real pulse Hub served over HTTP on a loopback listener.
type hubServer struct {
	t    testing.TB
	hub  *pulse.Hub
	srv  *httptest.Server
	addr string
	src  *settable // the test's values; see set

	mu      sync.Mutex
	matches []string // the match query of every WebSocket request, in order
	refuse  int      // the next refuse WebSocket requests get 503

	stopOnce sync.Once
}

// startHub serves a new Hub with opts (Interval defaults to testInterval)
// on ln, or on a new loopback listener when ln is nil.
func startHub(t testing.TB, opts pulse.Options, ln net.Listener) *hubServer {
	t.Helper()
	if opts.Interval == 0 {
		opts.Interval = testInterval
	}
	h, err := pulse.NewHub(opts)
	require.NoError(t, err)
	hs := &hubServer{t: t, hub: h, src: &settable{}}
	require.NoError(t, h.Register(hs.src, pulse.SourceOptions{Name: "test"}))
	hs.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			hs.mu.Lock()
			hs.matches = append(hs.matches, r.URL.Query().Get("match"))
			refuse := hs.refuse > 0
			if refuse {
				hs.refuse--
			}
			hs.mu.Unlock()
			if refuse {
				http.Error(w, "try later", http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	if ln != nil {
		hs.srv.Listener.Close()
		hs.srv.Listener = ln
	}
	hs.srv.Start()
	hs.addr = hs.srv.Listener.Addr().String()
	t.Cleanup(hs.stop)
	return hs
}

// stop shuts the Hub down (clients get 1001) and closes the server.
func (hs *hubServer) stop() {
	hs.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(hs.t, hs.hub.Shutdown(ctx))
		hs.srv.Close()
	})
}

func (hs *hubServer) wsURL() string { return "ws://" + hs.addr + "/ws/metrics" }

func (hs *hubServer) lastMatch() string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.matches[len(hs.matches)-1]
}

func (hs *hubServer) refuseNext(n int) {
	hs.mu.Lock()
	hs.refuse = n
	hs.mu.Unlock()
}

// set makes the hub's series, from the next collection on, the gauges
// given as name, value pairs (and nothing else of the test source).
//
// Tests feed values through a registered source rather than Hub.Publish:
// Publish races with the collector (see publish_norace_test.go).
func (hs *hubServer) set(kv ...any) {
	var ms []pulse.Metric
	for i := 0; i < len(kv); i += 2 {
		ms = append(ms, pulse.Metric{Name: kv[i].(string), Value: float64(kv[i+1].(int))})
	}
	hs.src.set(ms...)
}

// settable is a source whose metrics the test sets.
type settable struct {
	mu sync.Mutex
	ms []pulse.Metric
}

func (s *settable) set(ms ...pulse.Metric) {
	s.mu.Lock()
	s.ms = ms
	s.mu.Unlock()
}

func (s *settable) Collect(context.Context) ([]pulse.Metric, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ms), nil
}

// snapshot GETs the Hub's current snapshot for match and decodes it
// independently of the package under test.
func (hs *hubServer) snapshot(match string) (uint64, map[string]Sample) {
	hs.t.Helper()
	u := "http://" + hs.addr + "/ws/metrics"
	if match != "" {
		u += "?match=" + match
	}
	resp, err := http.Get(u)
	require.NoError(hs.t, err)
	defer resp.Body.Close()
	require.Equal(hs.t, http.StatusOK, resp.StatusCode)
	var m struct {
		Seq    uint64 `json:"seq"`
		Series []struct {
			Key, Name, Kind, Unit, Help string
			Labels                      map[string]string
		} `json:"series"`
		Values map[string]any `json:"values"`
		Rates  map[string]any `json:"rates"`
		Stale  []string       `json:"stale"`
	}
	require.NoError(hs.t, json.NewDecoder(resp.Body).Decode(&m))
	out := map[string]Sample{}
	for _, s := range m.Series {
		out[s.Key] = Sample{Key: s.Key, Name: s.Name, Labels: s.Labels, Kind: Kind(s.Kind), Unit: s.Unit, Help: s.Help, Value: num(m.Values[s.Key])}
	}
	for k, r := range m.Rates {
		s := out[k]
		s.Rate, s.HasRate = num(r), true
		out[k] = s
	}
	for _, k := range m.Stale {
		s := out[k]
		s.Stale = true
		out[k] = s
	}
	return m.Seq, out
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		switch x {
		case "NaN":
			return math.NaN()
		case "+Inf":
			return math.Inf(1)
		case "-Inf":
			return math.Inf(-1)
		}
	}
	panic(fmt.Sprintf("not a protocol number: %#v", v))
}

// requireConverges waits until the Hub's snapshot for match has exactly the
// keys wantKeys and s's view equals it (the Hub's values must have stopped
// changing).
func requireConverges(t testing.TB, s *Subscriber, hs *hubServer, match string, wantKeys ...string) {
	t.Helper()
	var want, got map[string]Sample
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, want = hs.snapshot(match)
		got = s.Values()
		if s.Connected() && slices.Equal(keys(want), wantKeys) && reflect.DeepEqual(want, got) {
			return
		}
		if time.Now().After(deadline) {
			require.Equal(t, want, got, "the view never converged to the hub's snapshot (connected %v)", s.Connected())
			t.Fatal("not connected")
		}
		time.Sleep(time.Millisecond) // polling for an event with a deadline
	}
}

func dial(t testing.TB, url string, opts *Options) *Subscriber {
	t.Helper()
	s, err := Dial(testCtx(t), url, optsOf(opts))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// fastOptions reconnects quickly; tests that check the backoff replace it.
// optsOf is *o, or the zero Options for nil.
func optsOf(o *Options) Options {
	if o == nil {
		return Options{}
	}
	return *o
}

func fastOptions() *Options {
	return &Options{MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}
}

func keys(m map[string]Sample) []string {
	return slices.Sorted(maps.Keys(m))
}

// proxy is a TCP proxy in front of a server, whose connections the test
// can cut, and which can drop the next delta frame from server to client.
type proxy struct {
	t         testing.TB
	ln        net.Listener
	target    string
	dropDelta atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) wsURL() string { return "ws://" + p.ln.Addr().String() + "/ws/metrics" }

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *proxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(server, client)
		done <- struct{}{}
	}()
	go func() {
		p.pipeFrames(client, server)
		done <- struct{}{}
	}()
	<-done
	client.Close()
	server.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// pipeFrames copies the server's HTTP response head, then its WebSocket
// frames one by one, dropping one delta when dropDelta is armed.
func (p *proxy) pipeFrames(dst, src net.Conn) {
	br := bufio.NewReader(src)
	for first := true; ; first = false {
		line, err := br.ReadBytes('\n')
		if _, werr := dst.Write(line); err != nil || werr != nil {
			return
		}
		if first && !bytes.Contains(line, []byte(" 101 ")) {
			_, _ = io.Copy(dst, br) // a refusal: plain HTTP
			return
		}
		if bytes.Equal(line, []byte("\r\n")) {
			break
		}
	}
	hdr := make([]byte, 14)
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return
		}
		n, h := uint64(hdr[1]&0x7f), 2
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[2:4]); err != nil {
				return
			}
			n, h = uint64(hdr[2])<<8|uint64(hdr[3]), 4
		case 127:
			if _, err := io.ReadFull(br, hdr[2:10]); err != nil {
				return
			}
			n, h = 0, 10
			for _, b := range hdr[2:10] {
				n = n<<8 | uint64(b)
			}
		}
		if hdr[1]&0x80 != 0 { // masked: never from a server, but be exact
			if _, err := io.ReadFull(br, hdr[h:h+4]); err != nil {
				return
			}
			h += 4
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		textFin := hdr[0] == 0x81
		if textFin && bytes.HasPrefix(payload, []byte(`{"type":"delta"`)) && p.dropDelta.CompareAndSwap(true, false) {
			continue
		}
		if _, err := dst.Write(append(hdr[:h:h], payload...)); err != nil {
			return
		}
	}
}

// killAll cuts every proxied connection, like a network failure.
func (p *proxy) killAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	return len(p.conns) / 2
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
