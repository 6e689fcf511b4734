// Package srv is what every contender's server program shares: flags, the
// loopback listener, the control protocol spoken with the harness on
// stdin/stdout, the CPU profile, and the broadcast loop of the peer servers.
//
// Control protocol (one command per line on stdin, answers on stdout):
//
//	server prints  "ready 127.0.0.1:PORT"      once listening
//	start          begin broadcasting (and the CPU profile, if asked for)
//	stop           stop broadcasting (and write the CPU profile)
//	stats          print "stats {json}"
//	mem            print "mem {json}": goroutines and the Go runtime's memory
//	gcmem          the same after a GC (the live heap is then exact)
//	heap PATH      write a heap profile (after a GC) to PATH
//	goroutine PATH write a goroutine profile to PATH
//	quit or EOF    exit (a Shutdowner driver shuts down first)
package srv

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-pulse/pulse/bench/internal/payload"
	"github.com/go-pulse/pulse/bench/internal/shm"
	"github.com/go-pulse/pulse/bench/internal/sysinfo"
)

// Flags are the command-line flags every server takes.
type Flags struct {
	Addr       string
	Hz         float64
	Window     int
	Size       int
	Shm        string
	CPUProfile string
}

// ParseFlags registers the common flags, plus any the caller added to
// flag.CommandLine, and parses them.
func ParseFlags() *Flags {
	f := &Flags{}
	flag.StringVar(&f.Addr, "addr", "127.0.0.1:0", "listen address (loopback only)")
	flag.Float64Var(&f.Hz, "hz", 1, "broadcasts per second; 0 = saturation (as fast as the window allows)")
	flag.IntVar(&f.Window, "window", 2, "saturation: messages in flight per client (sent, not yet received by the load generator)")
	flag.IntVar(&f.Size, "size", 1024, "payload bytes per broadcast")
	flag.StringVar(&f.Shm, "shm", "", "shared counter file written by the load generator (saturation pacing)")
	flag.StringVar(&f.CPUProfile, "cpuprofile", "", "write a CPU profile of the start..stop span to this file")
	flag.IntVar(&runtime.MemProfileRate, "memprofilerate", runtime.MemProfileRate, "runtime.MemProfileRate: bytes allocated per heap profile sample (4096 for a precise breakdown)")
	flag.Parse()
	return f
}

// Driver starts and stops a server's broadcasting.
type Driver interface {
	Start()
	Stop()
	Stats() map[string]any
}

// RaiseNoFile lifts the soft open-file limit to the hard one (and the hard
// one too where the process may: see sysinfo.RaiseNoFile). The harness
// checks before a cell that the limit is high enough for it.
func RaiseNoFile() {
	_, _ = sysinfo.RaiseNoFile(0)
}

// Shutdowner is a Driver that can end its connections itself before the
// process exits (pulse: Hub.Shutdown sends every client "going away").
// The quit command calls it, with a bound.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// Listen listens on addr, which must be a loopback address.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("refusing to listen on %q: loopback only", addr)
	}
	return net.Listen("tcp", addr)
}

// Run prints the ready line for ln and serves the control protocol until
// quit, EOF or SIGTERM/SIGINT. It does not return.
func Run(f *Flags, ln net.Listener, d Driver) {
	fmt.Printf("ready %s\n", ln.Addr())
	ctl := &control{f: f, d: d}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(Stdin())
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		var cmd string
		var ok bool
		select {
		case cmd, ok = <-lines:
		case <-sig:
		}
		if !ok {
			cmd = "quit"
		}
		ctl.do(cmd)
	}
}

// control is the state of the control protocol.
type control struct {
	f       *Flags
	d       Driver
	prof    *os.File // the CPU profile being written
	started bool
}

// do runs one command.
func (c *control) do(cmd string) {
	switch cmd {
	case "start":
		c.start()
		fmt.Println("ok")
	case "stop":
		c.stop()
		fmt.Println("ok")
	case "stats":
		b, _ := json.Marshal(c.d.Stats())
		fmt.Printf("stats %s\n", b)
	case "mem", "gcmem":
		if cmd == "gcmem" {
			runtime.GC()
		}
		b, _ := json.Marshal(Mem())
		fmt.Printf("mem %s\n", b)
	case "quit":
		c.stop()
		if sd, ok := c.d.(Shutdowner); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			if err := sd.Shutdown(ctx); err != nil {
				log.Printf("shutdown: %v", err)
			}
			cancel()
		}
		os.Exit(0)
	default:
		name, path, _ := strings.Cut(cmd, " ")
		if (name != "heap" && name != "goroutine") || path == "" {
			fmt.Printf("error unknown command %q\n", cmd)
			return
		}
		if name == "heap" {
			runtime.GC()
		}
		if err := writeProfile(name, path); err != nil {
			fmt.Printf("error %v\n", err)
			return
		}
		fmt.Println("ok")
	}
}

func (c *control) start() {
	if c.f.CPUProfile != "" && c.prof == nil {
		var err error
		if c.prof, err = os.Create(c.f.CPUProfile); err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(c.prof); err != nil {
			log.Fatal(err)
		}
	}
	if !c.started {
		c.d.Start()
		c.started = true
	}
}

