package pulse

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkClientPing is one ping from a client answered by the Hub, over
// loopback. The client writes the ping and reads the pong by hand, with
// no allocation of its own, so B/op and allocs/op are what answering a
// ping costs the Hub: what a ping flood multiplies.
func BenchmarkClientPing(b *testing.B) {
	th := newTestHub(b, Options{PingInterval: -1, ReadRate: 1 << 30})
	r := th.rawDial(0)
	eventually(b, func() bool { return th.onlyClientExcept() != nil }, "attached")
	payload := []byte("0123456789abcdef")
	ping := clientFrame(true, 0x9, payload)
	_, err := r.conn.Write(ping)
	require.NoError(b, err)
	for r.frame().b0 != 0x80|opPong { // the hello and snapshot come first
	}
	require.NoError(b, r.conn.SetReadDeadline(time.Time{}))
	pong := make([]byte, 2+len(payload))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.conn.Write(ping); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r.br, pong); err != nil {
			b.Fatal(err)
		}
		if pong[0] != 0x80|opPong || string(pong[2:]) != string(payload) {
			b.Fatalf("not the pong: % x", pong)
		}
	}
}
