package report

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
	"github.com/go-pulse/pulse/bench/internal/sysinfo"
)

func fake() Run {
	r := Run{Machine: Machine{CPUs: 2, CPUModel: "Test CPU"}, Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: 10, Window: 2, Pinned: true}
	for _, n := range []int{1000, 10000} {
		for _, hz := range []float64{1, 0} {
			for i, c := range order {
				f := float64(i + 1)
				x := harness.Result{Contender: c, Workload: Broadcast, N: n, Hz: hz, Connected: int64(n),
					PerSecond: 1000 * f, Delivered: uint64(10000 * f), P50ms: f, P99ms: 2 * f, Maxms: 3 * f, CPUPerMillion: 5 + f,
					IdleKiBPerConn: 10 + f, LoadKiBPerConn: 12 + f, BytesPerMsg: 1028, GoroutinesPerConn: 2, StackKiBPerConn: 8, HeapKiBPerConn: 9}
				r.Results = append(r.Results, x)
			}
		}
		r.Results = append(r.Results,
			harness.Result{Contender: "pulse", Workload: Dashboard20, N: n, Hz: 1, BytesPerMsg: 4000, FullState: 40000, CPUPerMillion: 10, PerSecond: float64(n)},
			harness.Result{Contender: "pulse", Workload: Dashboard100, N: n, Hz: 1, BytesPerMsg: 15000, FullState: 40000, CPUPerMillion: 20, PerSecond: float64(n)})
	}
	r.ProfileN, r.ProfileTop = 10000, "File: x\nflat flat%\n"
	return r
}

func TestMarkdown(t *testing.T) {
	md := Markdown(Doc{Main: fake(), Analysis: "Hand-written analysis.", Chart: "docs/bench.svg"})
	for _, want := range []string{
		"## 1 KiB broadcast, 1 Hz", "## 1 KiB broadcast, saturation", "| 10,000 | **pulse** | 5,000 |",
		"## Targets", "**not met**", "## pulse in its natural mode", "| 1,000 | 20% | 4,000 | 40,000 | 90% |",
		"![Throughput", "docs/bench.svg", "## Profile", "Hand-written analysis.", "Test CPU",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "File: x") {
		t.Error("profile header not trimmed")
	}
}

func TestSVG(t *testing.T) {
	s := SVG(fake())
	wellFormed(t, s)
	if n := strings.Count(s, "<polyline"); n < 10 {
		t.Errorf("%d lines, want one per contender and panel", n)
	}
}

// fakeScale is a scale run: 10,000 measured for everyone, 100,000 failed
// for the open-file limit except pulse, which met its targets, and gorilla.
func fakeScale() Run {
	r := Run{Machine: Machine{CPUs: 2, CPUModel: "Test CPU"}, Scale: true, Duration1Hz: 20, Pinned: true,
		Limits: sysinfo.Limits{NoFileSoft: 20000, NoFileHard: 20000, NrOpen: 1 << 20, PortLow: 32768, PortHigh: 60999, PageSize: 4096}}
	for _, n := range []int{10000, 100000} {
		for i, c := range order {
			f := float64(i + 1)
			x := harness.Result{Contender: c, Workload: Broadcast, N: n, Hz: 1, Connected: int64(n), Delivered: uint64(n) * 20,
				PerSecond: float64(n), P99ms: 100 * f, LoadKiBPerConn: 5 + f, IdleKiBPerConn: 5 + f, ServerCPUs: "0", LoadgenCPUs: "1", Sources: 8}
			if n == 100000 && c != "pulse" && c != "gorilla" {
				x = harness.Result{Contender: c, Workload: Broadcast, N: n, Hz: 1, Err: "needs 100100 open files per process; RLIMIT_NOFILE is 20000"}
			}
			r.Results = append(r.Results, x)
		}
	}
	return r
}

func TestScaleSection(t *testing.T) {
	sc := fakeScale()
	md := Markdown(Doc{Main: fake(), Scale: &sc, ScaleChart: "docs/bench-scale.svg", ScaleNotes: "Scale notes."})
	for _, want := range []string{
		"## Scale: 1 Hz up to 100,000 clients", "| 100,000 | raw-tcp | failed: needs 100100 open files",
		"| 100,000 | **pulse** | ok | 0 / 1 | 100,000 |", "8 source addresses (127.0.0.2–127.0.0.9)",
		"### Targets for pulse", "| 100,000 | met: 500 ms | met: 0 drops, 0 lost | met: idle 10.0, load 10.0 KiB | **missed**: 10.0 vs 7.0 KiB, 500 vs 200 ms |",
		"**The hard open-file limit here (20,000)", "bench-scale.svg", "Scale notes.", "## Reproduce",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	s := ScaleSVG(fakeScale())
	wellFormed(t, s)
	// Two panels, one line per contender with two points (pulse, gorilla);
	// the others have a single point and no line.
	if n := strings.Count(s, "<polyline"); n != 4 {
		t.Errorf("%d lines, want 4", n)
	}
}

func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed XML: %v", err)
			}
			break
		}
	}
}

func TestStormSection(t *testing.T) {
	run := StormRun{Machine: Machine{CPUs: 2, CPUModel: "Test CPU"}, Pinned: true, Args: []string{"-n", "10000"}, Results: []harness.StormResult{
		{Variant: "drop", N: 10000, AllLive: true, LiveSeconds: 6.5, SteadyRSSKiB: 100 << 10, PeakRSSKiB: 150 << 10, PeakRSSRatio: 1.5,
			LoadgenStatus: map[string]any{"attempts": 13000.0, "unavailable": 3000.0, "retry_after_max_s": 5.0},
			Timeline:      []harness.StormSample{{T: 0.2, Live: 0, RSSKiB: 90 << 10}, {T: 7, Live: 10000, RSSKiB: 150 << 10}}},
		{Variant: "restart", N: 10000, Err: "the old server did not exit"},
		{Variant: "drop-resume", N: 10000, AllLive: true, LiveSeconds: 1.5, SteadyRSSKiB: 100 << 10, PeakRSSKiB: 110 << 10, PeakRSSRatio: 1.1,
			LoadgenStatus: map[string]any{"attempts": 10000.0, "resumed": 10000.0}},
	}}
	md := StormMarkdown(run, "docs/storm.svg")
	for _, want := range []string{
		"<!-- storm:begin", "<!-- storm:end -->", "`cd bench && go run ./cmd/storm -n 10000`",
		"| drop | 10,000 | 10,000 (default) | 6.50 s |", "| 13,000 | 0 | 3,000 (5 s) |", "| 10,000 | 10,000 | 0 |", "| drop-resume | met: 1.50 s | met: 1.10× |", "| drop | met: 6.50 s | met: 1.50× |",
		"| restart | 10,000 | 10,000 (default) | failed: the old server did not exit", "docs/storm.svg",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("storm section lacks %q", want)
		}
	}
	doc := "# R\n\nbefore\n<!-- storm:begin -->\nstale figures\n<!-- storm:end -->\nafter\n"
	out, err := ReplaceSection(doc, md)
	if err != nil || !strings.Contains(out, "before\n<!-- storm:begin (written") || !strings.Contains(out, "<!-- storm:end -->\nafter") || strings.Contains(out, "stale figures") {
		t.Errorf("ReplaceSection: %v\n%s", err, out)
	}
	if _, err := ReplaceSection("# no markers", md); err == nil {
		t.Error("a document without markers accepted")
	}
	wellFormed(t, StormSVG(run))
}
