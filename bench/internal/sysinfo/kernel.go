package sysinfo

import (
	"os"
	"strconv"
	"strings"
)

// SocketCaches are the slab caches a TCP connection's sockets use: the
// socket itself, its inode, file and dentry, its epoll registration, and
// the buffer heads of queued data. Other caches change with whatever else
// the machine does.
var SocketCaches = []string{"TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "eventpoll_pwq",
	"skbuff_head_cache", "skbuff_small_head", "skbuff_fclone_cache", "request_sock_TCP", "tw_sock_TCP"}

// Slab is the bytes in use per slab cache (active objects × object size),
// from /proc/slabinfo (root only).
type Slab map[string]int64

// ReadSlab reads /proc/slabinfo.
func ReadSlab() (Slab, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return nil, err
	}
	s := Slab{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || strings.HasPrefix(l, "#") || f[0] == "slabinfo" {
			continue
		}
		active, err1 := strconv.ParseInt(f[1], 10, 64)
		size, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 == nil && err2 == nil {
			s[f[0]] = active * size
		}
	}
	return s, nil
}

// SocketBytes returns the growth of the socket caches from a to b, in
// bytes, by cache and in total.
func SocketBytes(a, b Slab) (map[string]int64, int64) {
	by := map[string]int64{}
	var total int64
	for _, c := range SocketCaches {
		d := b[c] - a[c]
		by[c] = d
		total += d
	}
	return by, total
}

// SockStat is the TCP line of /proc/net/sockstat.
type SockStat struct {
	InUse, Orphan, TimeWait, Alloc int64
	MemPages                       int64 // pages of socket buffers, counted against tcp_mem
}

// ReadSockStat reads /proc/net/sockstat.
func ReadSockStat() (SockStat, error) {
	var s SockStat
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return s, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(l, "TCP:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseInt(f[i+1], 10, 64)
			switch f[i] {
			case "inuse":
				s.InUse = v
			case "orphan":
				s.Orphan = v
			case "tw":
				s.TimeWait = v
			case "alloc":
				s.Alloc = v
			case "mem":
				s.MemPages = v
			}
		}
	}
	return s, nil
}

// ReadNetstat reads the counters of /proc/net/netstat and /proc/net/snmp,
// keyed "TcpExt:ListenOverflows" and the like.
func ReadNetstat() map[string]int64 {
	out := map[string]int64{}
	for _, p := range []string{"/proc/net/netstat", "/proc/net/snmp"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			h, v := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(h) != len(v) || len(h) == 0 {
				continue
			}
			for j := 1; j < len(h); j++ {
				n, err := strconv.ParseInt(v[j], 10, 64)
				if err == nil {
					out[h[0]+h[j]] = n
				}
			}
		}
	}
	return out
}
