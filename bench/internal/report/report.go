// Package report turns the harness's results into BENCHMARKS.md and an SVG
// chart.
package report

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
	"github.com/go-pulse/pulse/bench/internal/sysinfo"
)

// Workload labels.
const (
	Broadcast    = "1KiB"
	Dashboard20  = "dashboard-20%"
	Dashboard100 = "dashboard-100%"
	Profile      = "profile"
)

// Floor is the contender that is the physical floor, not a peer.
const Floor = "raw-tcp"

// Run is one whole comparison.
type Run struct {
	Machine  Machine
	Started  time.Time
	Elapsed  float64 // seconds
	Duration float64 // window per cell, seconds
	// Duration1Hz is the window of the 1 Hz broadcast cells, seconds (0 in
	// runs before it was recorded: Duration).
	Duration1Hz float64
	Window      int
	Pinned      bool
	Quick       bool
	Nice        int
	RT          int
	Args        []string // compare's command-line flags
	Results     []harness.Result
	ProfileN    int
	ProfileFile string
	ProfileTop  string
	// PulseOffered is the load pulse was offered at saturation, in
	// messages a second (0 in runs before it was recorded: 100,000).
	PulseOffered float64
	// Scale is set on a -scale run; Limits are the machine's settings that
	// bound it (recorded since the scale run was added).
	Scale  bool           `json:",omitempty"`
	Limits sysinfo.Limits `json:",omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int
	CPUModel  string
	MemoryGiB float64
	Kernel    string
	GoVersion string
	GOARCH    string
}

// ThisMachine reads the machine's description.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), GOARCH: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGiB = kb / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// RateName names a broadcast rate.
func RateName(hz float64) string {
	if hz == 0 {
		return "saturation"
	}
	return fmt.Sprintf("%g Hz", hz)
}

// order is the table order of the contenders.
var order = []string{"raw-tcp", "gorilla", "melody", "centrifuge", "pulse"}

func rank(name string) int {
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	return len(order)
}

func (r *Run) select_(workload string, hz float64) []harness.Result {
	var out []harness.Result
	for _, x := range r.Results {
		if x.Workload == workload && x.Hz == hz {
			out = append(out, x)
		}
	}
	slices.SortStableFunc(out, func(a, b harness.Result) int {
		if a.N != b.N {
			return a.N - b.N
		}
		return rank(a.Contender) - rank(b.Contender)
	})
	return out
}

func (r *Run) ns(workload string) []int {
	var ns []int
	for _, x := range r.Results {
		if x.Workload == workload && !slices.Contains(ns, x.N) {
			ns = append(ns, x.N)
		}
	}
	slices.Sort(ns)
	return ns
}

func (r *Run) rates() []float64 {
	var hz []float64
	for _, x := range r.Results {
		if x.Workload == Broadcast && !slices.Contains(hz, x.Hz) {
			hz = append(hz, x.Hz)
		}
	}
	// Fixed rates first, saturation last.
	slices.SortFunc(hz, func(a, b float64) int {
		switch {
		case a == b:
			return 0
		case a == 0:
			return 1
		case b == 0:
			return -1
		case a < b:
			return -1
		}
		return 1
	})
	return hz
}

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func ms(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return thousands(v)
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func bold(s string, on bool) string {
	if on {
		return "**" + s + "**"
	}
	return s
}

// Doc is what the report is made of.
type Doc struct {
	Main       Run    // the full run (results/latest.json)
	Scale      *Run   // the -scale run (results/scale.json), if any
	Analysis   string // analysis.md, written by hand from Main
	ScaleNotes string // scale.md, written by hand from Scale
	Chart      string // paths of the charts relative to the report
	ScaleChart string
}

// Markdown renders the report.
func Markdown(d Doc) string {
	var b strings.Builder
	if len(d.Main.Results) > 0 {
		mainSection(&b, d.Main, d.Analysis, d.Chart)
	} else {
		b.WriteString("# Benchmarks: pulse against its peers\n\nNo full run saved yet (`cd bench && go run ./cmd/compare`).\n\n")
	}
	if d.Scale != nil {
		scaleSection(&b, *d.Scale, d.ScaleNotes, d.ScaleChart)
	}
	b.WriteString("## Reproduce\n\n```sh\ncd bench\n" +
		"go run ./cmd/compare          # N = 1,000, 5,000, 10,000 (about 15 minutes on 2 cores)\n" +
		"go run ./cmd/compare -rt 10   # the same where other work shares the machine (root; see bench/README.md)\n" +
		"go run ./cmd/compare -quick   # N = 1,000, 3-second windows (about 2 minutes)\n" +
		"go run ./cmd/compare -scale   # 1 Hz at N = 10,000, 50,000, 100,000 (needs an open-file limit above 100,100)\n" +
		"go run ./cmd/storm            # reconnect storms (writes the storm section of RELIABILITY.md)\n" +
		"go test ./...                 # smoke test: every server and the load generator, 10 clients\n```\n")
	return b.String()
}

