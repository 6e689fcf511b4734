package report

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
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
	md := Markdown(fake(), "Hand-written analysis.", "docs/bench.svg")
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
	if n := strings.Count(s, "<polyline"); n < 10 {
		t.Errorf("%d lines, want one per contender and panel", n)
	}
}
