// Package harness runs one measurement cell: one contender's server and the
// load generator, each its own process pinned to its own core, N
// connections, one broadcast rate, and reads the server's CPU and memory
// from /proc.
package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-pulse/pulse/bench/internal/shm"
	"github.com/go-pulse/pulse/bench/internal/srv"
)

// Contender is one server under test.
type Contender struct {
	Name  string   // as shown in tables
	Bin   string   // binary in the bin directory
	Path  string   // WebSocket route
	Proto string   // load generator protocol
	Args  []string // extra server flags
}

// Contenders are the servers compared, floor first.
var Contenders = []Contender{
	{Name: "raw-tcp", Bin: "raw-server", Path: "/ws", Proto: "generic"},
	{Name: "gorilla", Bin: "gorilla-server", Path: "/ws", Proto: "generic"},
	{Name: "melody", Bin: "melody-server", Path: "/ws", Proto: "generic"},
	{Name: "centrifuge", Bin: "centrifuge-server", Path: "/connection/websocket", Proto: "centrifuge"},
	{Name: "pulse", Bin: "pulse-server", Path: "/ws", Proto: "pulse", Args: []string{"-workload", "broadcast"}},
}

// Lookup returns the contender named name.
func Lookup(name string) (Contender, bool) {
	for _, c := range Contenders {
		if c.Name == name {
			return c, true
		}
	}
	return Contender{}, false
}

// Cell is one measurement.
type Cell struct {
	Contender Contender
	Workload  string  // label: "1KiB", "dashboard-20%", ...
	N         int     // connections
	Hz        float64 // broadcasts per second; 0 = saturation
	Window    int     // saturation window per client (peers)
	Size      int     // payload bytes (peers)

	Settle   time.Duration // after connecting, before the idle reading
	Warmup   time.Duration // after start, before the window
	Duration time.Duration // the measurement window

	CPUProfile string // if set, the server writes a CPU profile of the run here
	Note       string // shown with the result, e.g. pulse's Interval
}

// Result is what one cell measured.
type Result struct {
	Contender string
	Workload  string
	N         int
	Hz        float64
	Note      string `json:",omitempty"`

	Connected      int64
	ConnectFailed  int64
	ConnectError   string  `json:",omitempty"`
	ConnectSeconds float64 // time to open all connections

	Seconds       float64 // window length
	Delivered     uint64
	PerSecond     float64
	P50ms         float64
	P99ms         float64
	Maxms         float64
	Drops         uint64 // messages missing from a connection's sequence
	Resyncs       uint64 // pulse: queues collapsed into a snapshot
	Closed        uint64 // connections lost during the window
	BytesPerMsg   float64
	FullState     uint64  `json:",omitempty"` // pulse: bytes of a full snapshot
	ServerCPU     float64 // CPU seconds the server used in the window
	CPUPerMillion float64 // server CPU seconds per million deliveries
	ServerCPUUse  float64 // fraction of one core
	LoadgenCPU    float64 // fraction of one core

	RSSBaseKiB     float64 // before any connection
	RSSIdleKiB     float64 // connected, not broadcasting
	RSSLoadKiB     float64 // peak during the window
	IdleKiBPerConn float64
	LoadKiBPerConn float64

	// Other work on the two CPUs during the window (CPU busy time not
	// used by the server or the load generator), as a fraction of each
	// CPU. Above a few percent the cell was disturbed.
	OtherCPU0 float64
	OtherCPU1 float64
	// QuietWait is how long the cell waited for the machine to be idle
	// before starting; Busy is set when it started anyway.
	QuietWait float64
	Busy      bool `json:",omitempty"`

	// The server's Go runtime at idle (connected, not broadcasting), per
	// connection: goroutines, and KiB of heap in use and of stacks.
	GoroutinesPerConn float64
	HeapKiBPerConn    float64
	StackKiBPerConn   float64

	ServerStats map[string]any
	Err         string `json:",omitempty"`
}

// Runner runs cells with the binaries in BinDir.
type Runner struct {
	BinDir string
	TmpDir string
	Pin    bool      // pin server to CPU 0 and load generator to CPU 1
	Log    io.Writer // progress; may be nil

	// Nice, if not 0, is the nice value of the server and the load
	// generator (negative needs root); RT, if not 0, runs them under
	// SCHED_RR at that priority (chrt -r; root). Both make other work on
	// the machine disturb them less.
	Nice int
	RT   int
	// QuietBelow and QuietWait: before each cell, wait up to QuietWait
	// until both CPUs are less than QuietBelow busy (other processes).
	QuietBelow float64
	QuietWait  time.Duration
}