// mainSection renders the full run: analysis is hand-written text included
// as is; chart is the chart's path relative to the report.
func mainSection(b *strings.Builder, r Run, analysis, chart string) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	introSection(w, r)
	workloadSection(w, r)
	broadcastTables(w, r)
	ratiosSection(w, r)
	targetsSection(w, r)
	memorySection(w, r)
	dashboardSection(w, r)
	if chart != "" {
		w("## Chart\n\n![Throughput at saturation and p99 latency against the number of clients](%s)\n\n", chart)
	}

	if r.ProfileTop != "" {
		w("## Profile: pulse at saturation, N=%s\n\n", thousands(float64(r.ProfileN)))
		w("CPU profile of the pulse server while it broadcast (warm-up and window; `-cpuprofile`, written to bench/results/%s, not committed), `go tool pprof -top`:\n\n", r.ProfileFile)
		w("```\n%s```\n\n", trimProfile(r.ProfileTop))
	}
	if strings.TrimSpace(analysis) != "" {
		w("## Analysis\n\n%s\n\n", strings.TrimSpace(analysis))
	}
}

// writef writes formatted text to the report being rendered.
type writef func(format string, args ...any)

// introSection renders the title, the command that generated the report and
// the machine it ran on.
func introSection(w writef, r Run) {
	m := r.Machine
	mode := "full"
	if r.Quick {
		mode = "quick (-quick)"
	}
	w("# Benchmarks: pulse against its peers\n\n")
	cmd := strings.TrimSpace("go run ./cmd/compare " + strings.Join(r.Args, " "))
	w("Generated by `cd bench && %s` (%s run) on %s, in %s. ", cmd, mode, r.Started.Format("2006-01-02 15:04 MST"), (time.Duration(r.Elapsed) * time.Second).String())
	w("Do not edit the tables by hand: rerun the command. The method is in [bench/README.md](bench/README.md); ")
	w("the raw figures of this run are in [bench/results/latest.json](bench/results/latest.json).\n\n")
	w("**Machine:** %d CPUs (%s), %.0f GiB, Linux %s, %s/%s. ", m.CPUs, m.CPUModel, m.MemoryGiB, m.Kernel, m.GoVersion, m.GOARCH)
	if r.Pinned {
		w("Server pinned to CPU 0, load generator to CPU 1 (`taskset`), so each gets one core (GOMAXPROCS=1). ")
	} else {
		w("Processes **not pinned** (no taskset or a single CPU): figures are not comparable with a pinned run. ")
	}
	if r.Nice != 0 {
		w("Both ran at nice %d. ", r.Nice)
	}
	if r.RT != 0 {
		w("Both ran under SCHED_RR priority %d (`-rt %d`) because other work shared the machine: it could not preempt them, only use the time they left idle (and the 5%% the kernel reserves for it), which is what the *other* column shows. ", r.RT, r.RT)
	}
	if r.Duration1Hz != 0 && r.Duration1Hz != r.Duration {
		w("%.0f-second window per 1 Hz broadcast cell (so that p99 spans %.0f ticks), %.0f seconds for the others, after the connections are up and a warm-up.\n\n", r.Duration1Hz, r.Duration1Hz, r.Duration)
	} else {
		w("%.0f-second window per cell, after the connections are up and a warm-up.\n\n", r.Duration)
	}
}

