package main

import (
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"
)

// client is one simulated dashboard: a connection at a time, and with
// -reconnect a new one whenever it ends, as pulse's subscriber would.
type client struct {
	d       *net.Dialer // bound to this client's source address
	slow    bool        // a slow reader (see slow.go)
	cur     atomic.Pointer[conn]
	liveGen uint64      // the storm generation this client was counted live in; its goroutine only
	rp      resumePoint // where its last connection left off (-resume, resume.go)
}

// Set by main from the flags.
var (
	serverAddr string // host:port
	basePath   string // request target of a fresh connection
	bufSize    int
	reconnect  bool          // redial when a connection ends
	spread     time.Duration // the first redial after a connection ends is at a uniform random time in [0, spread)
	policy     backoff
)

// target is the request target of the client's next connection: a fresh
// connect (hello, snapshot, deltas), or with -resume the Hub's epoch and
// the last seq seen (resume.go), which with conn.noteHello's idea of live
// is all the storm's resume variants change.
func (cl *client) target() string { return resumeTarget(basePath, cl.rp) }

// dial opens a connection for cl in the current storm generation.
func (cl *client) dial() (*conn, error) {
	gen := storm.gen.Load()
	c, err := dial(cl.d, serverAddr, cl.target(), bufSize, cl.slow)
	if err != nil {
		return nil, err
	}
	c.cl, c.gen, c.slow = cl, gen, cl.slow
	return c, nil
}

// connectFirst opens the client's first connection: a few tries, close
// together, while the harness waits for all N.
func (cl *client) connectFirst() (*conn, error) {
	var err error
	for try := 0; try < 5; try++ {
		var c *conn
		if c, err = cl.dial(); err == nil {
			return c, nil
		}
		time.Sleep(time.Duration(100<<try) * time.Millisecond)
	}
	return nil, err
}

// run reads c until it ends and, with -reconnect, redials for ever (the
// process ends on quit).
func (cl *client) run(c *conn) {
	for c != nil {
		cl.cur.Store(c)
		c.readLoop()
		cl.keep(c)
		cl.cur.Store(nil)
		if !reconnect {
			return
		}
		c = cl.redial()
	}
}

// drop closes the client's connection, if any, as a proxy that drops
// every connection would.
func (cl *client) drop() {
	if c := cl.cur.Load(); c != nil {
		_ = c.c.Close()
	}
}

// redial connects again after a connection ended: first at a random time
// within spread, then with the subscriber's backoff (see backoff), until
// a handshake succeeds.
func (cl *client) redial() *conn {
	wait := time.Duration(rand.Int64N(int64(spread) + 1))
	for attempt := 0; ; attempt++ {
		time.Sleep(wait)
		storm.attempts.Add(1)
		c, err := cl.dial()
		if err == nil {
			storm.upgraded.Add(1)
			return c
		}
		wait = policy.delay(attempt, storm.failed(err))
	}
}

// backoff is the reconnection policy of pulse's Go subscriber
// (subscriber/backoff.go), repeated here because that type is unexported:
// min·2^attempt capped at max, less a random part of up to jitter of it; a
// 503's Retry-After, when longer, wins (capped at max). pulse.js backs off
// the same way (250 ms doubling to 30 s, half of it random) but cannot see
// a handshake's status or headers.
type backoff struct {
	min, max time.Duration
	jitter   float64
}

func (b backoff) delay(attempt int, retryAfter time.Duration) time.Duration {
	d := b.min
	for i := 0; i < attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	d -= time.Duration(b.jitter * rand.Float64() * float64(d))
	if retryAfter > d {
		d = min(retryAfter, b.max)
	}
	return d
}
