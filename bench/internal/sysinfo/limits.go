// Package sysinfo reads what bounds a run with many connections on one
// Linux machine: the open-file limit (and raises it), the kernel's port
// range, TCP memory limits and listen backlogs, and the kernel memory that
// sockets take, which counts in neither a process's RSS nor its Go heap.
package sysinfo

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// RaiseNoFile lifts this process's open-file limit: the soft limit to the
// hard one, and, when need is above the hard limit, the hard limit to need
// as well, which only a process with CAP_SYS_RESOURCE may do (the kernel
// caps it at fs.nr_open). Children inherit the result. It returns the
// limit in force and an error when it is still below need.
func RaiseNoFile(need uint64) (syscall.Rlimit, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return r, err
	}
	if need > r.Max {
		want := syscall.Rlimit{Cur: need, Max: need}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
			return want, nil
		}
	}
	if r.Cur < r.Max {
		up := syscall.Rlimit{Cur: r.Max, Max: r.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			r = up
		}
	}
	if need > r.Cur {
		return r, &NoFileError{Need: need, Limit: r}
	}
	return r, nil
}

// NoFileError says that the open-file limit is too low for a run, and what
// to do about it.
type NoFileError struct {
	Need  uint64
	Limit syscall.Rlimit
}

func (e *NoFileError) Error() string {
	return fmt.Sprintf("needs %d open files per process; RLIMIT_NOFILE is %d (hard %d) and this process may not raise the hard limit "+
		"(no CAP_SYS_RESOURCE): run from a shell with a higher limit, e.g. `prlimit --nofile=%d:%d -- go run ./cmd/compare ...` "+
		"or `ulimit -Hn %d` as root, `docker run --ulimit nofile=%d:%d`, systemd LimitNOFILE=%d (at most fs.nr_open)",
		e.Need, e.Limit.Cur, e.Limit.Max, e.Need, e.Need, e.Need, e.Need, e.Need, e.Need)
}

// Limits are the kernel settings a run of many loopback connections
// depends on.
type Limits struct {
	NoFileSoft, NoFileHard uint64   // RLIMIT_NOFILE of this process
	NrOpen                 int64    // fs.nr_open: the highest hard limit a privileged process may set
	FileMax                int64    // fs.file-max: open files, machine-wide
	PortLow, PortHigh      int      // net.ipv4.ip_local_port_range
	TCPMem                 [3]int64 // net.ipv4.tcp_mem, pages: no pressure below [0], pressure above [1], no more above [2]
	TCPRmem, TCPWmem       [3]int64 // net.ipv4.tcp_rmem / tcp_wmem, bytes: min, default, max per socket
	Somaxconn              int64    // net.core.somaxconn: the longest accept queue
	SynBacklog             int64    // net.ipv4.tcp_max_syn_backlog
	TWReuse                int64    // net.ipv4.tcp_tw_reuse
	ConntrackMax           int64    // net.netfilter.nf_conntrack_max; 0 without conntrack
	PageSize               int
}

// ReadLimits reads them; a setting it cannot read stays 0.
func ReadLimits() Limits {
	var l Limits
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil {
		l.NoFileSoft, l.NoFileHard = r.Cur, r.Max
	}
	l.NrOpen = sysctl1("fs/nr_open")
	l.FileMax = sysctl1("fs/file-max")
	if p := sysctlN("net/ipv4/ip_local_port_range"); len(p) == 2 {
		l.PortLow, l.PortHigh = int(p[0]), int(p[1])
	}
	copy(l.TCPMem[:], sysctlN("net/ipv4/tcp_mem"))
	copy(l.TCPRmem[:], sysctlN("net/ipv4/tcp_rmem"))
	copy(l.TCPWmem[:], sysctlN("net/ipv4/tcp_wmem"))
	l.Somaxconn = sysctl1("net/core/somaxconn")
	l.SynBacklog = sysctl1("net/ipv4/tcp_max_syn_backlog")
	l.TWReuse = sysctl1("net/ipv4/tcp_tw_reuse")
	l.ConntrackMax = sysctl1("net/netfilter/nf_conntrack_max")
	l.PageSize = os.Getpagesize()
	return l
}

// PortsPerAddress is how many connections one source address can open to
// one server address and port: the size of the ephemeral port range.
func (l Limits) PortsPerAddress() int {
	if l.PortHigh < l.PortLow {
		return 0
	}
	return l.PortHigh - l.PortLow + 1
}

func sysctlN(name string) []int64 {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return nil
	}
	var out []int64
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil
		}
		out = append(out, v)
	}
	return out
}

func sysctl1(name string) int64 {
	if v := sysctlN(name); len(v) == 1 {
		return v[0]
	}
	return 0
}
