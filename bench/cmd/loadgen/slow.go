package main

import (
	"bytes"
	"sync/atomic"
)

// Slow readers (-slow): a fraction of the connections whose sockets have a
// small receive buffer and whose reads are paced by a token bucket, as a
// client on a weak mobile link. They are counted apart, so the window's
// latency and deliveries are the fast clients' only.
var (
	slowFraction     float64
	slowRate         int
	slowRcvBuf       int
	slowCount        atomic.Int64
	slowSt           slowStats
	slowClosedAtMark atomic.Uint64
)

type slowStats struct {
	messages  atomic.Uint64 // data messages
	delivered atomic.Uint64 // stamped messages (deltas and snapshots with bench_sent_us)
	closed    atomic.Uint64
}

func (s *slowStats) message(p []byte) {
	if !marking.Load() {
		return
	}
	s.messages.Add(1)
	if !bytes.HasPrefix(p, preHello) && bytes.Contains(p, keySentUS) {
		s.delivered.Add(1)
	}
}

// isSlow spreads the slow readers evenly over the connections.
func isSlow(i int) bool {
	slow := int(float64(i+1)*slowFraction) > int(float64(i)*slowFraction)
	if slow {
		slowCount.Add(1)
	}
	return slow
}
