package pulse

// The reader of a WebSocket client waits between messages off
// coder/websocket's read path.
//
// Clients seldom send anything: a subscription now and then, and a pong
// to each of the Hub's pings. coder/websocket's read path, blocked in the
// socket's read, needs a 4 KiB goroutine stack, which an idle connection
// would hold for its whole life. So between messages the reader waits on
// a shallow stack instead (awaitInput, 2 KiB): a readWaiter blocks until
// the socket is readable, without reading it, and takes whole pongs off
// the socket itself, charging them to the client's inbound budget
// (Options.ReadRate) as if coder/websocket had read them. Anything else
// that arrives (a data message, a ping, a close frame, a partial frame) is
// read by coder/websocket on a goroutine started for it (readMessage,
// reader.go), which hands the connection back to a new waiter once the
// message is handled. One of the two runs at a time, each started by the
// other: together they are the connection's one reader.
//
// Where there is no file descriptor to wait on (rw nil: a TLS connection,
// or a platform without one), readMessage reads in a loop, as
// coder/websocket is meant to be used.
//
// The waiter reads coder/websocket's buffered reader (br) only to see
// whether it holds bytes, under rmu, and only while no close has begun:
// the close handshake reads too, and closeConn passes rmu before it starts
// it.

// startReader starts c's reader once the connection is handed over; with
// pipelined bytes (see smallBufs), coder/websocket reads first.
func (c *client) startReader(pipelined bool) {
	if c.rw == nil || pipelined {
		go c.readMessage()
		return
	}
	go c.awaitInput()
}

// awaitInput waits, on a shallow stack, until coder/websocket has
// something to read, then hands over to readMessage.
func (c *client) awaitInput() {
	c.rmu.Lock()
	next := c.closeCode.Load() != 0 || c.br.Buffered() > 0
	c.rmu.Unlock()
	if !next {
		if err := c.rw.await(c); err != nil {
			c.endRead()
			return
		}
	}
	go c.readMessage()
}

// pongSize is the length of the whole client pong frame at the start of
// p (FIN, opcode 10 with no reserved bit, masked, at most 125 bytes of
// payload, all of it in p), or 0 when p does not start with one.
func pongSize(p []byte) int {
	if len(p) < 2 || p[0] != 0x80|opPong || p[1]&0x80 == 0 || p[1]&0x7F > 125 {
		return 0
	}
	n := 2 + 4 + int(p[1]&0x7F)
	if len(p) < n {
		return 0
	}
	return n
}

// pongTaken counts a pong of n bytes the waiter took off the socket:
// against the client's inbound budget (past it, the budget's close starts
// here, as it would in coder/websocket's read), and as the answer to the
// Hub's ping. It reports whether the client may go on.
func (c *client) pongTaken(n int) bool {
	if c.mc.charge(n) != nil {
		return false
	}
	c.pingOut.Store(0)
	return true
}
