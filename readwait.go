package pulse

import "github.com/coder/websocket"

// The reader of a WebSocket client waits between messages off
// coder/websocket's read path.
//
// Clients seldom send anything: a subscription now and then, and a pong
// to each of the Hub's pings. coder/websocket's read path, blocked in the
// socket's read, needs a 4 KiB goroutine stack, which an idle connection
// would hold for its whole life. So between messages the reader waits on
// a shallow stack instead (awaitInput, 2 KiB): a readWaiter blocks until
// the socket is readable, without reading it, and takes whole pings and
// pongs off the socket itself (answering pings, see controlTaken),
// charging them to the client's inbound budget (Options.ReadRate) as if
// coder/websocket had read them. Of a ping or pong that has arrived in
// part it takes that part too, and waits for the rest (readWaiter.have).
// Anything else that arrives (a data message, a close frame) is read by
// coder/websocket on a goroutine started for it (readMessage,
// reader.go), which hands the connection back to a new waiter once the
// message is handled. One of the two runs at a time, each started by the
// other: together they are the connection's one reader.
//
// Where there is no file descriptor to wait on (rw nil: a TLS connection,
// or a platform without one), readMessage reads in a loop, as
// coder/websocket is meant to be used.
//
// The waiter reads coder/websocket's buffered reader (br), where the
// message before may have left the start of a control frame, only under
// rmu and only while no close has begun: the close handshake reads too,
// and closeConn passes rmu before it starts it. The rest of a ping or
// pong the waiter has taken in part comes from the socket alone (br
// holds nothing then), so the waiter finishes it even once a close has
// begun: the handshake's reads wait for the descriptor's read lock, which
// the waiter holds, and then start at a frame boundary. Pings and pongs
// that arrive inside a fragmented message are coder/websocket's (its read
// is then in progress); ReadRate bounds them.

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
	if c.closeCode.Load() == 0 {
		if err := c.rw.await(c); err != nil {
			c.endRead()
			return
		}
	}
	go c.readMessage()
}

// Control frames the waiter takes off the socket itself. A ping flood
// must cost the server nothing but the bytes it reads: through
// coder/websocket each ping costs about 1.4 KB of garbage (the contexts
// and timers of its read and write deadlines), so three flooders within
// their ReadRate burst made megabytes of it. The waiter reads a ping or
// pong whole into the waiter's fixed buffer (maxControlFrame bytes),
// answers a ping with its pong through the batchWriter, which drops it
// when maxControlPending bytes are pending (counted in ControlDropped),
// and allocates nothing otherwise.

// Limits of a client's control frame (RFC 6455 section 5.5).
const (
	maxControlPayload = 125
	maxControlFrame   = 2 + 4 + maxControlPayload // header, mask key, payload
	opPing            = 0x9
)

// What the waiter finds next on a client's socket (controlFrameAt).
const (
	ctlOther   = iota // not a ping or pong (data, close, unknown opcode): coder/websocket reads it
	ctlPartial        // the start of a ping or pong: wait for the rest
	ctlWhole          // a whole, valid ping or pong
	ctlBad            // a ping or pong RFC 6455 forbids: fragmented, reserved bits, unmasked, too long
)

// controlFrameAt classifies the client frame at the start of p and, for
// ctlWhole, returns its length.
func controlFrameAt(p []byte) (kind, size int) {
	if len(p) == 0 {
		return ctlPartial, 0
	}
	if op := p[0] & 0x0F; op != opPing && op != opPong {
		return ctlOther, 0
	}
	if p[0]&0xF0 != 0x80 { // not FIN, or a reserved bit: no extension applies to control frames
		return ctlBad, 0
	}
	if len(p) < 2 {
		return ctlPartial, 0
	}
	if p[1]&0x80 == 0 || int(p[1]&0x7F) > maxControlPayload {
		return ctlBad, 0
	}
	size = 2 + 4 + int(p[1]&0x7F)
	if len(p) < size {
		return ctlPartial, 0
	}
	return ctlWhole, size
}

// controlTaken handles a whole ping or pong the waiter took (frame,
// still masked, its bytes charged to the client's inbound budget): it
// takes a pong as the answer to the Hub's ping, and answers a ping with a
// pong of the same payload unless too much is pending or a close has
// begun (batchWriter.Write). frame is overwritten.
func (c *client) controlTaken(frame []byte) {
	if frame[0]&0x0F == opPong {
		c.pingOut.Store(0)
		return
	}
	key, payload := frame[2:6], frame[6:]
	for i := range payload {
		payload[i] ^= key[i&3]
	}
	frame[4], frame[5] = 0x80|opPong, byte(len(payload)) // the pong, in place
	_, _ = c.bw.Write(frame[4:])
}

// badControl closes a client that sent a control frame RFC 6455 forbids
// with 1002 (protocol error), and waits for the close frame to be handed
// to the socket before coder/websocket meets the frame.
func (c *client) badControl() {
	c.h.stats.clientErrors.Add(1)
	c.closeAndWait(websocket.StatusProtocolError, reasonBadControl)
}