// waitQuiet waits until the CPUs the cell uses are idle enough, at most
// r.QuietWait. It reports how long it waited and whether the machine was
// still busy.
func (r *Runner) waitQuiet() (time.Duration, bool) {
	if r.QuietWait <= 0 || r.RT != 0 {
		return 0, false // under SCHED_FIFO other work cannot delay the cell
	}
	start := time.Now()
	lastLog := time.Time{}
	for {
		a, err := readCPUs()
		if err != nil {
			return 0, false
		}
		time.Sleep(time.Second)
		b, err := readCPUs()
		if err != nil {
			return 0, false
		}
		c0, _ := busyBetween(a, b, 0)
		c1, _ := busyBetween(a, b, 1)
		if c0 < r.QuietBelow && c1 < r.QuietBelow {
			return time.Since(start), false
		}
		if time.Since(start) > r.QuietWait {
			r.logf("  machine still busy (CPU0 %.0f%%, CPU1 %.0f%%) after %v: measuring anyway", 100*c0, 100*c1, r.QuietWait)
			return time.Since(start), true
		}
		if time.Since(lastLog) > 15*time.Second {
			r.logf("  waiting for a quiet machine: other processes use CPU0 %.0f%%, CPU1 %.0f%%", 100*c0, 100*c1)
			lastLog = time.Now()
		}
	}
}

// prefix returns the commands that run argv pinned to cpu, at the
// Runner's priority.
func (r *Runner) prefix(cpu int) []string {
	var p []string
	if r.RT != 0 {
		p = append(p, "chrt", "-r", strconv.Itoa(r.RT))
	}
	if r.Nice != 0 {
		p = append(p, "nice", "-n", strconv.Itoa(r.Nice))
	}
	if r.Pin {
		p = append(p, "taskset", "-c", strconv.Itoa(cpu))
	}
	return p
}

