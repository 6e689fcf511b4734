package harness

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-pulse/pulse/bench/internal/sysinfo"
)

// Storm variants.
const (
	// StormDrop: the load generator drops every connection at once, as a
	// proxy that restarts would; every client redials.
	StormDrop = "drop"
	// StormRestart: the server process shuts down (http.Server.Shutdown,
	// then Hub.Shutdown: a going-away close to every client) and a new one
	// starts on the same address; every client redials.
	StormRestart = "restart"
	// StormDropResume and StormRestartResume are the same storms with
	// clients that speak wire v2 and resume (the load generator's
	// -resume): each redial presents the Hub's epoch and the last seq it
	// had. After a drop the Hub resumes every stream (a short hello and one
	// merged delta); a restarted process has another epoch and answers a
	// fresh connect.
	StormDropResume    = "drop-resume"
	StormRestartResume = "restart-resume"
	// StormDropV2 is the drop with wire v2 clients that do not resume:
	// what drop-resume is compared with, the protocol version aside.
	StormDropV2 = "drop-v2"
)

// stormKind splits a variant into the storm (StormDrop or StormRestart),
// whether its clients speak wire v2 and whether they resume; ok is false
// for an unknown variant.
func stormKind(v string) (base string, v2, resume, ok bool) {
	switch v {
	case StormDrop, StormRestart:
		return v, false, false, true
	case StormDropV2:
		return StormDrop, true, false, true
	case StormDropResume:
		return StormDrop, true, true, true
	case StormRestartResume:
		return StormRestart, true, true, true
	}
	return "", false, false, false
}

// StormCell is one reconnect storm against pulse.
type StormCell struct {
	Variant    string
	N          int
	Hz         float64       // the Hub's ticks a second; 0: 1
	MaxClients int           // the Hub's MaxClients; 0: pulse's default (10,000)
	Spread     time.Duration // each client's first redial is at a random time within this
	Warmup     time.Duration // broadcasting, before the steady window
	Steady     time.Duration // the steady-state window before the storm
	Deadline   time.Duration // longest wait, from the storm, for every client to be live again
	After      time.Duration // readings kept after every client is live again
}

// StormSample is one reading during a storm, T seconds after it began.
type StormSample struct {
	T      float64
	Live   int64
	RSSKiB float64
	CPU    float64 // the server's share of its core since the previous sample
}

// StormResult is what one storm measured. Live means: a connection opened
// since the storm began has delivered a snapshot and then a delta.
type StormResult struct {
	Variant     string
	N           int
	MaxClients  int
	Spread      float64 // seconds
	Connected   int64
	ServerCPUs  string
	LoadgenCPUs string

	SteadyRSSKiB float64 // peak RSS in the steady window before the storm
	SteadyCPU    float64 // the server's share of its core in that window

	AllLive       bool
	LiveSeconds   float64 // from the storm until the last client was live again
	Live          int64   // live at the end
	TTLp50ms      float64
	TTLp90ms      float64
	TTLp99ms      float64
	PeakRSSKiB    float64 // during the storm, until After past all live
	PeakRSSRatio  float64 // PeakRSSKiB / SteadyRSSKiB
	EndRSSKiB     float64
	StormCPU      float64 // server CPU seconds from the storm until all live (or the deadline)
	PeakCPU       float64 // highest share of its core in one sample
	PeakFDs       int     // the (new) server's most open descriptors in one sample
	ShutdownSecs  float64 // restart: from quit until the old process ended
	RestartSecs   float64 // restart: from quit until the new process listened
	LoadgenStatus map[string]any
	ServerStats   map[string]any // the (new) server's, at the end
	// Kernel counters over the storm: accept-queue overflows and SYNs
	// dropped by a full listen queue.
	ListenOverflows int64
	ListenDrops     int64
	OtherCPU0       float64
	OtherCPU1       float64
	Timeline        []StormSample
	Err             string `json:",omitempty"`
}

// storm is one storm being measured.
type storm struct {
	r      *Runner
	c      StormCell
	res    *StormResult
	argv   []string
	server *proc
	lg     *proc
}

// Storm measures one reconnect storm. Every process it starts is stopped
// before it returns.
func (r *Runner) Storm(c StormCell) (res StormResult, err error) {
	res = StormResult{Variant: c.Variant, N: c.N, MaxClients: c.MaxClients, Spread: c.Spread.Seconds(),
		ServerCPUs: r.cpus(0), LoadgenCPUs: r.cpus(1)}
	defer func() {
		if err != nil {
			res.Err = err.Error()
		}
	}()
	if _, _, _, ok := stormKind(c.Variant); !ok {
		return res, fmt.Errorf("unknown storm variant %q", c.Variant)
	}
	// The server holds N connections, and for a moment also redials that
	// arrive before it has seen their old connection close.
	if _, err := sysinfo.RaiseNoFile(uint64(c.N) + 1000); err != nil {
		return res, err
	}
	s := &storm{r: r, c: c, res: &res}
	defer func() {
		if s.lg != nil {
			s.lg.stop(5 * time.Second)
		}
		if s.server != nil {
			s.server.stop(20 * time.Second)
		}
	}()
	if err := s.setUp(); err != nil {
		return res, err
	}
	if err := s.steady(); err != nil {
		return res, err
	}
	if err := s.run(); err != nil {
		return res, err
	}
	return res, nil
}