// workloadSection describes the workload and the columns of the tables.
func workloadSection(w writef, r Run) {
	w("**Workload:** N WebSocket clients on 127.0.0.1 receive one broadcast message of about 1 KiB. ")
	w("The peers send the same %s payload bytes, stamped with the send time; pulse sends its own protocol's delta, ", "1,024")
	w("sized to about 1 KiB by 28 gauges that all change every tick plus `bench_sent_us`, the collection time. ")
	w("*1 Hz*: one broadcast a second. *Saturation*: as fast as each server fans out; a peer broadcasts the next message ")
	w("as soon as fewer than %d messages per client are in flight (sent but not yet read by the load generator); ", r.Window)
	offered := r.PulseOffered
	if offered == 0 {
		offered = 100000
	}
	w("pulse cannot be paced from outside and never waits for a client: it is offered %s messages a second, more than any peer fans out here, by ticking every N/%s s (%s at N = 1,000; %s at 10,000); ",
		thousands(offered), thousands(offered), time.Duration(1000/offered*float64(time.Second)), time.Duration(10000/offered*float64(time.Second)))
	w("a client that falls 16 messages behind gets one `resync` snapshot instead of the deltas it missed, and the ticks it skipped count as drops.\n\n")
	w("Columns: **msg/s** messages received per second by all clients together; **p50/p99/max** tick-to-receive latency (server stamp to load generator's read, one clock); ")
	w("**CPU s/1M** server CPU seconds (utime+stime from /proc) per million messages delivered; **RSS/conn** (VmRSS − VmRSS before any client) / N, idle = connected and not yet broadcasting, load = peak during the window; ")
	w("**B/msg** wire bytes per message, frame header included; **drops** messages missing from a client's sequence; **lost** connections closed during the window; **server CPU**, **lg CPU** the server's and the load generator's share of their core (near 100%% for the load generator would mean the figure is bounded by it, not by the server); ")
	if r.RT != 0 {
		w("**other** the largest share of either core used by other processes during the window (under `-rt` they only get the time the cell leaves idle).\n\n")
	} else {
		w("**other** the largest share of either core used by other processes during the window (%s marks a cell disturbed by more than 10%%).\n\n", disturbed)
	}
}

// broadcastTables renders one table of the broadcast cells per rate.
func broadcastTables(w writef, r Run) {
	for _, hz := range r.rates() {
		rows := r.select_(Broadcast, hz)
		if len(rows) == 0 {
			continue
		}
		w("## 1 KiB broadcast, %s\n\n", RateName(hz))
		w("| N | server | msg/s | p50 ms | p99 ms | max ms | CPU s/1M | RSS/conn idle KiB | RSS/conn load KiB | B/msg | drops | lost | server CPU | lg CPU | other |\n")
		w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range rows {
			p := x.Contender == "pulse"
			if x.Err != "" {
				w("| %s | %s | error: %s ||||||||||||\n", thousands(float64(x.N)), bold(x.Contender, p), strings.ReplaceAll(firstLine(x.Err), "|", "/"))
				continue
			}
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %.0f%% | %.0f%% | %s |\n",
				thousands(float64(x.N)), name(x), thousands(x.PerSecond), ms(x.P50ms), ms(x.P99ms), ms(x.Maxms),
				f2(x.CPUPerMillion), f1(x.IdleKiBPerConn), f1(x.LoadKiBPerConn), thousands(x.BytesPerMsg),
				thousands(float64(x.Drops)), x.Closed, 100*x.ServerCPUUse, 100*x.LoadgenCPU, other(x, r.RT != 0))
		}
		w("\n")
	}
}

