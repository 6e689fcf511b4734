// Command compare regenerates the side-by-side comparison: it builds the
// servers and the load generator, runs every cell (contender × connections
// × rate), profiles pulse at saturation, and writes BENCHMARKS.md, the
// charts under docs/ and the raw results as JSON. Run it inside bench/:
//
//	go run ./cmd/compare          # full run: N = 1,000, 5,000, 10,000 (about 15 minutes)
//	go run ./cmd/compare -quick   # N = 1,000, 3-second windows (about 2 minutes)
//	go run ./cmd/compare -scale   # 1 Hz at N = 10,000, 50,000, 100,000 (see bench/README.md, "Scale")
//
// A full run writes results/latest.json and a -scale run results/scale.json;
// the report is made from both, so each part is refreshed by its own
// command. See bench/README.md for the method.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
	"github.com/go-pulse/pulse/bench/internal/report"
)

// files are where compare reads and writes.
type files struct {
	out, svg, scaleSVG, json, scaleJSON, fromJSON string
}

func main() {
	o, r, f := parseFlags()
	// Whatever happens, no child outlives the harness.
	defer harness.KillAll()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	restore := func() {}
	if r.RT != 0 && f.fromJSON == "" {
		var err error
		if restore, err = rrTimeslice(1); err != nil {
			fatal(fmt.Errorf("-rt: %w", err))
		}
		defer restore()
	}
	go func() {
		<-sig
		harness.KillAll()
		restore()
		os.Exit(130)
	}()

	var doc report.Doc
	switch {
	case f.fromJSON != "":
		doc.Main = load(f.fromJSON, true)
		doc.Scale = loadScale(f.scaleJSON)
	case o.scale:
		run := measureOrDie(o, r)
		save(f.scaleJSON, run)
		doc.Scale = &run
		doc.Main = load(f.json, false)
	default:
		doc.Main = measureOrDie(o, r)
		save(f.json, doc.Main)
		doc.Scale = loadScale(f.scaleJSON)
	}
	writeReport(doc, f)
}

