package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-pulse/pulse/bench/internal/hist"
)

// stormState counts a reconnect storm: from the moment it begins (the
// "storm" or "drop" command), how many clients are live again (have
// received a snapshot and a delta, or for the peers a stamped message, on
// a connection opened since), how long each took, and what the attempts
// that failed saw.
type stormState struct {
	gen   atomic.Uint64 // 0 until the first storm
	start atomic.Int64  // Unix ns when the current storm began
	live  atomic.Int64
	ttl   hist.H // time from the storm's start to live again

	attempts, upgraded                       atomic.Uint64
	resumed                                  atomic.Uint64 // connections the Hub resumed (-resume)
	refused, unavailable, statusOther, reset atomic.Uint64
	timeout, local, other                    atomic.Uint64
	retryAfterMax                            atomic.Int64 // ns
	firstErr                                 atomic.Pointer[string]
}

var storm stormState

// begin starts a new storm generation.
func (s *stormState) begin() {
	for _, a := range []*atomic.Uint64{&s.attempts, &s.upgraded, &s.resumed, &s.refused, &s.unavailable, &s.statusOther, &s.reset, &s.timeout, &s.local, &s.other} {
		a.Store(0)
	}
	s.retryAfterMax.Store(0)
	s.firstErr.Store(nil)
	s.live.Store(0)
	s.ttl.Reset()
	s.start.Store(time.Now().UnixNano())
	s.gen.Add(1)
}

// live counts c's client live in the current storm, once.
func (c *conn) live() {
	g := storm.gen.Load()
	if g == 0 || c.gen != g || c.cl == nil || c.cl.liveGen == g {
		return
	}
	c.cl.liveGen = g
	storm.live.Add(1)
	storm.ttl.Record(time.Now().UnixNano() - storm.start.Load())
}

// failed counts a failed attempt by what it met and returns the server's
// Retry-After, if it sent one.
func (s *stormState) failed(err error) time.Duration {
	var he *handshakeError
	var ne net.Error
	switch {
	case errors.As(err, &he) && he.status == 503:
		s.unavailable.Add(1)
		for {
			old := s.retryAfterMax.Load()
			if int64(he.retryAfter) <= old || s.retryAfterMax.CompareAndSwap(old, int64(he.retryAfter)) {
				break
			}
		}
		return he.retryAfter
	case he != nil:
		s.statusOther.Add(1)
	case errors.Is(err, syscall.ECONNREFUSED):
		s.refused.Add(1)
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE):
		s.reset.Add(1)
	case errors.As(err, &ne) && ne.Timeout():
		s.timeout.Add(1)
	case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EADDRINUSE):
		s.local.Add(1)
	default:
		s.other.Add(1)
	}
	msg := err.Error()
	s.firstErr.CompareAndSwap(nil, &msg)
	return 0
}

// StormStatus is what "storm-status" prints.
type StormStatus struct {
	Gen           uint64  `json:"gen"`
	Seconds       float64 `json:"seconds"` // since the storm began
	Clients       int     `json:"clients"`
	Live          int64   `json:"live"`
	Attempts      uint64  `json:"attempts"`
	Upgraded      uint64  `json:"upgraded"`
	Resumed       uint64  `json:"resumed"` // upgrades the Hub answered with a resume hello
	Refused       uint64  `json:"refused"`
	Unavailable   uint64  `json:"unavailable"` // 503
	RetryAfterMax float64 `json:"retry_after_max_s"`
	StatusOther   uint64  `json:"status_other"`
	Reset         uint64  `json:"reset"`
	Timeout       uint64  `json:"timeout"`
	Local         uint64  `json:"local"` // this process: out of descriptors or ports
	Other         uint64  `json:"other"`
	FirstError    string  `json:"first_error,omitempty"`
	TTLp50ms      float64 `json:"ttl_p50_ms"`
	TTLp90ms      float64 `json:"ttl_p90_ms"`
	TTLp99ms      float64 `json:"ttl_p99_ms"`
	TTLmaxms      float64 `json:"ttl_max_ms"`
}

func (s *stormState) status(clients int) []byte {
	st := StormStatus{Gen: s.gen.Load(), Seconds: float64(time.Now().UnixNano()-s.start.Load()) / 1e9, Clients: clients,
		Live: s.live.Load(), Attempts: s.attempts.Load(), Upgraded: s.upgraded.Load(), Resumed: s.resumed.Load(), Refused: s.refused.Load(),
		Unavailable: s.unavailable.Load(), RetryAfterMax: time.Duration(s.retryAfterMax.Load()).Seconds(),
		StatusOther: s.statusOther.Load(), Reset: s.reset.Load(), Timeout: s.timeout.Load(), Local: s.local.Load(), Other: s.other.Load(),
		TTLp50ms: float64(s.ttl.Quantile(0.5)) / 1e6, TTLp90ms: float64(s.ttl.Quantile(0.9)) / 1e6,
		TTLp99ms: float64(s.ttl.Quantile(0.99)) / 1e6, TTLmaxms: float64(s.ttl.Max()) / 1e6}
	if p := s.firstErr.Load(); p != nil {
		st.FirstError = *p
	}
	b, _ := json.Marshal(st)
	return b
}