// ratiosSection renders the ratios of pulse to each peer on the same row.
func ratiosSection(w writef, r Run) {
	w("## pulse against each peer and the floor\n\n")
	w("Ratios pulse ÷ other on the same row. Throughput: above 1 is better for pulse; latency, memory and CPU: below 1 is better for pulse. ")
	w("At 1 Hz, msg/s differs only by where the ticks fall in the window (±10%%), and CPU s/1M is read in 10 ms clock ticks, about ±7%% at N = 1,000.\n\n")
	w("| rate | N | against | msg/s | p99 | RSS/conn idle | RSS/conn load | CPU s/1M |\n")
	w("|---|---:|---|---:|---:|---:|---:|---:|\n")
	for _, hz := range r.rates() {
		for _, n := range r.ns(Broadcast) {
			p, ok := r.find("pulse", Broadcast, n, hz)
			if !ok {
				continue
			}
			for _, o := range order {
				if o == "pulse" {
					continue
				}
				x, ok := r.find(o, Broadcast, n, hz)
				if !ok {
					continue
				}
				w("| %s | %s | %s | %s | %s | %s | %s | %s |\n", RateName(hz), thousands(float64(n)), o,
					ratio(p.PerSecond, x.PerSecond), ratio(p.P99ms, x.P99ms), ratio(p.IdleKiBPerConn, x.IdleKiBPerConn),
					ratio(p.LoadKiBPerConn, x.LoadKiBPerConn), ratio(p.CPUPerMillion, x.CPUPerMillion))
			}
		}
	}
	w("\n")
}

// targetsSection renders the targets per row and lists the missed ones.
func targetsSection(w writef, r Run) {
	w("## Targets\n\n")
	w("The targets, per row: throughput and p99 latency at least as good as the best peer (gorilla, melody, centrifuge); ")
	w("RSS per connection (idle and under load) below every peer's; CPU per delivery within 1.5× of the raw-TCP floor. ")
	w("At 1 Hz every server is asked for the same N msg/s, so throughput counts as met when pulse delivered every message (no drop, no lost connection): msg/s itself moves by ±10%% there with where the ticks fall in the window (10 or 11 ticks, one of them possibly cut in two).\n\n")
	w("| rate | N | throughput | p99 latency | RSS/conn | CPU vs floor |\n")
	w("|---|---:|---|---|---|---|\n")
	var missed []string
	for _, hz := range r.rates() {
		for _, n := range r.ns(Broadcast) {
			v := r.verdict(n, hz)
			if v == nil {
				continue
			}
			w("| %s | %s | %s | %s | %s | %s |\n", RateName(hz), thousands(float64(n)), v[0].text, v[1].text, v[2].text, v[3].text)
			for i, name := range []string{"throughput", "p99 latency", "RSS per connection", "CPU vs floor"} {
				if !v[i].met {
					m := fmt.Sprintf("%s at N=%s, %s", name, thousands(float64(n)), RateName(hz))
					if v[i].near {
						m += " (within 5%)"
					}
					missed = append(missed, m)
				}
			}
		}
	}
	w("\n")
	if len(missed) == 0 {
		w("**Every target is met on every row.**\n\n")
	} else {
		w("**Not met (%d):** %s. Why, from the profile and the figures: see *Analysis* below.\n\n", len(missed), strings.Join(missed, "; "))
	}
}

// memorySection renders where the idle memory per connection goes, when
// the run measured it.
func memorySection(w writef, r Run) {
	if rows := r.select_(Broadcast, r.rates()[0]); len(rows) > 0 && rows[0].GoroutinesPerConn > 0 {
		w("## Where the memory per connection goes\n\n")
		w("At idle (connected, nothing broadcast yet), from the server's Go runtime (`runtime.ReadMemStats`), per connection; from the %s cells. ", RateName(r.rates()[0]))
		w("RSS also counts what the runtime keeps but does not use and the kernel's own pages, so it is more than stacks + heap.\n\n")
		w("| N | server | RSS/conn KiB | goroutines/conn | stacks KiB/conn | heap KiB/conn |\n")
		w("|---:|---|---:|---:|---:|---:|\n")
		for _, x := range rows {
			if x.Err != "" {
				continue
			}
			w("| %s | %s | %s | %.1f | %s | %s |\n", thousands(float64(x.N)), name(x), f1(x.IdleKiBPerConn), x.GoroutinesPerConn, f1(x.StackKiBPerConn), f1(x.HeapKiBPerConn))
		}
		w("\n")
	}
}