func parseFlags() (*options, *harness.Runner, files) {
	o := &options{}
	var f files
	r := &harness.Runner{Log: os.Stderr}
	flag.BoolVar(&o.quick, "quick", false, "N = 1,000 only, short windows")
	flag.BoolVar(&o.scale, "scale", false, "the scale run: 1 Hz only, N = 10,000, 50,000, 100,000 (-n to change), every contender; writes -scale-json")
	flag.StringVar(&o.ns, "n", "", "connection counts, comma-separated (default 1000,5000,10000; -quick 1000; -scale 10000,50000,100000)")
	flag.StringVar(&o.contenders, "contenders", "raw-tcp,gorilla,melody,centrifuge,pulse", "contenders to run")
	flag.StringVar(&o.rates, "rates", "", "broadcast rates in Hz, comma-separated; 0 = saturation (default 1,0; -scale 1)")
	flag.DurationVar(&o.duration, "duration", 0, "measurement window per cell (default 10s; -quick 3s)")
	flag.DurationVar(&o.duration1, "duration-1hz", 0, "measurement window of the 1 Hz broadcast cells (default 30s, so that p99 spans 30 ticks; -scale 20s; -quick: -duration)")
	flag.IntVar(&o.window, "window", 2, "saturation: messages in flight per client for the peers")
	flag.BoolVar(&o.dashboard, "dashboard", true, "also run pulse's dashboard workload (200 series, 20% and 100% changing, 1 Hz; not with -scale)")
	flag.BoolVar(&o.profile, "profile", true, "profile pulse at saturation (an extra cell; not with -scale)")
	flag.IntVar(&o.profileN, "profile-n", 0, "connections for the profiling cell (default the largest N)")
	flag.IntVar(&o.memProfileN, "memprofile-n", 0, "at this N, every contender writes heap and goroutine profiles at idle to results/ (-scale default 50000)")
	flag.BoolVar(&o.pin, "pin", true, "pin the server to CPU 0 and the load generator to CPU 1 with taskset")
	flag.IntVar(&r.Nice, "nice", 0, "run the server and load generator with this nice value (e.g. -10, as root), so other work on the machine disturbs them less")
	flag.IntVar(&r.RT, "rt", 0, "run the server and load generator under SCHED_RR at this priority (chrt -r; as root), on a machine shared with other work; 0 = normal scheduling. Sets kernel.sched_rr_timeslice_ms to 1 for the run")
	flag.Float64Var(&r.QuietBelow, "quiet", 0.2, "before each cell, wait until other processes use less than this fraction of each CPU")
	flag.DurationVar(&r.QuietWait, "quiet-wait", 2*time.Minute, "longest wait for a quiet machine before a cell (0: do not wait)")
	maxRSS := flag.Float64("max-rss", 8, "GiB: a server whose RSS grows past this is killed and its cell reported failed (0: no bound)")
	flag.StringVar(&r.ServerCPUs, "server-cpus", "0", "taskset CPU list of the server (with -pin)")
	flag.StringVar(&r.LoadgenCPUs, "lg-cpus", "1", "taskset CPU list of the load generator (with -pin)")
	flag.StringVar(&r.Sources, "src", "", "the load generator's source addresses (default 127.0.0.2-127.0.0.9)")
	flag.StringVar(&f.out, "out", "../BENCHMARKS.md", "report to write")
	flag.StringVar(&f.svg, "svg", "../docs/bench.svg", "chart of the full run to write")
	flag.StringVar(&f.scaleSVG, "scale-svg", "../docs/bench-scale.svg", "chart of the scale run to write")
	flag.StringVar(&f.json, "json", "results/latest.json", "raw results of the full run (written by a full run, read by -scale)")
	flag.StringVar(&f.scaleJSON, "scale-json", "results/scale.json", "raw results of the scale run (written by -scale, read otherwise)")
	flag.Float64Var(&pulseOffered, "pulse-offered", pulseOffered, "saturation: messages a second pulse is offered (its Interval is N / this)")
	flag.StringVar(&f.fromJSON, "from-json", "", "do not measure: rewrite the report from these saved results (and -scale-json)")
	flag.Parse()
	r.MaxRSSKiB = *maxRSS * (1 << 20)
	return o, r, f
}

func measureOrDie(o *options, r *harness.Runner) report.Run {
	run, err := measure(o, r)
	if err != nil {
		fatal(err)
	}
	return run
}

// load reads a saved run; a missing file is an error only when must.
func load(path string, must bool) report.Run {
	var run report.Run
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !must {
		return run
	}
	if err != nil {
		fatal(err)
	}
	if err := json.Unmarshal(b, &run); err != nil {
		fatal(fmt.Errorf("%s: %w", path, err))
	}
	return run
}

func loadScale(path string) *report.Run {
	run := load(path, false)
	if len(run.Results) == 0 {
		return nil
	}
	return &run
}

func save(path string, run report.Run) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fatal(err)
	}
	b, _ := json.MarshalIndent(run, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		fatal(err)
	}
	log.Printf("wrote %s", path)
}

func writeReport(doc report.Doc, f files) {
	analysis, _ := os.ReadFile("analysis.md")
	scaleNotes, _ := os.ReadFile("scale.md")
	doc.Analysis, doc.ScaleNotes = string(analysis), string(scaleNotes)
	rel := func(p string) string {
		r, err := filepath.Rel(filepath.Dir(f.out), p)
		if err != nil {
			return p
		}
		return filepath.ToSlash(r)
	}
	doc.Chart, doc.ScaleChart = rel(f.svg), rel(f.scaleSVG)
	write(f.out, report.Markdown(doc))
	if len(doc.Main.Results) > 0 {
		write(f.svg, report.SVG(doc.Main))
	}
	if doc.Scale != nil {
		write(f.scaleSVG, report.ScaleSVG(*doc.Scale))
	}
}

func write(path, s string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		fatal(err)
	}
	log.Printf("wrote %s", path)
}

var atExit []func()

func fatal(err error) {
	harness.KillAll()
	for _, f := range atExit {
		f()
	}
	log.Fatal(err)
}
