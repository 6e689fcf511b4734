//go:build unix

package pulse

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// A non-blocking write allocates nothing, and stops, without waiting, when
// the peer's socket is full.
func TestNonblockingWrite(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	peer := <-accepted
	require.NotNil(t, peer)
	defer peer.Close()

	nb := nonblocking(conn)
	require.NotNil(t, nb)
	msg := []byte("0123456789")
	bufs := [][]byte{msg}
	allocs := testing.AllocsPerRun(100, func() {
		n, err := nb.write(bufs, 0)
		if err != nil || n != len(msg) {
			t.Fatalf("wrote %d, %v", n, err)
		}
	})
	require.Zero(t, allocs)
	_, err = io.ReadFull(peer, make([]byte, 101*len(msg)))
	require.NoError(t, err)

	// Nobody reads peer: the buffers fill and a write comes back short.
	big := make([]byte, 1<<20)
	total := 0
	for i := 0; i < 1000; i++ {
		n, err := nb.write([][]byte{big}, 0)
		require.NoError(t, err)
		total += n
		if n < len(big) {
			break
		}
	}
	require.Less(t, total, 1000*len(big), "a full socket takes a short write")
	require.NoError(t, conn.Close())
	_, err = nb.write([][]byte{msg}, 0)
	require.Error(t, err, "a closed connection")
}

// A steady stream of frames through a batchWriter allocates nothing once it
// has room: the frames written free their slots for the next ones (a
// writer serving a thousand clients a tick must cost no allocation per
// client).
func TestBatchWriterSteadyStreamAllocatesNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	peer := <-accepted
	require.NotNil(t, peer)
	defer peer.Close()

	b := &batchWriter{conn: conn, nb: nonblocking(conn)}
	require.NotNil(t, b.nb)
	frame := []byte{0x81, 3, 'a', 'b', 'c'}
	send := func() {
		b.queueLocked(frame)
		b.queueLocked(frame)
		b.flushLocked()
		if b.n != 0 || b.err != nil {
			t.Fatalf("pending %d, %v", b.n, b.err)
		}
	}
	send() // the first frames make the room
	require.Zero(t, testing.AllocsPerRun(1000, send))
	_, err = io.ReadFull(peer, make([]byte, 2*1002*len(frame)))
	require.NoError(t, err)
}