// dashboardSection renders the dashboard workload, when the run has it.
func dashboardSection(w writef, r Run) {
	if rows := r.dashboardRows(); len(rows) > 0 {
		w("## pulse in its natural mode: a dashboard\n\n")
		w("200 series (request counters with rates, latency gauges, queue depths, cache ratios; labelled like a real service) plus `bench_sent_us`, at 1 Hz, history on (300 points). ")
		w("*20%%*: 40 series change per tick, the usual dashboard; *100%%*: every series changes, so each delta carries the whole state, which is what a server that re-sends everything every tick would send. ")
		w("**full state** is the size of the `snapshot` a client gets on connect.\n\n")
		w("| N | changing | B/msg | full state B | bytes saved by deltas | msg/s | p50 ms | p99 ms | CPU s/1M | RSS/conn idle KiB | RSS/conn load KiB | drops | lost | other |\n")
		w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range rows {
			if x.Err != "" {
				w("| %s | %s | error: %s |||||||||||\n", thousands(float64(x.N)), strings.TrimPrefix(x.Workload, "dashboard-"), strings.ReplaceAll(firstLine(x.Err), "|", "/"))
				continue
			}
			saved := "–"
			if x.FullState > 0 {
				saved = fmt.Sprintf("%.0f%%", 100*(1-x.BytesPerMsg/float64(x.FullState)))
			}
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %s |\n", thousands(float64(x.N)), strings.TrimPrefix(x.Workload, "dashboard-"),
				thousands(x.BytesPerMsg), thousands(float64(x.FullState)), saved, thousands(x.PerSecond), ms(x.P50ms), ms(x.P99ms),
				f2(x.CPUPerMillion), f1(x.IdleKiBPerConn), f1(x.LoadKiBPerConn), x.Drops, x.Closed, other(x, r.RT != 0))
		}
		w("\n")
		for _, n := range r.ns(Dashboard20) {
			a, ok1 := r.find("pulse", Dashboard20, n, 1)
			c, ok2 := r.find("pulse", Dashboard100, n, 1)
			if ok1 && ok2 && a.Err == "" && c.Err == "" && c.BytesPerMsg > 0 && c.CPUPerMillion > 0 {
				w("- N=%s: with 20%% of the series changing, a delta is %.0f%% of the bytes and costs %.0f%% of the server CPU per delivery of a full-state message.\n",
					thousands(float64(n)), 100*a.BytesPerMsg/c.BytesPerMsg, 100*a.CPUPerMillion/c.CPUPerMillion)
			}
		}
		w("\n")
	}
}

const disturbed = "⚠"

// name is the contender's name as a table shows it: pulse in bold, with
// its Interval at saturation.
func name(x harness.Result) string {
	n := bold(x.Contender, x.Contender == "pulse")
	if x.Note != "" {
		n += " (" + x.Note + ")"
	}
	return n
}

func other(x harness.Result, rt bool) string {
	o := max(x.OtherCPU0, x.OtherCPU1)
	s := fmt.Sprintf("%.0f%%", 100*o)
	if o > 0.10 && !rt {
		s += " " + disturbed
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// trimProfile drops pprof's header lines about the binary and build.
func trimProfile(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") {
			continue
		}
		out = append(out, l)
	}
	return strings.TrimLeft(strings.Join(out, "\n"), "\n")
}

func (r *Run) find(contender, workload string, n int, hz float64) (harness.Result, bool) {
	for _, x := range r.Results {
		if x.Contender == contender && x.Workload == workload && x.N == n && x.Hz == hz {
			return x, true
		}
	}
	return harness.Result{}, false
}