func (c *control) stop() {
	if c.started {
		c.d.Stop()
		c.started = false
	}
	if c.prof != nil {
		pprof.StopCPUProfile()
		_ = c.prof.Close()
		c.prof = nil
	}
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// MemStats is where a server's memory is, as the Go runtime sees it.
type MemStats struct {
	Goroutines  int
	HeapKiB     float64 // heap in use (live objects and fragmentation)
	StackKiB    float64 // goroutine stacks
	OtherKiB    float64 // the runtime's other memory in use (spans, caches, GC metadata, ...)
	LiveKiB     float64 // heap marked live by the last GC (/gc/heap/live:bytes)
	GoalKiB     float64 // the heap size the GC lets the heap reach before its next cycle (/gc/heap/goal:bytes)
	ReleasedKiB float64 // heap memory returned to the OS (HeapReleased): not in RSS
}

// Mem reads the runtime's figures.
func Mem() MemStats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	other := m.MSpanInuse + m.MCacheInuse + m.BuckHashSys + m.GCSys + m.OtherSys
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}
	metrics.Read(samples)
	kib := func(s metrics.Sample) float64 {
		if s.Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return float64(s.Value.Uint64()) / 1024
	}
	return MemStats{Goroutines: runtime.NumGoroutine(), HeapKiB: float64(m.HeapInuse) / 1024,
		StackKiB: float64(m.StackInuse) / 1024, OtherKiB: float64(other) / 1024,
		LiveKiB: kib(samples[0]), GoalKiB: kib(samples[1]), ReleasedKiB: float64(m.HeapReleased) / 1024}
}

// Stdin returns standard input served by the runtime's network poller
// instead of a thread blocked in read(2). Under SCHED_FIFO (compare -rt)
// a thread waking from a blocking read waits until the busy scheduler
// thread blocks, which at saturation can take many seconds; the poller
// is checked by that thread itself.
func Stdin() *os.File {
	// A terminal stays as it is: a non-blocking tty would trouble the
	// shell after exit.
	if fi, err := os.Stdin.Stat(); err != nil || fi.Mode()&os.ModeCharDevice != 0 {
		return os.Stdin
	}
	if err := syscall.SetNonblock(0, true); err != nil {
		return os.Stdin
	}
	return os.NewFile(0, "stdin")
}

// Loop is the broadcast loop of the peer servers: it builds one stamped
// payload per broadcast and hands it to Broadcast. At Hz > 0 it broadcasts
// on a ticker; at Hz == 0 (saturation) it broadcasts as soon as the number
// of messages sent but not yet received by the load generator (read from
// the shared counter) is below Window per connected client.
type Loop struct {
	Broadcast func(msg []byte)
	Clients   func() int
	Hz        float64
	Window    int
	Size      int
	Received  *shm.Counter

	broadcasts atomic.Uint64
	stalls     atomic.Uint64
	quit       chan struct{}
	wg         sync.WaitGroup
}

// NewLoop returns the loop the flags describe.
func NewLoop(f *Flags, broadcast func([]byte), clients func() int) (*Loop, error) {
	c, err := shm.Open(f.Shm)
	if err != nil {
		return nil, err
	}
	if f.Hz == 0 && c == nil {
		return nil, fmt.Errorf("saturation (-hz 0) needs -shm")
	}
	w := f.Window
	if w < 1 {
		w = 1
	}
	return &Loop{Broadcast: broadcast, Clients: clients, Hz: f.Hz, Window: w, Size: f.Size, Received: c}, nil
}

// Start starts broadcasting.
func (l *Loop) Start() {
	l.quit = make(chan struct{})
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if l.Hz > 0 {
			l.ticked()
		} else {
			l.saturate()
		}
	}()
}

// Stop stops broadcasting.
func (l *Loop) Stop() {
	close(l.quit)
	l.wg.Wait()
}

// Stats reports the loop's counts.
func (l *Loop) Stats() map[string]any {
	return map[string]any{"broadcasts": l.broadcasts.Load(), "stalls": l.stalls.Load(), "clients": l.Clients()}
}

func (l *Loop) send() {
	seq := l.broadcasts.Add(1)
	l.Broadcast(payload.Build(seq, time.Now().UnixNano(), l.Size))
}

func (l *Loop) ticked() {
	t := time.NewTicker(time.Duration(float64(time.Second) / l.Hz))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.send()
		case <-l.quit:
			return
		}
	}
}

func (l *Loop) saturate() {
	base := l.Received.Load()
	var expected uint64 // deliveries of the messages sent so far
	for {
		n := uint64(l.Clients())
		if n == 0 {
			select {
			case <-l.quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		// Wait until at most Window-1 messages per client are in flight.
		last, lastAt := l.Received.Load(), time.Now()
		for {
			select {
			case <-l.quit:
				return
			default:
			}
			got := l.Received.Load()
			if got-base+uint64(l.Window-1)*n >= expected {
				break
			}
			if got != last {
				last, lastAt = got, time.Now()
			} else if time.Since(lastAt) > 500*time.Millisecond {
				// Nothing arrived for half a second: messages were lost
				// (dropped or a client gone). Forgive them.
				l.stalls.Add(1)
				expected = got - base
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		l.send()
		expected += n
	}
}
