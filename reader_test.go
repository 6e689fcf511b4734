package pulse

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"slices"
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
// (whose stack is twice as large), takes pings and pongs off the socket
// there, whole or split, and leaves messages to coder/websocket.
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

	// A pong in two writes: the waiter sees part of a frame and waits for
	// the rest, then takes it; coder/websocket never reads it.
	th.clock.Advance(time.Minute)
	ping()
	pong := clientFrame(true, 0xA, []byte("abc"))
	_, err = r.conn.Write(pong[:3])
	require.NoError(t, err)
	awaitIdleReader(t, "a partial pong stays with the waiter")
	_, err = r.conn.Write(pong[3:])
	require.NoError(t, err)
	eventually(t, func() bool { return c.pingOut.Load() == 0 }, "the rest of the pong answered the ping")
	awaitIdleReader(t, "the whole pong taken off without coder/websocket")

	// A ping in two writes, the first behind a message (so that its start
	// may be left in coder/websocket's buffered reader): the waiter takes
	// it and answers with the same payload.
	payload := []byte("hello, server")
	pf := clientFrame(true, 0x9, payload)
	_, err = r.conn.Write(append(slices.Clone(subscribe), pf[:4]...))
	require.NoError(t, err)
	r.awaitText(`"reason":"subscribe"`)
	awaitIdleReader(t, "back in awaitInput with part of a ping")
	_, err = r.conn.Write(pf[4:])
	require.NoError(t, err)
	r.awaitPong(payload)
	awaitIdleReader(t, "the ping answered without coder/websocket")

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

// Keepalive with a well-behaved client works both ways while its reader
// waits off coder/websocket's read path: the client's pings are answered
// with their payload (coder/websocket's Ping waits for the pong that
// echoes it), and the client's pongs answer the Hub's pings, so it is
// never closed for PingTimeout.
func TestKeepaliveWithAWellBehavedClient(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: 5 * time.Second, PingTimeout: time.Minute})
	tc := th.dial("")
	readDone := make(chan error, 1)
	go func() { // reads, so it answers the Hub's pings and sees its own pongs
		for {
			if _, _, err := tc.c.Read(context.Background()); err != nil {
				readDone <- err
				return
			}
		}
	}()
	var c *client
	eventually(t, func() bool { c = th.onlyClientExcept(); return c != nil }, "attached")
	th.Watch(0) // schedules the first ping
	for round := 1; round <= 5; round++ {
		for i := range 4 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			require.NoError(t, tc.c.Ping(ctx), "round %d, the client's ping %d is answered", round, i)
			cancel()
		}
		th.Watch(5 * time.Second) // the Hub's ping is due
		eventually(t, func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.pings == round && c.pingOut.Load() == 0
		}, "round %d: the Hub pinged and the client answered", round)
		awaitIdleReader(t, "the pongs were taken off the socket by the waiter")
	}
	s := th.Stats()
	require.Zero(t, s.PingTimeouts)
	require.Zero(t, s.ControlDropped)
	require.EqualValues(t, 1, s.Clients)
	require.NoError(t, tc.c.Close(websocket.StatusNormalClosure, ""))
	<-readDone
}

// Waiting for the socket allocates nothing: the waiter's callback and
// buffer are bound once.
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
	// The waiter takes every pong, whole or split across writes, and
	// charges it to the budget as coder/websocket's reads would be.
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

func TestControlFrameAt(t *testing.T) {
	ping125 := clientFrame(true, 0x9, bytes.Repeat([]byte{'p'}, 125))
	for _, tc := range []struct {
		name       string
		p          []byte
		kind, size int
	}{
		{"empty pong", clientFrame(true, 0xA, nil), ctlWhole, 6},
		{"pong with payload", clientFrame(true, 0xA, []byte("abc")), ctlWhole, 9},
		{"pong and more", append(clientFrame(true, 0xA, nil), clientFrame(true, 0x1, []byte("x"))...), ctlWhole, 6},
		{"ping of 125 bytes", ping125, ctlWhole, maxControlFrame},
		{"ping and a partial ping", append(slices.Clone(ping125), ping125[:7]...), ctlWhole, maxControlFrame},
		{"partial ping", ping125[:130], ctlPartial, 0},
		{"partial pong", clientFrame(true, 0xA, []byte("abc"))[:8], ctlPartial, 0},
		{"nothing", nil, ctlPartial, 0},
		{"one byte", []byte{0x8A}, ctlPartial, 0},
		{"unmasked pong", []byte{0x8A, 0x00}, ctlBad, 0},
		{"fragmented ping", clientFrame(false, 0x9, nil), ctlBad, 0},
		{"126-byte length", clientFrame(true, 0xA, make([]byte, 126)), ctlBad, 0},
		{"reserved bit", append([]byte{0xCA}, clientFrame(true, 0xA, nil)[1:]...), ctlBad, 0},
		{"compressed ping", append([]byte{0xC9}, clientFrame(true, 0x9, nil)[1:]...), ctlBad, 0},
		{"text", clientFrame(true, 0x1, []byte("hi")), ctlOther, 0},
		{"continuation", clientFrame(false, 0x0, nil), ctlOther, 0},
		{"close", clientFrame(true, 0x8, []byte{0x03, 0xE8}), ctlOther, 0},
		{"unknown opcode", clientFrame(true, 0xB, nil), ctlOther, 0},
	} {
		kind, size := controlFrameAt(tc.p)
		require.Equal(t, tc.kind, kind, tc.name)
		require.Equal(t, tc.size, size, tc.name)
	}
}