func (r *Run) dashboardRows() []harness.Result {
	var rows []harness.Result
	for _, x := range r.Results {
		if x.Workload == Dashboard20 || x.Workload == Dashboard100 {
			rows = append(rows, x)
		}
	}
	slices.SortStableFunc(rows, func(a, b harness.Result) int {
		if a.N != b.N {
			return a.N - b.N
		}
		return strings.Compare(a.Workload, b.Workload)
	})
	return rows
}

type check struct {
	met  bool
	near bool // not met, but within 5%: run-to-run noise
	text string
}

func mark(met bool, s string) check {
	if met {
		return check{met: true, text: "met: " + s}
	}
	return check{text: "**not met**: " + s}
}

// markNear is mark for a figure where lower is better: pulse's value p
// against the best other, b.
func markNear(p, b float64, s string) check {
	switch {
	case p <= b:
		return mark(true, s)
	case p <= 1.05*b:
		return check{near: true, text: "**not met**, within 5% (noise): " + s}
	}
	return mark(false, s)
}

// verdict checks the four targets on one row.
func (r *Run) verdict(n int, hz float64) []check {
	p, ok := r.find("pulse", Broadcast, n, hz)
	if !ok || p.Err != "" {
		return nil
	}
	var peers []harness.Result
	for _, name := range []string{"gorilla", "melody", "centrifuge"} {
		if x, ok := r.find(name, Broadcast, n, hz); ok && x.Err == "" && x.Delivered > 0 {
			peers = append(peers, x)
		}
	}
	if len(peers) == 0 {
		return nil
	}
	bestT, bestL := peers[0], peers[0]
	minIdle, minLoad := peers[0], peers[0]
	for _, x := range peers[1:] {
		if x.PerSecond > bestT.PerSecond {
			bestT = x
		}
		if x.P99ms < bestL.P99ms {
			bestL = x
		}
		if x.IdleKiBPerConn < minIdle.IdleKiBPerConn {
			minIdle = x
		}
		if x.LoadKiBPerConn < minLoad.LoadKiBPerConn {
			minLoad = x
		}
	}
	var out []check
	if hz > 0 {
		met := p.Drops == 0 && p.Closed == 0 && p.Delivered > 0
		out = append(out, mark(met, fmt.Sprintf("every message delivered (%s msg/s, %d drops, %d lost)", thousands(p.PerSecond), p.Drops, p.Closed)))
	} else {
		out = append(out, mark(p.PerSecond >= bestT.PerSecond, fmt.Sprintf("%s vs %s msg/s (%s), %s; pulse dropped %s ticks/s", thousands(p.PerSecond), thousands(bestT.PerSecond), bestT.Contender, ratio(p.PerSecond, bestT.PerSecond), thousands(float64(p.Drops)/max(p.Seconds, 1e-9)))))
	}
	out = append(out, markNear(p.P99ms, bestL.P99ms, fmt.Sprintf("%s vs %s ms (%s)", ms(p.P99ms), ms(bestL.P99ms), bestL.Contender)))
	out = append(out, mark(p.IdleKiBPerConn < minIdle.IdleKiBPerConn && p.LoadKiBPerConn < minLoad.LoadKiBPerConn,
		fmt.Sprintf("idle %s vs %s KiB (%s), load %s vs %s KiB (%s)", f1(p.IdleKiBPerConn), f1(minIdle.IdleKiBPerConn), minIdle.Contender,
			f1(p.LoadKiBPerConn), f1(minLoad.LoadKiBPerConn), minLoad.Contender)))
	if fl, ok := r.find(Floor, Broadcast, n, hz); ok && fl.Err == "" && fl.CPUPerMillion > 0 {
		out = append(out, mark(p.CPUPerMillion <= 1.5*fl.CPUPerMillion, fmt.Sprintf("%s vs %s CPU s/1M, %s", f2(p.CPUPerMillion), f2(fl.CPUPerMillion), ratio(p.CPUPerMillion, fl.CPUPerMillion))))
	} else {
		out = append(out, check{met: true, text: "no floor measured"})
	}
	return out
}
