//go:build linux

package pulse

import (
	"syscall"
	"testing"
	"unsafe"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// unreadBytes returns how many bytes c's socket holds that nobody has read
// yet (SIOCINQ, which is TIOCINQ on Linux).
func unreadBytes(t *testing.T, c *client) int {
	t.Helper()
	var n int32
	var errno syscall.Errno
	require.NoError(t, c.rw.raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	}))
	if errno != 0 {
		t.Fatalf("SIOCINQ: %v", errno)
	}
	return int(n)
}

// The part of a ping or pong the waiter has seen is taken off the socket
// while it waits for the rest, not left there to be looked at again: the
// kernel keeps the whole segment an unread byte belongs to, which can
// close the receive window, and a client that floods pings then never gets
// to send the rest, while the reader waits for it forever (a hang seen
// under TestPingFloodFromClientThatNeverReads).
func TestWaiterTakesPartialControlFramesOffTheSocket(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: -1})
	r := th.rawDial(0)
	var c *client
	eventually(t, func() bool { c = th.onlyClientExcept(); return c != nil }, "attached")
	awaitIdleReader(t, "the reader waits in awaitInput")
	payload := []byte("are you there")
	ping := clientFrame(true, 0x9, payload)
	for _, cut := range []int{1, 2, 6, len(ping) - 1} {
		_, err := r.conn.Write(ping[:cut])
		require.NoError(t, err)
		eventually(t, func() bool { return unreadBytes(t, c) == 0 }, "the waiter took the first %d bytes off the socket", cut)
		awaitIdleReader(t, "the waiter waits for the rest")
		_, err = r.conn.Write(ping[cut:])
		require.NoError(t, err)
		r.awaitPong(payload)
		awaitIdleReader(t, "the ping answered without coder/websocket")
	}
	require.Zero(t, th.Stats().ClientErrors)
	require.Zero(t, th.Stats().ControlDropped)
}

// A ping or pong whose first byte the waiter took while waiting for the
// rest, and whose second byte then shows it malformed (unmasked, or longer
// than 125 bytes), closes the connection with 1002.
func TestWaiterClosesAMalformedControlFrameItTookPartOf(t *testing.T) {
	th := newTestHub(t, Options{PingInterval: -1})
	for _, frame := range [][]byte{
		{0x89, 0x03, 'a', 'b', 'c'},               // unmasked
		clientFrame(true, 0xA, make([]byte, 126)), // 126 bytes
	} {
		errs := th.Stats().ClientErrors
		r := th.rawDial(0)
		var c *client
		eventually(t, func() bool { c = th.onlyClientExcept(); return c != nil }, "attached")
		_, err := r.conn.Write(frame[:1])
		require.NoError(t, err)
		eventually(t, func() bool { return unreadBytes(t, c) == 0 }, "the waiter took the first byte")
		_, err = r.conn.Write(frame[1:])
		require.NoError(t, err)
		require.Equal(t, websocket.StatusProtocolError, r.closeCode(), "% x", frame[:2])
		eventually(t, func() bool { return th.Stats().Clients == 0 }, "the client is gone")
		require.Equal(t, errs+1, th.Stats().ClientErrors)
	}
}
