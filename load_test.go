package pulse

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// The load test's size. The defaults are small enough for the race
// detector (which stops a program past 8,128 goroutines); .ci/run also runs
// it large, without -race:
//
//	go test -run TestLoadAndChurn -count=1 -load.clients=5000 -load.churn=20000 -load.duration=20s .
var (
	loadClients  = flag.Int("load.clients", 300, "concurrent WebSocket clients in TestLoadAndChurn")
	loadChurn    = flag.Int("load.churn", 1000, "connect/disconnect cycles during TestLoadAndChurn")
	loadDuration = flag.Duration("load.duration", 5*time.Second, "how long TestLoadAndChurn keeps the load up")
)

// loadSource is a source whose values change every collection and which
// fails, panics or returns an invalid batch at random.
type loadSource struct {
	name   string
	mu     sync.Mutex
	n      int
	final  bool
	values []float64
}

func (s *loadSource) Collect(context.Context) ([]Metric, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.final {
		switch r := rand.IntN(20); {
		case r == 0:
			return nil, errors.New("random failure")
		case r == 1:
			panic("random panic")
		case r == 2:
			return []Metric{{Name: "bad name"}}, nil
		}
		s.n++
		for i := range s.values {
			s.values[i] = float64(s.n*10 + i)
		}
	}
	ms := make([]Metric, len(s.values))
	for i, v := range s.values {
		ms[i] = Metric{Name: s.name, Labels: Labels{"i": fmt.Sprint(i)}, Value: v}
		if i%3 == 0 {
			ms[i].Name, ms[i].Kind = s.name+"_total", KindCounter
		}
	}
	return ms, nil
}

func (s *loadSource) finish() {
	s.mu.Lock()
	s.final = true
	s.mu.Unlock()
}

type loadClient struct {
	conn   *websocket.Conn
	kind   int // 0 healthy, 1 slow, 2 stalled
	mu     sync.Mutex
	v      *view
	closed websocket.StatusCode
	err    error
	done   chan struct{}
}

// liveHeap returns the live heap after a full collection (two, so that
// sync.Pools are emptied too).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func TestLoadAndChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	nClients, nChurn := *loadClients, *loadChurn
	baseGoroutines := runtime.NumGoroutine()
	baseHeap := liveHeap()

	h, srcs := newLoadHub(t, nClients)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = smallSendBuffers(srv.Listener)
	srv.Start()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	smallRecv := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}).DialContext}}

	clients := connectLoadClients(t, url, nClients, smallRecv)
	t0 := time.Now()
	phase := func(name string) { t.Logf("%8.1fs %s", time.Since(t0).Seconds(), name) }
	phase("connected")
	for _, lc := range clients {
		if lc.kind == 2 {
			continue // stalled: never reads
		}
		go lc.read()
	}

	churn := startChurn(url, nChurn)
	peakHeap, loadedHeap := sustainLoad(t, churn.done)
	phase("load done")
	require.Zero(t, churn.errs.Load(), "churn connections failed")

	awaitConvergence(t, srv.URL, srcs, clients)
	st := h.Stats()
	phase("converged")

	goingAway := shutdownUnderLoad(t, h, clients)
	phase("shut down")
	srv.Close()
	srv.CloseClientConnections()
	http.DefaultClient.CloseIdleConnections()
	smallRecv.CloseIdleConnections()

	eventually(t, func() bool { return runtime.NumGoroutine() <= baseGoroutines+2 }, "goroutines back to the baseline (%d now, %d before)", runtime.NumGoroutine(), baseGoroutines)
	clients = nil
	endHeap := liveHeap()
	require.Less(t, endHeap, baseHeap+16<<20, "heap back near its baseline")
	phase("goroutines and heap back")

	perClient := float64(loadedHeap-baseHeap) / float64(nClients)
	t.Logf("load: clients=%d churn=%d duration=%v ticks=%d messages=%d bytes=%d merged_deltas=%d slow_disconnects=%d source_errors=%d (panics %d) going_away=%d",
		nClients, churn.ok.Load(), *loadDuration, st.Ticks, st.MessagesSent, st.BytesSent, st.MergedDeltas, st.SlowDisconnects, st.SourceErrors, st.SourcePanics, goingAway)
	t.Logf("heap: baseline live=%.1f MiB, live under load=%.1f MiB, peak in use=%.1f MiB, live at the end=%.1f MiB; live per client under load=%.1f KiB (server side and the in-process client side together)",
		mib(baseHeap), mib(loadedHeap), mib(peakHeap), mib(endHeap), perClient/1024)
	if nClients >= 1000 {
		require.Positive(t, st.MergedDeltas, "slow clients were sent merged deltas")
		require.Positive(t, st.SlowDisconnects, "stalled clients were disconnected")
	}
}

// newLoadHub returns the load test's Hub, room for nClients and the churn,
// with its three sources registered.
func newLoadHub(t *testing.T, nClients int) (*Hub, []*loadSource) {
	h, err := NewHub(Options{
		Interval:     250 * time.Millisecond,
		WriteTimeout: 5 * time.Second, // generous: in-process readers share 2 cores with the server
		MaxClients:   nClients + 200,
		QueueSize:    8,
		History:      50,
	})
	require.NoError(t, err)
	srcs := []*loadSource{
		{name: "load_a", values: make([]float64, 10)},
		{name: "load_b", values: make([]float64, 10)},
		{name: "load_c", values: make([]float64, 10)},
	}
	for _, s := range srcs {
		require.NoError(t, h.Register(s, SourceOptions{Name: s.name, StaleAfter: 100}))
	}
	return h, srcs
}

