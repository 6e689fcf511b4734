package pulse

import "time"

// The watchdog: one goroutine per Hub that enforces WriteTimeout for every
// client (instead of a timer per write) and schedules their pings. It runs
// every min(1s, WriteTimeout/2), and outlives the collector during
// Shutdown so that writes blocked on stalled clients still time out.

func (h *Hub) watchdogLoop(watch <-chan time.Time) {
	var cs []*client
	for {
		select {
		case <-watch:
		case <-h.watchStop:
			return
		}
		now := h.now()
		r := h.reg
		r.mu.Lock()
		cs = cs[:0]
		for c := range r.clients {
			cs = append(cs, c)
		}
		r.mu.Unlock()
		for _, c := range cs {
			c.check(now)
		}
		clear(cs)
	}
}

// check runs on the watchdog goroutine: it closes c if its socket took
// nothing for WriteTimeout, and schedules its pings.
func (c *client) check(now time.Time) {
	h := c.h
	at := h.sinceAt(now)
	if ds := c.drainSince.Load(); ds != 0 && at-ds > int64(h.opts.WriteTimeout) {
		c.slow()
	}
	if h.opts.PingInterval <= 0 {
		return
	}
	if po := c.pingOut.Load(); po != 0 && at-po > int64(h.opts.PingTimeout) && c.pingOut.CompareAndSwap(po, 0) {
		h.stats.pingTimeout.Add(1)
		h.logDebug("pulse: client did not answer ping", "timeout", h.opts.PingTimeout)
		c.kill()
		return
	}
	switch {
	case c.nextPing.IsZero():
		// Spread the first pings over a whole interval: clients that
		// connected together are not all pinged in the same pass.
		c.nextPing = now.Add(h.opts.PingInterval - 5*h.hooks.jitter())
		return
	case now.Before(c.nextPing):
		return
	}
	c.nextPing = now.Add(h.opts.PingInterval - h.hooks.jitter())
	c.mu.Lock()
	if c.conn == nil {
		c.pingDue.Store(true)
	} else if c.pingOut.Load() == 0 {
		c.wantPing = true // the next visit carries it (writer.go)
	}
	c.wakeLocked()
	c.mu.Unlock()
}

// slow disconnects a client that made no progress for WriteTimeout. The
// close frame goes out if the peer drains its socket within the close
// handshake's 5 seconds; otherwise the connection is torn down.
func (c *client) slow() {
	if c.conn == nil || !c.slowed.CompareAndSwap(false, true) {
		return
	}
	h := c.h
	h.stats.slow.Add(1)
	h.logDebug("pulse: slow client disconnected", "write_timeout", h.opts.WriteTimeout)
	if c.closeCode.Load() == 0 {
		c.startClose(StatusSlowClient, reasonSlow)
		return
	}
	// Another close is under way but stuck behind the same write.
	h.clientTasks.add()
	go func() {
		defer h.clientTasks.done()
		c.closeConn(StatusSlowClient, reasonSlow)
	}()
}
