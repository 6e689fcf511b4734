package pulse

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// seriesSource reports n gauges (half of them changing every call) and n/10
// counters, like a typical service's mix.
type seriesSource struct {
	ms []Metric
	i  int
}

func newSeriesSource(n int) *seriesSource {
	s := &seriesSource{}
	for i := 0; i < n; i++ {
		m := Metric{Name: "bench_gauge", Labels: Labels{"id": strconv.Itoa(i)}, Unit: "items"}
		if i%10 == 0 {
			m.Name, m.Kind = "bench_total", KindCounter
		}
		s.ms = append(s.ms, m)
	}
	return s
}

func (s *seriesSource) Collect(context.Context) ([]Metric, error) {
	s.i++
	for j := range s.ms {
		if j%2 == 0 || s.ms[j].Kind == KindCounter {
			s.ms[j].Value = float64(s.i + j)
		}
	}
	return s.ms, nil
}

// attachFake attaches a client with a queue but no socket; the benchmark
// drains it as a writer would (the SSE writer's path, without the writes).
func (th *testHub) attachFake(flt *filter) *client {
	c := &client{h: th.Hub, kick: make(chan struct{}, 1), kill: func() {}}
	if ok, _ := th.attach(c, th.reg.use(flt)); !ok {
		th.t.Fatal("attach refused")
	}
	c.restart(reasonConnect, true)
	th.t.Cleanup(func() {
		th.detach(c)
		th.clientTasks.done()
	})
	return c
}

// tickDirect runs a tick on the calling goroutine (the collector loop stays
// idle: nothing is sent on its tick channel).
func (th *testHub) tickDirect() {
	th.runTick()
	<-th.ticked
}

func (c *client) drainFake() {
	for _, ok := c.nextSSE(); ok; _, ok = c.nextSSE() {
	}
}

// BenchmarkTick measures one tick: collect, validate, diff, rate, and encode
// one delta for one filter.
func BenchmarkTick(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			th := newTestHub(b, Options{MaxSeries: 2 * n})
			if err := th.Register(newSeriesSource(n), SourceOptions{}); err != nil {
				b.Fatal(err)
			}
			benchTicks(b, th, 1)
		})
	}
}

// benchTicks times b.N ticks of th, each drained by n fake clients sharing
// the filter "*".
func benchTicks(b *testing.B, th *testHub, n int) {
	flt := newFilter([]string{"*"}, nil)
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = th.attachFake(flt)
	}
	drain := func() {
		for _, c := range cs {
			c.drainFake()
		}
	}
	th.tickDirect()
	drain()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		th.clock.Advance(time.Second)
		th.tickDirect()
		drain()
	}
}

// BenchmarkFanout measures one tick (100 series) delivered to the queues of
// 1, 100 and 1,000 clients sharing one filter. allocs/op stays flat as the
// clients grow: the delta is encoded once and each client costs no
// allocation. The socket writes are measured by BenchmarkBroadcastWebSocket.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			th := newTestHub(b, Options{MaxClients: -1})
			if err := th.Register(newSeriesSource(100), SourceOptions{}); err != nil {
				b.Fatal(err)
			}
			benchTicks(b, th, n)
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/client")
		})
	}
}

// BenchmarkBroadcastWebSocket measures one tick delivered over real loopback
// WebSocket connections to every client: one op ends when the last client
// has read the tick's delta.
func BenchmarkBroadcastWebSocket(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			th := newTestHub(b, Options{MaxClients: -1, PingInterval: -1})
			g := NewGauge("bench_value")
			if err := th.Register(g, SourceOptions{}); err != nil {
				b.Fatal(err)
			}
			// remaining counts the messages still expected; the reader that
			// brings it to zero signals the benchmark loop.
			var remaining atomic.Int64
			arrived := make(chan struct{}, 1)
			remaining.Store(int64(2 * n)) // hello and snapshot
			var wg sync.WaitGroup
			conns := make([]*websocket.Conn, n)
			for i := range conns {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, _, err := websocket.Dial(ctx, th.wsURL(""), nil)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				conns[i] = c
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 4096)
					for {
						_, r, err := c.Reader(context.Background())
						if err != nil {
							return
						}
						for {
							_, err := r.Read(buf)
							if err == io.EOF {
								break
							}
							if err != nil {
								return
							}
						}
						if remaining.Add(-1) == 0 {
							arrived <- struct{}{}
						}
					}
				}()
			}
			<-arrived
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g.Set(float64(i))
				remaining.Store(int64(n))
				th.clock.Advance(time.Second)
				th.tick <- th.clock.Now()
				<-th.ticked
				<-arrived
			}
			b.StopTimer()
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			for _, c := range conns {
				_ = c.CloseNow()
			}
			wg.Wait()
		})
	}
}
