package pulse

import (
	"encoding/binary"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

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

// TestIdleReaderWaitsOffTheReadPath checks that between messages a
// client's reader waits for its socket outside coder/websocket's read path
// (whose stack is twice as large), takes whole pongs off the socket there,
// and leaves everything else, a split pong included, to coder/websocket.
func TestIdleReaderWaitsOffTheReadPath(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: 5 * time.Second, PingTimeout: time.Minute})
	r := th.rawDial(0)
	var c *client
	eventually(t, func() bool { c = th.onlyClientExcept(); return c != nil }, "attached")
	idle := func(what string) {
		t.Helper()
		eventually(t, func() bool { w, rd := readerStacks(); return w == 1 && rd == 0 }, what)
	}
	idle("the reader waits in awaitInput")

	subscribe := clientFrame(true, 0x1, []byte(`{"type":"subscribe","patterns":["*"]}`))
	_, err := r.conn.Write(subscribe)
	require.NoError(t, err)
	r.awaitText(`"reason":"subscribe"`)
	idle("back in awaitInput after a message")

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
	idle("a whole pong is taken off without coder/websocket")

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
	idle("back in awaitInput after the next message")

	// A pong and a message in one write: the pong is taken, the message
	// is read by coder/websocket.
	th.clock.Advance(time.Minute)
	ping()
	_, err = r.conn.Write(append(clientFrame(true, 0xA, nil), subscribe...))
	require.NoError(t, err)
	r.awaitText(`"reason":"subscribe"`)
	eventually(t, func() bool { return c.pingOut.Load() == 0 }, "the pong before the message answered the ping")
	idle("back in awaitInput after pong and message")
	require.Zero(t, th.Stats().PingTimeouts)
}

// awaitText reads server frames until a text frame that contains s.
func (r *rawWS) awaitText(s string) {
	r.t.Helper()
	require.NoError(r.t, r.conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	for {
		var h [2]byte
		_, err := io.ReadFull(r.br, h[:])
		require.NoError(r.t, err)
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			_, err = io.ReadFull(r.br, l[:])
			n = int(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			_, err = io.ReadFull(r.br, l[:])
			n = int(binary.BigEndian.Uint64(l[:]))
		}
		require.NoError(r.t, err)
		p := make([]byte, n)
		_, err = io.ReadFull(r.br, p)
		require.NoError(r.t, err)
		if h[0]&0x0f == 0x1 && strings.Contains(string(p), s) {
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