// setUp starts the server on a fixed port (a restarted one must listen on
// the same), connects the N clients and starts the broadcast.
func (s *storm) setUp() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	hz := s.c.Hz
	if hz == 0 {
		hz = 1
	}
	s.argv = append(s.r.prefix(0), filepath.Join(s.r.BinDir, "pulse-server"), "-addr", addr, "-hz", strconv.FormatFloat(hz, 'g', -1, 64),
		"-workload", "broadcast", "-max-clients", strconv.Itoa(s.c.MaxClients))
	s.r.waitQuiet()
	if err := s.startServer(); err != nil {
		return err
	}
	target, resumeArgs := "ws://"+addr+"/ws", []string(nil)
	_, v2, resume, _ := stormKind(s.c.Variant)
	if v2 {
		target += "?v=2"
	}
	if resume {
		resumeArgs = []string{"-resume"}
	}
	args := append([]string{filepath.Join(s.r.BinDir, "loadgen"), "-url", target, "-n", strconv.Itoa(s.c.N),
		"-proto", "pulse", "-reconnect", "-spread", s.c.Spread.String()}, resumeArgs...)
	if s.r.Sources != "" {
		args = append(args, "-src", s.r.Sources)
	}
	if s.lg, err = start("loadgen", append(s.r.prefix(1), args...)...); err != nil {
		return err
	}
	line, err := s.lg.expect("connected ", 5*time.Minute)
	if err != nil {
		return err
	}
	var conn struct{ OK, Failed int64 }
	if err := json.Unmarshal([]byte(line), &conn); err != nil {
		return fmt.Errorf("loadgen: %q: %w", line, err)
	}
	s.res.Connected = conn.OK
	if conn.OK != int64(s.c.N) {
		return fmt.Errorf("%d of %d connected before the storm: %s", conn.OK, s.c.N, line)
	}
	s.r.logf("  %d connected", conn.OK)
	return nil
}

// startServer starts a server and its broadcast, and waits for both.
func (s *storm) startServer() error {
	var err error
	if s.server, err = start("pulse", s.argv...); err != nil {
		return err
	}
	if _, err := s.server.expect("ready ", 15*time.Second); err != nil {
		return err
	}
	_, err = s.server.call("start", "ok", 10*time.Second)
	return err
}

// steady reads the server's RSS and CPU before the storm.
func (s *storm) steady() error {
	time.Sleep(s.c.Warmup)
	cpu0, err := procCPU(s.server.pid())
	if err != nil {
		return err
	}
	t0 := time.Now()
	for time.Since(t0) < s.c.Steady {
		time.Sleep(100 * time.Millisecond)
		if rss, err := procRSS(s.server.pid()); err == nil {
			s.res.SteadyRSSKiB = max(s.res.SteadyRSSKiB, rss)
		}
	}
	cpu1, err := procCPU(s.server.pid())
	if err != nil {
		return err
	}
	s.res.SteadyCPU = (cpu1 - cpu0).Seconds() / time.Since(t0).Seconds()
	return nil
}

// run starts the storm and follows it until every client is live again
// (and After more) or the deadline.
func (s *storm) run() error {
	net0 := sysinfo.ReadNetstat()
	sys0, _ := readCPUs()
	t0, err := s.trigger()
	if err != nil {
		return err
	}
	busy0, err := s.follow(t0)
	if err != nil {
		return err
	}
	net1 := sysinfo.ReadNetstat()
	sys1, _ := readCPUs()
	s.res.ListenOverflows = net1["TcpExt:ListenOverflows"] - net0["TcpExt:ListenOverflows"]
	s.res.ListenDrops = net1["TcpExt:ListenDrops"] - net0["TcpExt:ListenDrops"]
	if s.r.Pin {
		// Whatever else ran on the two cores: their busy share, less the
		// server's and load generator's own (the old server's CPU during
		// a restart is not known after it exits; it counts as other).
		b0, sec0 := busyBetween(sys0, sys1, s.r.cpus(0))
		b1, sec1 := busyBetween(sys0, sys1, s.r.cpus(1))
		if sec0 > 0 && sec1 > 0 {
			srvCPU, _ := procCPU(s.server.pid())
			lgCPU, _ := procCPU(s.lg.pid())
			s.res.OtherCPU0 = max(0, b0-(srvCPU-busy0.server).Seconds()/sec0)
			s.res.OtherCPU1 = max(0, b1-(lgCPU-busy0.lg).Seconds()/sec1)
		}
	}
	if line, err := s.server.call("stats", "stats ", 30*time.Second); err == nil {
		_ = json.Unmarshal([]byte(line), &s.res.ServerStats)
	}
	return nil
}