// Build compiles the servers and the load generator of the bench module in
// modDir into binDir.
func Build(modDir, binDir string) error {
	cmd := exec.Command("go", "build", "-o", binDir+string(os.PathSeparator), "./cmd/loadgen",
		"./cmd/raw-server", "./cmd/gorilla-server", "./cmd/melody-server", "./cmd/centrifuge-server", "./cmd/pulse-server")
	cmd.Dir = modDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

// mem asks the server for its runtime memory figures.
func (r *Runner) mem(p *proc) (srv.MemStats, error) {
	var m srv.MemStats
	line, err := p.call("mem", "mem ", 30*time.Second)
	if err != nil {
		return m, err
	}
	err = json.Unmarshal([]byte(line), &m)
	return m, err
}

// Run measures one cell. Every process it starts is stopped before it
// returns.
func (r *Runner) Run(c Cell) (res Result, err error) {
	res = Result{Contender: c.Contender.Name, Workload: c.Workload, N: c.N, Hz: c.Hz, Note: c.Note}
	defer func() {
		if err != nil {
			res.Err = err.Error()
		}
	}()
	shmFile, err := os.CreateTemp(r.TmpDir, "received-*")
	if err != nil {
		return res, err
	}
	shmPath := shmFile.Name()
	shmFile.Close()
	defer os.Remove(shmPath)
	if err := shm.Create(shmPath); err != nil {
		return res, err
	}

	args := []string{filepath.Join(r.BinDir, c.Contender.Bin),
		"-addr", "127.0.0.1:0",
		"-hz", strconv.FormatFloat(c.Hz, 'g', -1, 64),
		"-window", strconv.Itoa(c.Window),
		"-size", strconv.Itoa(c.Size),
		"-shm", shmPath}
	if c.CPUProfile != "" {
		args = append(args, "-cpuprofile", c.CPUProfile)
	}
	args = append(args, c.Contender.Args...)
	wait, busy := r.waitQuiet()
	res.QuietWait, res.Busy = wait.Seconds(), busy
	server, err := start(c.Contender.Name, append(r.prefix(0), args...)...)
	if err != nil {
		return res, err
	}
	defer server.stop(5 * time.Second)
	addr, err := server.expect("ready ", 15*time.Second)
	if err != nil {
		return res, err
	}
	time.Sleep(500 * time.Millisecond)
	if res.RSSBaseKiB, err = procRSS(server.pid()); err != nil {
		return res, err
	}
	base, err := r.mem(server)
	if err != nil {
		return res, err
	}

	lg, err := start("loadgen", append(r.prefix(1), filepath.Join(r.BinDir, "loadgen"),
		"-url", "ws://"+addr+c.Contender.Path, "-n", strconv.Itoa(c.N),
		"-proto", c.Contender.Proto, "-shm", shmPath)...)
	if err != nil {
		return res, err
	}
	defer lg.stop(5 * time.Second)
	line, err := lg.expect("connected ", 5*time.Minute)
	if err != nil {
		return res, err
	}
	var conn struct {
		OK, Failed int64
		Seconds    float64
		Error      string
	}
	if err := json.Unmarshal([]byte(line), &conn); err != nil {
		return res, fmt.Errorf("loadgen: %q: %w", line, err)
	}
	res.Connected, res.ConnectFailed, res.ConnectSeconds, res.ConnectError = conn.OK, conn.Failed, conn.Seconds, conn.Error
	r.logf("  %d connected in %.1fs (%d failed)", conn.OK, conn.Seconds, conn.Failed)
	if conn.OK == 0 {
		return res, fmt.Errorf("no connection: %s", conn.Error)
	}

	time.Sleep(c.Settle)
	if res.RSSIdleKiB, err = procRSS(server.pid()); err != nil {
		return res, err
	}
	if idle, err := r.mem(server); err == nil && res.Connected > 0 {
		n := float64(res.Connected)
		res.GoroutinesPerConn = float64(idle.Goroutines-base.Goroutines) / n
		res.HeapKiBPerConn = (idle.HeapKiB - base.HeapKiB) / n
		res.StackKiBPerConn = (idle.StackKiB - base.StackKiB) / n
	}
	if _, err := server.call("start", "ok", 10*time.Second); err != nil {
		return res, err
	}
	time.Sleep(c.Warmup)

	if _, err := lg.call("mark", "ok", 10*time.Second); err != nil {
		return res, err
	}
	cpu0, err := procCPU(server.pid())
	if err != nil {
		return res, err
	}
	lgCPU0, _ := procCPU(lg.pid())
	sys0, _ := readCPUs()
	t0 := time.Now()
	deadline := t0.Add(c.Duration)
	for time.Now().Before(deadline) {
		time.Sleep(min(250*time.Millisecond, time.Until(deadline)))
		if rss, err := procRSS(server.pid()); err == nil && rss > res.RSSLoadKiB {
			res.RSSLoadKiB = rss
		}
	}
	cpu1, err := procCPU(server.pid())
	if err != nil {
		return res, err
	}
	lgCPU1, _ := procCPU(lg.pid())
	sys1, _ := readCPUs()
	el := time.Since(t0).Seconds()
	if r.Pin {
		b0, s0 := busyBetween(sys0, sys1, 0)
		b1, s1 := busyBetween(sys0, sys1, 1)
		if s0 > 0 && s1 > 0 {
			res.OtherCPU0 = max(0, b0-(cpu1-cpu0).Seconds()/s0)
			res.OtherCPU1 = max(0, b1-(lgCPU1-lgCPU0).Seconds()/s1)
		}
	}
	line, err = lg.call("report", "report ", 10*time.Second)
	if err != nil {
		return res, err
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
		return res, fmt.Errorf("loadgen report %q: %w", line, err)
	}
	if line, err = server.call("stats", "stats ", 30*time.Second); err == nil {
		_ = json.Unmarshal([]byte(line), &res.ServerStats)
	}
	if c.CPUProfile != "" {
		if _, err := server.call("stop", "ok", 30*time.Second); err != nil {
			return res, err
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
	res.ServerCPU = (cpu1 - cpu0).Seconds()
	res.ServerCPUUse = res.ServerCPU / el
	if rep.Delivered > 0 {
		res.CPUPerMillion = res.ServerCPU / float64(rep.Delivered) * 1e6
	}
	n := float64(res.Connected)
	res.IdleKiBPerConn = (res.RSSIdleKiB - res.RSSBaseKiB) / n
	res.LoadKiBPerConn = (res.RSSLoadKiB - res.RSSBaseKiB) / n
	return res, nil
}
