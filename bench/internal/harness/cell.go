package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-pulse/pulse/bench/internal/shm"
	"github.com/go-pulse/pulse/bench/internal/srv"
	"github.com/go-pulse/pulse/bench/internal/sysinfo"
)

// run is one cell being measured.
type run struct {
	r       *Runner
	c       Cell
	res     *Result
	shmPath string
	server  *proc
	lg      *proc
	guard   *guard
}

// Run measures one cell. Every process it starts is stopped before it
// returns.
func (r *Runner) Run(c Cell) (res Result, err error) {
	res = Result{Contender: c.Contender.Name, Workload: c.Workload, N: c.N, Hz: c.Hz, Note: c.Note,
		ServerCPUs: r.cpus(0), LoadgenCPUs: r.cpus(1)}
	defer func() {
		if err != nil {
			res.Err = err.Error()
		}
	}()
	// Each process holds one descriptor per connection: fail now, with
	// what to do, rather than at the 20,000th accept.
	if _, err := sysinfo.RaiseNoFile(uint64(c.N) + 100); err != nil {
		return res, err
	}
	x := &run{r: r, c: c, res: &res}
	shmFile, err := os.CreateTemp(r.TmpDir, "received-*")
	if err != nil {
		return res, err
	}
	x.shmPath = shmFile.Name()
	shmFile.Close()
	defer os.Remove(x.shmPath)
	if err := shm.Create(x.shmPath); err != nil {
		return res, err
	}
	defer func() {
		if x.guard != nil {
			x.guard.stop()
			if reason := x.guard.reason(); reason != "" {
				err = fmt.Errorf("%s (then: %v)", reason, err)
			}
		}
	}()
	if err := x.startServer(); err != nil {
		return res, err
	}
	defer x.server.stop(5 * time.Second)
	base, slab0, err := x.connect()
	if x.lg != nil {
		defer x.lg.stop(5 * time.Second)
	}
	if err != nil {
		return res, err
	}
	if err := x.idle(base, slab0); err != nil {
		return res, err
	}
	if err := x.window(); err != nil {
		return res, err
	}
	return res, x.collect()
}

// cpusOr is cpus(i), or def when not pinned (the CPUs other load is
// measured on).
func (r *Runner) cpusOr(i int, def string) string {
	if !r.Pin {
		return def
	}
	return r.cpus(i)
}

// cpus says which CPUs process i (0 server, 1 load generator) runs on.
func (r *Runner) cpus(i int) string {
	switch {
	case !r.Pin:
		return "any"
	case i == 0 && r.ServerCPUs != "":
		return r.ServerCPUs
	case i == 1 && r.LoadgenCPUs != "":
		return r.LoadgenCPUs
	}
	return strconv.Itoa(i)
}

func (x *run) startServer() error {
	c := x.c
	args := []string{filepath.Join(x.r.BinDir, c.Contender.Bin),
		"-addr", "127.0.0.1:0",
		"-hz", strconv.FormatFloat(c.Hz, 'g', -1, 64),
		"-window", strconv.Itoa(c.Window),
		"-size", strconv.Itoa(c.Size),
		"-shm", x.shmPath}
	if c.CPUProfile != "" {
		args = append(args, "-cpuprofile", c.CPUProfile)
	}
	if c.MemProfile != "" {
		args = append(args, "-memprofilerate", "4096")
	}
	args = append(args, c.Contender.Args...)
	wait, busy := x.r.waitQuiet()
	x.res.QuietWait, x.res.Busy = wait.Seconds(), busy
	var err error
	x.server, err = start(c.Contender.Name, append(x.r.prefix(0), args...)...)
	if err != nil {
		return err
	}
	x.guard = watch(x.server, x.r.MaxRSSKiB)
	return nil
}

