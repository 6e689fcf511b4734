package sysinfo

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestReadLimits(t *testing.T) {
	l := ReadLimits()
	if l.NoFileHard == 0 || l.PortsPerAddress() <= 0 || l.PageSize <= 0 || l.TCPMem[2] <= 0 {
		t.Fatalf("limits not read: %+v", l)
	}
}

func TestRaiseNoFile(t *testing.T) {
	r, err := RaiseNoFile(0)
	if err != nil || r.Cur != r.Max {
		t.Fatalf("soft limit not raised to the hard one: %+v, %v", r, err)
	}
	// Far past fs.nr_open: no process may have that many.
	_, err = RaiseNoFile(1 << 40)
	var ne *NoFileError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "prlimit") {
		t.Fatalf("got %v, want a NoFileError saying what to do", err)
	}
}

// TestSocketCachesGrow opens loopback connections and checks that the
// socket slab caches and sockstat see them.
func TestSocketCachesGrow(t *testing.T) {
	a, err := ReadSlab()
	if err != nil {
		t.Skipf("no /proc/slabinfo (needs root): %v", err)
	}
	ss0, err := ReadSockStat()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 200 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c, s)
	}
	b, _ := ReadSlab()
	ss1, _ := ReadSockStat()
	by, total := SocketBytes(a, b)
	// 400 sockets of about 2 KiB each in the TCP cache alone; other work
	// on the machine moves the figure, not by that much.
	if by["TCP"] < 200*1024 || total < by["TCP"]/2 {
		t.Errorf("socket caches grew by %v (total %d bytes)", by, total)
	}
	if ss1.InUse-ss0.InUse < 300 {
		t.Errorf("sockstat inuse %d -> %d", ss0.InUse, ss1.InUse)
	}
	n := ReadNetstat()
	if _, ok := n["TcpExt:ListenOverflows"]; !ok || n["Tcp:ActiveOpens"] < 200 {
		t.Errorf("netstat not read: %d counters, ActiveOpens %d", len(n), n["Tcp:ActiveOpens"])
	}
}
