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
	"strconv"
	"time"

	"github.com/go-pulse/pulse/bench/internal/srv"
)

// Contender is one server under test.
type Contender struct {
	Name  string   // as shown in tables
	Bin   string   // binary in the bin directory
	Path  string   // WebSocket route
	Proto string   // load generator protocol
	Args  []string // extra server flags
	// LoadgenArgs are extra load generator flags, e.g. -deflate.
	LoadgenArgs []string
}

// Contenders are the servers compared, floor first.
var Contenders = []Contender{
	{Name: "raw-tcp", Bin: "raw-server", Path: "/ws", Proto: "generic"},
	{Name: "gorilla", Bin: "gorilla-server", Path: "/ws", Proto: "generic"},
	{Name: "melody", Bin: "melody-server", Path: "/ws", Proto: "generic"},
	{Name: "centrifuge", Bin: "centrifuge-server", Path: "/connection/websocket", Proto: "centrifuge"},
	{Name: "pulse", Bin: "pulse-server", Path: "/ws", Proto: "pulse", Args: []string{"-workload", "broadcast"}},
}

// WireV2 are pulse speaking protocol v2 (?v=2), with clients that negotiate
// nothing and with clients that negotiate permessage-deflate as browsers
// do: the compression-cost comparison of cmd/wire -cpu.
var WireV2 = []Contender{
	{Name: "pulse-v2", Bin: "pulse-server", Path: "/ws?v=2", Proto: "pulse", Args: []string{"-workload", "broadcast"}},
	{Name: "pulse-v2-deflate", Bin: "pulse-server", Path: "/ws?v=2", Proto: "pulse", Args: []string{"-workload", "broadcast"},
		LoadgenArgs: []string{"-deflate"}},
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
	// MemProfile, if set, is a path prefix: at idle the server writes a
	// heap profile (after a GC) to MemProfile+".heap.pprof" and a
	// goroutine profile to MemProfile+".goroutine.pprof".
	MemProfile string
	// GCAtIdle: after the idle readings, the server collects garbage and
	// reports its live heap and heap goal (the scale run's breakdown).
	GCAtIdle bool
	Note     string // shown with the result, e.g. pulse's Interval
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
	// The same moment: the heap the last GC found live, the heap size the
	// GC lets the heap grow to before its next cycle (it grows there under
	// load, and RSS with it), and the runtime's own memory (spans, GC
	// metadata), per connection.
	LiveHeapKiBPerConn float64 `json:",omitempty"`
	HeapGoalKiBPerConn float64 `json:",omitempty"`
	RuntimeKiBPerConn  float64 `json:",omitempty"`

	// Which CPUs ran the server and the load generator ("0", "1"; "0-1"
	// when not pinned), and over how many source addresses the load
	// generator spread its connections.
	ServerCPUs  string `json:",omitempty"`
	LoadgenCPUs string `json:",omitempty"`
	Sources     int    `json:",omitempty"`

	// Kernel memory, which counts in neither RSS nor the Go heap: the
	// growth of the socket slab caches (sysinfo.SocketCaches) from before
	// the load generator started to idle, per connection, for both ends of
	// it (server and load generator share the kernel); and the peak of the
	// socket buffers (sockstat's TCP mem) during the window.
	KernelKiBPerConn float64            `json:",omitempty"`
	KernelSlabKiB    map[string]float64 `json:",omitempty"`
	SockBufPeakKiB   float64            `json:",omitempty"`
	ListenOverflows  int64              `json:",omitempty"` // accept-queue overflows while connecting (TcpExt:ListenOverflows)
	HeapProfile      string             `json:",omitempty"`
	HeapTop          string             `json:",omitempty"` // go tool pprof -top of HeapProfile
	GoroutineProfile string             `json:",omitempty"`

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
	// MaxRSSKiB, if not 0, bounds a server's RSS: a server that grows past
	// it is killed and its cell fails with the reason.
	MaxRSSKiB float64
	// Sources is the load generator's -src (empty: its default,
	// 127.0.0.2 to 127.0.0.9).
	Sources string
	// ServerCPUs and LoadgenCPUs are the taskset CPU lists of the server
	// and the load generator when pinning (default "0" and "1"); on a
	// machine with more cores, e.g. "0-3" and "4-5".
	ServerCPUs, LoadgenCPUs string
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
		c0, _ := busyBetween(a, b, r.cpusOr(0, "0"))
		c1, _ := busyBetween(a, b, r.cpusOr(1, "1"))
		if c0 < r.QuietBelow && c1 < r.QuietBelow {
			return time.Since(start), false
		}
		if time.Since(start) > r.QuietWait {
			r.logf("  machine still busy (server CPUs %.0f%%, load generator CPUs %.0f%%) after %v: measuring anyway", 100*c0, 100*c1, r.QuietWait)
			return time.Since(start), true
		}
		if time.Since(lastLog) > 15*time.Second {
			r.logf("  waiting for a quiet machine: other processes use %.0f%% of the server's CPUs, %.0f%% of the load generator's", 100*c0, 100*c1)
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
		p = append(p, "taskset", "-c", r.cpus(cpu))
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

// mem asks the server for its runtime memory figures (cmd "mem", or
// "gcmem" after a GC).
func (r *Runner) mem(p *proc, cmd ...string) (srv.MemStats, error) {
	var m srv.MemStats
	c := "mem"
	if len(cmd) > 0 {
		c = cmd[0]
	}
	line, err := p.call(c, "mem ", 30*time.Second)
	if err != nil {
		return m, err
	}
	err = json.Unmarshal([]byte(line), &m)
	return m, err
}