// connect reads the server's base figures and opens the N connections.
func (x *run) connect() (srv.MemStats, sysinfo.Slab, error) {
	res, c := x.res, x.c
	var base srv.MemStats
	addr, err := x.server.expect("ready ", 15*time.Second)
	if err != nil {
		return base, nil, err
	}
	time.Sleep(500 * time.Millisecond)
	if res.RSSBaseKiB, err = procRSS(x.server.pid()); err != nil {
		return base, nil, err
	}
	if base, err = x.r.mem(x.server); err != nil {
		return base, nil, err
	}
	slab0, _ := sysinfo.ReadSlab()
	net0 := sysinfo.ReadNetstat()
	args := []string{filepath.Join(x.r.BinDir, "loadgen"),
		"-url", "ws://" + addr + c.Contender.Path, "-n", strconv.Itoa(c.N),
		"-proto", c.Contender.Proto, "-shm", x.shmPath}
	args = append(args, c.Contender.LoadgenArgs...)
	if x.r.Sources != "" {
		args = append(args, "-src", x.r.Sources)
	}
	if x.lg, err = start("loadgen", append(x.r.prefix(1), args...)...); err != nil {
		return base, nil, err
	}
	x.guard.add(x.lg)
	line, err := x.lg.expect("connected ", 5*time.Minute)
	if err != nil {
		return base, nil, err
	}
	var conn struct {
		OK, Failed int64
		Seconds    float64
		Error      string
		Sources    int
	}
	if err := json.Unmarshal([]byte(line), &conn); err != nil {
		return base, nil, fmt.Errorf("loadgen: %q: %w", line, err)
	}
	res.Connected, res.ConnectFailed, res.ConnectSeconds, res.ConnectError = conn.OK, conn.Failed, conn.Seconds, conn.Error
	res.Sources = conn.Sources
	res.ListenOverflows = sysinfo.ReadNetstat()["TcpExt:ListenOverflows"] - net0["TcpExt:ListenOverflows"]
	x.r.logf("  %d connected in %.1fs (%d failed) from %d source addresses", conn.OK, conn.Seconds, conn.Failed, conn.Sources)
	if conn.OK == 0 {
		return base, nil, fmt.Errorf("no connection: %s", conn.Error)
	}
	return base, slab0, nil
}

// idle takes the readings of the connected, not yet broadcasting server.
func (x *run) idle(base srv.MemStats, slab0 sysinfo.Slab) error {
	res, c := x.res, x.c
	time.Sleep(c.Settle)
	var err error
	if res.RSSIdleKiB, err = procRSS(x.server.pid()); err != nil {
		return err
	}
	n := float64(res.Connected)
	if idle, err := x.r.mem(x.server); err == nil {
		res.GoroutinesPerConn = float64(idle.Goroutines-base.Goroutines) / n
		res.HeapKiBPerConn = (idle.HeapKiB - base.HeapKiB) / n
		res.StackKiBPerConn = (idle.StackKiB - base.StackKiB) / n
		res.RuntimeKiBPerConn = (idle.OtherKiB - base.OtherKiB) / n
	}
	if c.GCAtIdle {
		if gc, err := x.r.mem(x.server, "gcmem"); err == nil {
			res.LiveHeapKiBPerConn = (gc.LiveKiB - base.LiveKiB) / n
			res.HeapGoalKiBPerConn = (gc.GoalKiB - base.GoalKiB) / n
		}
	}
	if slab1, err := sysinfo.ReadSlab(); err == nil && slab0 != nil {
		by, total := sysinfo.SocketBytes(slab0, slab1)
		res.KernelKiBPerConn = float64(total) / 1024 / n
		res.KernelSlabKiB = map[string]float64{}
		for k, v := range by {
			if v != 0 {
				res.KernelSlabKiB[k] = float64(v) / 1024 / n
			}
		}
	}
	if c.MemProfile != "" {
		for _, kind := range []string{"heap", "goroutine"} {
			path := c.MemProfile + "." + kind + ".pprof"
			if _, err := x.server.call(kind+" "+path, "ok", 2*time.Minute); err != nil {
				return err
			}
			if kind == "heap" {
				res.HeapProfile = path
			} else {
				res.GoroutineProfile = path
			}
		}
	}
	return nil
}

