package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process (a server or the load generator) spoken to
// through its stdin and stdout, in its own process group so that it and
// anything it started can be killed at once.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	errb  *tailBuffer
	done  chan struct{}
	err   error // valid after done is closed
}

// tailBuffer keeps the last few KiB written to it (a child's stderr).
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = append(t.b[:0], t.b[len(t.b)-4096:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// start runs argv.
func start(name string, argv ...string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	// Own process group, and SIGKILL if the harness dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64), errb: &tailBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.errb
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	track(p)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
		untrack(p)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// send writes one command line.
func (p *proc) send(cmd string) error {
	_, err := io.WriteString(p.stdin, cmd+"\n")
	return err
}

// expect waits for a line starting with prefix and returns the rest of it.
func (p *proc) expect(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				return "", fmt.Errorf("%s exited (%v) waiting for %q: %s", p.name, p.err, prefix, p.errb)
			}
			if rest, found := strings.CutPrefix(l, prefix); found {
				return strings.TrimSpace(rest), nil
			}
			if strings.HasPrefix(l, "error") {
				return "", fmt.Errorf("%s: %s", p.name, l)
			}
		case <-t.C:
			return "", fmt.Errorf("%s: no %q within %v: %s", p.name, prefix, timeout, p.errb)
		}
	}
}

// call sends cmd and waits for a line starting with prefix.
func (p *proc) call(cmd, prefix string, timeout time.Duration) (string, error) {
	if err := p.send(cmd); err != nil {
		return "", fmt.Errorf("%s: %s: %w", p.name, cmd, err)
	}
	return p.expect(prefix, timeout)
}

// stop asks the process to quit, then kills its process group after grace.
func (p *proc) stop(grace time.Duration) {
	_ = p.send("quit")
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	p.kill()
	<-p.done
}

// kill sends SIGKILL to the process group.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
}

var (
	liveMu sync.Mutex
	live   = map[*proc]struct{}{}
)

func track(p *proc) {
	liveMu.Lock()
	live[p] = struct{}{}
	liveMu.Unlock()
}

func untrack(p *proc) {
	liveMu.Lock()
	delete(live, p)
	liveMu.Unlock()
}

// KillAll kills every process the harness started that is still running.
func KillAll() {
	liveMu.Lock()
	ps := make([]*proc, 0, len(live))
	for p := range live {
		ps = append(ps, p)
	}
	liveMu.Unlock()
	for _, p := range ps {
		p.kill()
	}
}

// procCPU returns the user+system CPU time of pid, from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the comm field: state is field 3 of stat(5), so utime (14)
	// and stime (15) are at 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// clockTicks is sysconf(_SC_CLK_TCK): 100 on Linux for every common
// architecture.
const clockTicks = 100

// procRSS returns VmRSS of pid in KiB, from /proc/PID/status.
func procRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				v, err := strconv.ParseFloat(f[0], 64)
				return v, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// cpuTimes is one CPU's line of /proc/stat, in clock ticks.
type cpuTimes struct {
	busy  int64 // user + nice + system + irq + softirq
	total int64 // every column
}

// readCPUs returns the /proc/stat line of each CPU, by CPU number.
func readCPUs() (map[int]cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	out := map[int]cpuTimes{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 8 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var t cpuTimes
		for i, v := range f[1:] {
			x, _ := strconv.ParseInt(v, 10, 64)
			if i < 8 { // user nice system idle iowait irq softirq steal; guest is inside user
				t.total += x
			}
			if i < 3 || i == 5 || i == 6 {
				t.busy += x
			}
		}
		out[n] = t
	}
	return out, nil
}

// busyBetween returns the fraction of the CPUs in list (a taskset list:
// "1", "0-3,6") that was busy (user, nice, system, irq, softirq) between
// two readings, and their time in seconds (the wall time × the number of
// CPUs).
func busyBetween(a, b map[int]cpuTimes, list string) (frac, seconds float64) {
	var busy, total int64
	for _, n := range cpuList(list) {
		busy += b[n].busy - a[n].busy
		total += b[n].total - a[n].total
	}
	if total <= 0 {
		return 0, 0
	}
	return float64(busy) / float64(total), float64(total) / clockTicks
}

// cpuList parses a taskset CPU list.
func cpuList(s string) []int {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for n := a; n <= b; n++ {
			out = append(out, n)
		}
	}
	return out
}

// procFDs returns how many descriptors pid has open, or 0.
func procFDs(pid int) int {
	d, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	return len(names)
}