// trigger starts the storm and returns when it began.
func (s *storm) trigger() (time.Time, error) {
	if base, _, _, _ := stormKind(s.c.Variant); base == StormDrop {
		t0 := time.Now()
		_, err := s.lg.call("drop", "ok", 10*time.Second)
		return t0, err
	}
	if _, err := s.lg.call("storm", "ok", 10*time.Second); err != nil {
		return time.Time{}, err
	}
	t0 := time.Now()
	old := s.server
	if err := old.send("quit"); err != nil {
		return t0, err
	}
	select {
	case <-old.done:
	case <-time.After(20 * time.Second):
		old.kill()
		<-old.done
		return t0, fmt.Errorf("the old server did not exit within 20s of quit")
	}
	s.res.ShutdownSecs = time.Since(t0).Seconds()
	if err := s.startServer(); err != nil {
		return t0, err
	}
	s.res.RestartSecs = time.Since(t0).Seconds()
	return t0, nil
}

type cpuMark struct{ server, lg time.Duration }

// follow samples the server's RSS and CPU and the clients' progress every
// 200 ms until every client is live again and After has passed, or the
// deadline. It returns the CPU times at the storm's start.
func (s *storm) follow(t0 time.Time) (cpuMark, error) {
	res, c := s.res, s.c
	var mark cpuMark
	mark.server, _ = procCPU(s.server.pid())
	mark.lg, _ = procCPU(s.lg.pid())
	prevCPU, prevT := mark.server, time.Now()
	if base, _, _, _ := stormKind(c.Variant); base == StormRestart {
		mark.server = 0 // the new server's whole life is the storm's
	}
	var allAt time.Time
	for {
		time.Sleep(200 * time.Millisecond)
		st, err := s.status()
		if err != nil {
			return mark, err
		}
		now := time.Now()
		cpu, _ := procCPU(s.server.pid())
		rss, _ := procRSS(s.server.pid())
		share := (cpu - prevCPU).Seconds() / now.Sub(prevT).Seconds()
		prevCPU, prevT = cpu, now
		res.Timeline = append(res.Timeline, StormSample{T: now.Sub(t0).Seconds(), Live: st.Live, RSSKiB: rss, CPU: share})
		res.PeakRSSKiB, res.PeakCPU, res.EndRSSKiB = max(res.PeakRSSKiB, rss), max(res.PeakCPU, share), rss
		res.PeakFDs = max(res.PeakFDs, procFDs(s.server.pid()))
		res.Live = st.Live
		if st.Live >= int64(c.N) && allAt.IsZero() {
			allAt = now
			res.AllLive, res.LiveSeconds = true, st.TTLmaxms/1e3
			res.StormCPU = (cpu - mark.server).Seconds()
			s.r.logf("  all %d live again after %.2fs", c.N, res.LiveSeconds)
		}
		if !allAt.IsZero() && now.Sub(allAt) >= c.After || allAt.IsZero() && now.Sub(t0) > c.Deadline {
			break
		}
	}
	if !res.AllLive {
		cpu, _ := procCPU(s.server.pid())
		res.StormCPU = (cpu - mark.server).Seconds()
		res.LiveSeconds = c.Deadline.Seconds()
	}
	if res.SteadyRSSKiB > 0 {
		res.PeakRSSRatio = res.PeakRSSKiB / res.SteadyRSSKiB
	}
	return mark, nil
}

// stormStatus is the part of the load generator's storm-status the
// harness reads; the whole of it is kept in LoadgenStatus.
type stormStatus struct {
	Live     int64   `json:"live"`
	TTLp50ms float64 `json:"ttl_p50_ms"`
	TTLp90ms float64 `json:"ttl_p90_ms"`
	TTLp99ms float64 `json:"ttl_p99_ms"`
	TTLmaxms float64 `json:"ttl_max_ms"`
}

func (s *storm) status() (stormStatus, error) {
	var st stormStatus
	line, err := s.lg.call("storm-status", "storm ", 10*time.Second)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(line), &st); err != nil {
		return st, fmt.Errorf("loadgen storm-status %q: %w", line, err)
	}
	s.res.LoadgenStatus = map[string]any{}
	_ = json.Unmarshal([]byte(line), &s.res.LoadgenStatus)
	s.res.TTLp50ms, s.res.TTLp90ms, s.res.TTLp99ms = st.TTLp50ms, st.TTLp90ms, st.TTLp99ms
	return st, nil
}