// window broadcasts and measures for the cell's duration.
func (x *run) window() error {
	res, c := x.res, x.c
	if _, err := x.server.call("start", "ok", 10*time.Second); err != nil {
		return err
	}
	time.Sleep(c.Warmup)
	if _, err := x.lg.call("mark", "ok", 10*time.Second); err != nil {
		return err
	}
	cpu0, err := procCPU(x.server.pid())
	if err != nil {
		return err
	}
	lgCPU0, _ := procCPU(x.lg.pid())
	sys0, _ := readCPUs()
	t0 := time.Now()
	deadline := t0.Add(c.Duration)
	for time.Now().Before(deadline) {
		time.Sleep(min(250*time.Millisecond, time.Until(deadline)))
		if rss, err := procRSS(x.server.pid()); err == nil && rss > res.RSSLoadKiB {
			res.RSSLoadKiB = rss
		}
		if ss, err := sysinfo.ReadSockStat(); err == nil {
			res.SockBufPeakKiB = max(res.SockBufPeakKiB, float64(ss.MemPages)*float64(os.Getpagesize())/1024)
		}
	}
	cpu1, err := procCPU(x.server.pid())
	if err != nil {
		return err
	}
	lgCPU1, _ := procCPU(x.lg.pid())
	sys1, _ := readCPUs()
	el := time.Since(t0).Seconds()
	if x.r.Pin {
		b0, s0 := busyBetween(sys0, sys1, x.r.cpus(0))
		b1, s1 := busyBetween(sys0, sys1, x.r.cpus(1))
		if s0 > 0 && s1 > 0 {
			res.OtherCPU0 = max(0, b0-(cpu1-cpu0).Seconds()/s0)
			res.OtherCPU1 = max(0, b1-(lgCPU1-lgCPU0).Seconds()/s1)
		}
	}
	res.ServerCPU = (cpu1 - cpu0).Seconds()
	res.ServerCPUUse = res.ServerCPU / el
	return nil
}

// collect reads the load generator's and the server's counts.
func (x *run) collect() error {
	res, c := x.res, x.c
	line, err := x.lg.call("report", "report ", 10*time.Second)
	if err != nil {
		return err
	}
	var rep struct {
		Seconds        float64 `json:"seconds"`
		Delivered      uint64  `json:"delivered"`
		PerSecond      float64 `json:"per_second"`
		Drops          uint64  `json:"drops"`
		Resyncs        uint64  `json:"resyncs"`
		BytesPerMsg    float64 `json:"bytes_per_msg"`
		Closed         uint64  `json:"closed"`
		FullStateBytes uint64  `json:"full_state_bytes"`
		P50us          float64 `json:"p50_us"`
		P99us          float64 `json:"p99_us"`
		Maxus          float64 `json:"max_us"`
		CPUFraction    float64 `json:"cpu_fraction"`
	}
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		return fmt.Errorf("loadgen report %q: %w", line, err)
	}
	if line, err = x.server.call("stats", "stats ", 30*time.Second); err == nil {
		_ = json.Unmarshal([]byte(line), &res.ServerStats)
	}
	if c.CPUProfile != "" {
		if _, err := x.server.call("stop", "ok", 30*time.Second); err != nil {
			return err
		}
	}
	res.Seconds = rep.Seconds
	res.Delivered = rep.Delivered
	res.PerSecond = rep.PerSecond
	res.Drops, res.Resyncs, res.Closed = rep.Drops, rep.Resyncs, rep.Closed
	res.BytesPerMsg = rep.BytesPerMsg
	res.FullState = rep.FullStateBytes
	res.P50ms, res.P99ms, res.Maxms = rep.P50us/1e3, rep.P99us/1e3, rep.Maxus/1e3
	res.LoadgenCPU = rep.CPUFraction
	if rep.Delivered > 0 {
		res.CPUPerMillion = res.ServerCPU / float64(rep.Delivered) * 1e6
	}
	n := float64(res.Connected)
	res.IdleKiBPerConn = (res.RSSIdleKiB - res.RSSBaseKiB) / n
	res.LoadKiBPerConn = (res.RSSLoadKiB - res.RSSBaseKiB) / n
	return nil
}