// connectLoadClients connects n clients to url, 64 at a time: 90% healthy,
// 5% slow readers, 5% stalled (on smallRecv, with a small receive buffer).
func connectLoadClients(t *testing.T, url string, n int, smallRecv *http.Client) []*loadClient {
	clients := make([]*loadClient, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range clients {
		lc := &loadClient{kind: 0, v: newView(), done: make(chan struct{})}
		switch i % 20 {
		case 0:
			lc.kind = 1
		case 1:
			lc.kind = 2
		}
		clients[i] = lc
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			opts := &websocket.DialOptions{}
			if lc.kind == 2 {
				opts.HTTPClient = smallRecv
			}
			c, _, err := websocket.Dial(ctx, url, opts)
			if err != nil {
				lc.err = err
				close(lc.done)
				return
			}
			c.SetReadLimit(-1)
			lc.conn = c
		}()
	}
	wg.Wait()
	for i, lc := range clients {
		require.NoError(t, lc.err, "client %d", i)
	}
	return clients
}

// churnCount counts the churn of startChurn; done is closed when it is over.
type churnCount struct {
	ok   atomic.Int64 // connections that went through
	errs atomic.Int64 // connections that failed
	done chan struct{}
}

// startChurn makes n connections to url that read hello and snapshot and
// leave, 32 at a time.
func startChurn(url string, n int) *churnCount {
	c := &churnCount{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		var cw sync.WaitGroup
		next := atomic.Int64{}
		for w := 0; w < 32; w++ {
			cw.Add(1)
			go func() {
				defer cw.Done()
				for next.Add(1) <= int64(n) {
					if err := churnOnce(url); err != nil {
						c.errs.Add(1)
						continue
					}
					c.ok.Add(1)
				}
			}()
		}
		cw.Wait()
	}()
	return c
}

// sustainLoad keeps the load up for -load-duration and until the churn is
// done, sampling the heap: it returns the peak heap in use and the live
// heap mid-run (every client connected).
func sustainLoad(t *testing.T, churnDone chan struct{}) (peakHeap, loadedHeap uint64) {
	start := time.Now()
	sample := time.NewTicker(500 * time.Millisecond)
	defer sample.Stop()
	for time.Since(start) < *loadDuration || !closedChan(churnDone) {
		<-sample.C
		peakHeap = max(peakHeap, heapInUse())
		if loadedHeap == 0 && time.Since(start) > *loadDuration/2 {
			loadedHeap = liveHeap() // every client connected, mid-run
		}
		require.Less(t, time.Since(start), 10*time.Minute, "the load did not finish")
	}
	return peakHeap, loadedHeap
}

// awaitConvergence stops the sources failing and changing, then requires
// every healthy client to converge to the Hub's final state, read from the
// snapshot at srvURL.
func awaitConvergence(t *testing.T, srvURL string, srcs []*loadSource, clients []*loadClient) {
	for _, s := range srcs {
		s.finish()
	}
	var final wireMsg
	eventually(t, func() bool {
		resp, body := get(t, srvURL, nil)
		if resp.StatusCode != http.StatusOK {
			return false
		}
		final = wireMsg{}
		require.NoError(t, json.Unmarshal(body, &final))
		return len(final.Values) == 30 && len(final.Stale) == 0
	}, "the final state settles")
	want := map[string]float64{}
	for k, v := range final.Values {
		want[k] = num(v)
	}
	for i, lc := range clients {
		if lc.kind != 0 {
			continue
		}
		eventually(t, func() bool {
			lc.mu.Lock()
			defer lc.mu.Unlock()
			require.NoError(t, lc.err, "healthy client %d", i)
			require.Zero(t, lc.closed, "healthy client %d was disconnected", i)
			return lc.v.synced && lc.v.seq >= final.Seq && mapsEqual(lc.v.values, want)
		}, "healthy client %d converges to the final snapshot", i)
	}
}

// shutdownUnderLoad shuts h down with the clients connected and requires
// every healthy client to see going-away; it returns how many did.
func shutdownUnderLoad(t *testing.T, h *Hub, clients []*loadClient) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, h.Shutdown(ctx))
	goingAway := 0
	for _, lc := range clients {
		if lc.kind == 2 {
			lc.conn.CloseNow()
			continue
		}
		<-lc.done
		if lc.kind == 0 {
			require.Equal(t, websocket.StatusGoingAway, lc.closed)
			goingAway++
		}
	}
	return goingAway
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func closedChan(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (lc *loadClient) read() {
	defer close(lc.done)
	var pace *time.Ticker
	if lc.kind == 1 {
		pace = time.NewTicker(300 * time.Millisecond) // a slow reader's pace, not synchronisation
		defer pace.Stop()
	}
	for {
		if pace != nil {
			<-pace.C
		}
		_, data, err := lc.conn.Read(context.Background())
		if err != nil {
			lc.mu.Lock()
			lc.closed = websocket.CloseStatus(err)
			lc.mu.Unlock()
			return
		}
		m := &wireMsg{raw: data}
		err = json.Unmarshal(data, m)
		lc.mu.Lock()
		if err == nil {
			err = lc.v.apply(m)
		}
		if err != nil && lc.err == nil {
			lc.err = err
		}
		lc.mu.Unlock()
	}
}

func churnOnce(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	for i := 0; i < 2; i++ { // hello, snapshot
		if _, _, err := c.Read(ctx); err != nil {
			return err
		}
	}
	return c.Close(websocket.StatusNormalClosure, "")
}
