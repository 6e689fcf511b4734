package slowread

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The dialer's socket has the receive buffer asked for (Linux doubles it
// for its own bookkeeping), and the reader gets every byte, counted.
func TestDialerAndConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := make([]byte, 3*Chunk+7)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write(payload)
			_ = c.Close()
		}
	}()
	c, err := Dialer(&net.Dialer{}, 4096).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var buf int
	_ = rc.Control(func(fd uintptr) { buf, err = unix.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) })
	if err != nil || buf > 2*4096 {
		t.Fatalf("SO_RCVBUF %d (%v), want at most 8192", buf, err)
	}
	var n atomic.Int64
	got, err := io.ReadAll(New(c, 1<<20, &n))
	if err != nil || len(got) != len(payload) || n.Load() != int64(len(payload)) {
		t.Fatalf("read %d bytes (counted %d), %v; want %d", len(got), n.Load(), err, len(payload))
	}
}
