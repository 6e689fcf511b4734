package pulse

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBroadcastWebSocketDeflate is BenchmarkBroadcastWebSocket with
// clients that negotiate permessage-deflate as browsers do, in protocol
// v2, and a delta large enough to be compressed (40 gauges). The clients
// read frames by hand and discard them (nothing is inflated, so they
// allocate nothing): allocs/op is the server's per tick, and must not grow
// with the number of clients. compressions/op is the Hub's count per tick
// (one per group message), zframes/op the compressed frames that arrived
// (one per client).
func BenchmarkBroadcastWebSocketDeflate(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			th := newTestHub(b, Options{MaxClients: -1, PingInterval: -1, History: -1})
			gs := make([]*Gauge, 40)
			for i := range gs {
				gs[i] = NewGauge("bench_value", WithLabels(Labels{"i": strconv.Itoa(i)}))
				if err := th.Register(gs[i], SourceOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			th.Tick(time.Second)
			var remaining, zframes atomic.Int64
			arrived := make(chan struct{}, 1)
			remaining.Store(int64(2 * n)) // hello and snapshot
			var wg sync.WaitGroup
			conns := make([]*rawWS, n)
			for i := range conns {
				r, ext := th.rawDialDeflate("v=2")
				conns[i] = r
				if ext == "" {
					b.Fatal("permessage-deflate not negotiated")
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						rsv1, err := discardFrame(r.br)
						if err != nil {
							return
						}
						if rsv1 {
							zframes.Add(1)
						}
						if remaining.Add(-1) == 0 {
							arrived <- struct{}{}
						}
					}
				}()
			}
			<-arrived
			z0, c0 := zframes.Load(), th.Stats().Compressions
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j, g := range gs {
					g.Set(float64(i*len(gs) + j))
				}
				remaining.Store(int64(n))
				th.clock.Advance(time.Second)
				th.tick <- th.clock.Now()
				<-th.ticked
				<-arrived
			}
			b.StopTimer()
			b.ReportMetric(float64(th.Stats().Compressions-c0)/float64(b.N), "compressions/op")
			b.ReportMetric(float64(zframes.Load()-z0)/float64(b.N), "zframes/op")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			for _, r := range conns {
				_ = r.conn.Close()
			}
			wg.Wait()
		})
	}
}

// discardFrame reads one server frame and drops its payload, allocating
// nothing; it reports whether RSV1 (compressed) was set.
func discardFrame(br *bufio.Reader) (rsv1 bool, err error) {
	h, err := br.Peek(2)
	if err != nil {
		return false, err
	}
	rsv1 = h[0]&0x40 != 0
	n, hl := uint64(h[1]&0x7f), 2
	switch n {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if h, err = br.Peek(hl); err != nil {
		return false, err
	}
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		n = binary.BigEndian.Uint64(h[2:10])
	}
	_, err = br.Discard(hl + int(n))
	return rsv1, err
}
