package pulse

import (
	"bytes"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// readerStacks counts the goroutines whose stacks are in the reader's
// waiter (awaitInput) and in its message reader (readMessage).
func readerStacks() (waiting, reading int) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		g, _, _ = strings.Cut(g, "\ncreated by ")
		switch {
		case strings.Contains(g, "pulse.(*client).awaitInput"):
			waiting++
		case strings.Contains(g, "pulse.(*client).readMessage"):
			reading++
		}
	}
	return
}

// awaitIdleReader waits until the one client's reader waits in awaitInput
// and none reads in coder/websocket.
func awaitIdleReader(t *testing.T, what string) {
	t.Helper()
	eventually(t, func() bool { w, rd := readerStacks(); return w == 1 && rd == 0 }, what)
}

// TestIdleReaderWaitsOffTheReadPath checks that between messages a
// client's reader waits for its socket outside coder/websocket's read path
// (whose stack is twice as large), takes whole pongs off the socket there,
// and leaves everything else, a split pong included, to coder/websocket.
func TestIdleReaderWaitsOffTheReadPath(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: 5 * time.Second, PingTimeout: time.Minute})
	r := th.rawDial(0)
	var c *client
	eventually(t, func() bool { c = th.onlyClientExcept(); return c != nil }, "attached")
	awaitIdleReader(t, "the reader waits in awaitInput")

	subscribe := clientFrame(true, 0x1, []byte(`{"type":"subscribe","patterns":["*"]}`))
	_, err := r.conn.Write(subscribe)
	require.NoError(t, err)
	r.awaitText(`"reason":"subscribe"`)
	awaitIdleReader(t, "back in awaitInput after a message")

	ping := func() {
		t.Helper()
		th.Watch(0)
		th.Watch(5 * time.Second)
		eventually(t, func() bool { return c.pingOut.Load() != 0 }, "pinged")
	}
	ping()
	_, err = r.conn.Write(clientFrame(true, 0xA, nil))
	require.NoError(t, err)
	eventually(t, func() bool { return c.pingOut.Load() == 0 }, "the pong answered the ping")
	awaitIdleReader(t, "a whole pong is taken off without coder/websocket")

	// A pong in two writes, or longer than the waiter looks at: it sees
	// part of a frame and hands over; coder/websocket reads the pong, then
	// waits for a message.
	th.clock.Advance(time.Minute)
	ping()
	pong := clientFrame(true, 0xA, []byte("abc"))
	_, err = r.conn.Write(pong[:3])
	require.NoError(t, err)
	eventually(t, func() bool { _, rd := readerStacks(); return rd == 1 }, "a partial frame goes to coder/websocket")
	_, err = r.conn.Write(pong[3:])
	require.NoError(t, err)
	eventually(t, func() bool { return c.pingOut.Load() == 0 }, "coder/websocket's OnPongReceived answered the ping")
	_, err = r.conn.Write(subscribe)
	require.NoError(t, err)
	r.awaitText(`"reason":"subscribe"`)
	awaitIdleReader(t, "back in awaitInput after the next message")

	// A pong and a message in one write: the pong is taken, the message
	// is read by coder/websocket.
	th.clock.Advance(time.Minute)
	ping()
	_, err = r.conn.Write(append(clientFrame(true, 0xA, nil), subscribe...))
	require.NoError(t, err)
	r.awaitText(`"reason":"subscribe"`)
	eventually(t, func() bool { return c.pingOut.Load() == 0 }, "the pong before the message answered the ping")
	awaitIdleReader(t, "back in awaitInput after pong and message")
	require.Zero(t, th.Stats().PingTimeouts)
}

// Waiting for the socket allocates nothing: the waiter's callback and
// peek buffer are bound once.
func TestReadWaiterAllocatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer func() { _ = dialed.Close() }()
	conn, err := ln.Accept()
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	w := newReadWaiter(conn)
	if w == nil {
		t.Skip("no file descriptor to wait on here")
	}
	c := &client{}
	_, err = dialed.Write([]byte("x")) // readable, not a pong: await returns at once
	require.NoError(t, err)
	require.Zero(t, testing.AllocsPerRun(100, func() { require.NoError(t, w.await(c)) }))
}

// Pongs the waiter takes off the socket count against the inbound budget
// as bytes coder/websocket reads do: a pong flood is closed with 1008.
func TestPongFloodTakenByTheWaiterIsClosedByTheBudget(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: -1, ReadRate: 1024})
	r := th.rawDial(0)
	eventually(t, func() bool { return th.onlyClientExcept() != nil }, "attached")
	awaitIdleReader(t, "the reader waits in awaitInput")
	// One whole pong a write, so that the waiter sees only whole pongs
	// and takes every one (a partial frame would hand the rest of the
	// flood to coder/websocket, which the budget meters anyway).
	pong := clientFrame(true, 0xA, nil)
	go func() {
		for {
			if _, err := r.conn.Write(pong); err != nil {
				return // closed by the server
			}
		}
	}()
	require.Equal(t, websocket.StatusPolicyViolation, r.closeCode())
	require.EqualValues(t, 1, th.Stats().BudgetCloses)
	eventually(t, func() bool { return th.Stats().Clients == 0 }, "the flooder is gone")
}

// Pongs the waiter takes within the budget leave the client connected:
// a client answering every ping is never closed for it.
func TestPongsWithinTheBudgetAreTaken(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: -1, ReadRate: 1024})
	r := th.rawDial(0)
	eventually(t, func() bool { return th.onlyClientExcept() != nil }, "attached")
	awaitIdleReader(t, "the reader waits in awaitInput")
	_, err := r.conn.Write(bytes.Repeat(clientFrame(true, 0xA, nil), 100)) // 600 bytes, under the burst
	require.NoError(t, err)
	subscribe := clientFrame(true, 0x1, []byte(`{"type":"subscribe","patterns":["*"]}`))
	_, err = r.conn.Write(subscribe)
	require.NoError(t, err)
	r.awaitText(`"reason":"subscribe"`)
	awaitIdleReader(t, "back in awaitInput")
	require.Zero(t, th.Stats().BudgetCloses)
}

// awaitText reads server frames until a text frame that contains s.
func (r *rawWS) awaitText(s string) {
	r.t.Helper()
	for {
		if f := r.frame(); f.b0&0x0f == 0x1 && strings.Contains(string(f.payload), s) {
			return
		}
	}
}

func TestPongSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []byte
		want int
	}{
		{"empty pong", clientFrame(true, 0xA, nil), 6},
		{"pong with payload", clientFrame(true, 0xA, []byte("abc")), 9},
		{"pong and more", append(clientFrame(true, 0xA, nil), clientFrame(true, 0x1, []byte("x"))...), 6},
		{"partial pong", clientFrame(true, 0xA, []byte("abc"))[:8], 0},
		{"one byte", []byte{0x8A}, 0},
		{"unmasked pong", []byte{0x8A, 0x00}, 0},
		{"not final", clientFrame(false, 0xA, nil), 0},
		{"ping", clientFrame(true, 0x9, nil), 0},
		{"text", clientFrame(true, 0x1, []byte("hi")), 0},
		{"126-byte length", clientFrame(true, 0xA, make([]byte, 126)), 0},
		{"reserved bit", append([]byte{0xCA}, clientFrame(true, 0xA, nil)[1:]...), 0},
	} {
		require.Equal(t, tc.want, pongSize(tc.p), tc.name)
	}
}
