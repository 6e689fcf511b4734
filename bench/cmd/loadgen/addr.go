package main

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-pulse/pulse/bench/internal/sysinfo"
)

// parseSources parses -src: "" (the kernel picks 127.0.0.1), a range of
// IPv4 addresses "127.0.0.2-127.0.0.9", or a comma-separated list. Every
// address must be loopback: nothing leaves the machine.
func parseSources(s string) ([]net.IP, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []net.IP
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a := net.ParseIP(lo).To4()
		if a == nil {
			return nil, fmt.Errorf("-src: %q is not an IPv4 address", lo)
		}
		b := a
		if isRange {
			if b = net.ParseIP(hi).To4(); b == nil || !(a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] <= b[3]) {
				return nil, fmt.Errorf("-src: bad range %q (the last byte only may differ)", part)
			}
		}
		for x := int(a[3]); x <= int(b[3]); x++ {
			ip := net.IPv4(a[0], a[1], a[2], byte(x)).To4()
			if !ip.IsLoopback() {
				return nil, fmt.Errorf("-src: %v is not a loopback address", ip)
			}
			out = append(out, ip)
		}
	}
	return out, nil
}

// dialers returns one dialer per source address (one dialer with the
// kernel's choice when there is none). A source address gives at most one
// connection per ephemeral port to one server address and port: about
// 28,000 with the default ip_local_port_range, so many connections need
// several. IP_BIND_ADDRESS_NO_PORT lets the kernel pick the port at
// connect(2), by the whole 4-tuple, instead of at bind(2), where a port in
// TIME_WAIT from an earlier cell would count as taken.
func dialers(srcs []net.IP, timeout time.Duration) []*net.Dialer {
	if len(srcs) == 0 {
		return []*net.Dialer{{Timeout: timeout}}
	}
	out := make([]*net.Dialer, len(srcs))
	for i, ip := range srcs {
		out[i] = &net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: ip}, Control: noPortAtBind}
	}
	return out
}

func noPortAtBind(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// checkPorts refuses a plan that needs more connections from one source
// address than the ephemeral port range holds.
func checkPorts(n, sources int) error {
	l := sysinfo.ReadLimits()
	per := l.PortsPerAddress()
	if sources == 0 {
		sources = 1
	}
	if need := (n + sources - 1) / sources; per > 0 && need > per*9/10 {
		return fmt.Errorf("%d connections over %d source address(es) need %d ports each; net.ipv4.ip_local_port_range %d-%d gives %d: give more addresses with -src",
			n, sources, need, l.PortLow, l.PortHigh, per)
	}
	return nil
}
