// Command storm measures reconnect storms against pulse: N clients
// connected at 1 Hz, then every one of them reconnects within a second,
// because the load generator drops every connection (a proxy restarting)
// or because the server process restarts (http.Server.Shutdown and
// Hub.Shutdown, then a new process on the same address). It reports the
// time until every client is live again (a snapshot and a delta on a new
// connection), the server's peak RSS and CPU, and what the clients saw;
// it writes results/storm.json, docs/storm.svg, and the storm section of
// ../RELIABILITY.md (between its storm markers). Run it inside bench/:
//
//	go run ./cmd/storm                 # N = 10,000, all four variants (about 3 minutes)
//	go run ./cmd/storm -n 2000 -variants drop
//
// See bench/README.md, "Reconnect storms".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/go-pulse/pulse/bench/internal/harness"
	"github.com/go-pulse/pulse/bench/internal/report"
)

func main() {
	n := flag.Int("n", 10000, "clients")
	variants := flag.String("variants", "drop,restart,drop-resume,restart-resume", "storms to run: drop (the load generator drops every connection), restart (the server process restarts); -resume: the same with wire v2 clients that resume; drop-v2: the drop with v2 clients that do not")
	maxClients := flag.Int("max-clients", 0, "the Hub's MaxClients (0: pulse's default, 10,000; -1: no limit)")
	spread := flag.Duration("spread", time.Second, "each client's first redial is at a random time within this")
	warmup := flag.Duration("warmup", 3*time.Second, "broadcasting before the steady window")
	steady := flag.Duration("steady", 5*time.Second, "steady-state window before the storm")
	deadline := flag.Duration("deadline", time.Minute, "longest wait for every client to be live again")
	after := flag.Duration("after", 3*time.Second, "readings kept after every client is live again")
	pin := flag.Bool("pin", true, "pin the server to CPU 0 and the load generator to CPU 1 with taskset")
	r := &harness.Runner{Log: os.Stderr}
	flag.IntVar(&r.RT, "rt", 0, "run the server and load generator under SCHED_RR at this priority (chrt -r; root), where other work shares the machine")
	flag.Float64Var(&r.QuietBelow, "quiet", 0.2, "before each storm, wait until other processes use less than this fraction of each CPU")
	flag.DurationVar(&r.QuietWait, "quiet-wait", 2*time.Minute, "longest wait for a quiet machine (0: do not wait)")
	flag.StringVar(&r.ServerCPUs, "server-cpus", "0", "taskset CPU list of the server (with -pin)")
	flag.StringVar(&r.LoadgenCPUs, "lg-cpus", "1", "taskset CPU list of the load generator (with -pin)")
	flag.StringVar(&r.Sources, "src", "", "the load generator's source addresses (default 127.0.0.2-127.0.0.9)")
	jsonOut := flag.String("json", "results/storm.json", "raw results to write")
	svg := flag.String("svg", "../docs/storm.svg", "chart to write")
	md := flag.String("reliability", "../RELIABILITY.md", "file whose storm section to rewrite (\"\": print it instead)")
	flag.Parse()

	defer harness.KillAll()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		harness.KillAll()
		os.Exit(130)
	}()
	if _, err := exec.LookPath("taskset"); *pin && (err != nil || runtime.NumCPU() < 2) {
		log.Printf("taskset or a second CPU missing: not pinning")
		*pin = false
	}
	r.Pin = *pin
	tmp, err := os.MkdirTemp("", "pulse-storm-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	wd, _ := os.Getwd()
	r.BinDir, r.TmpDir = filepath.Join(tmp, "bin"), tmp
	log.Printf("building")
	if err := harness.Build(wd, r.BinDir); err != nil {
		log.Fatal(err)
	}
	run := report.StormRun{Machine: report.ThisMachine(), Started: time.Now().UTC(), Args: os.Args[1:], Pinned: *pin, RT: r.RT}
	for _, v := range strings.Split(*variants, ",") {
		c := harness.StormCell{Variant: strings.TrimSpace(v), N: *n, MaxClients: *maxClients, Spread: *spread,
			Warmup: *warmup, Steady: *steady, Deadline: *deadline, After: *after}
		log.Printf("storm %s, N=%d", c.Variant, c.N)
		res, err := r.Storm(c)
		if err != nil {
			log.Printf("  error: %v", err)
		}
		run.Results = append(run.Results, res)
	}
	run.Elapsed = time.Since(run.Started).Seconds()
	if err := output(run, *jsonOut, *svg, *md); err != nil {
		log.Fatal(err)
	}
}

func output(run report.StormRun, jsonOut, svg, md string) error {
	if err := os.MkdirAll(filepath.Dir(jsonOut), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(run, "", "  ")
	if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(svg, []byte(report.StormSVG(run)), 0o644); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(md), svg)
	if err != nil || md == "" {
		rel = svg
	}
	section := report.StormMarkdown(run, filepath.ToSlash(rel))
	if md == "" {
		fmt.Print(section)
		return nil
	}
	doc, err := os.ReadFile(md)
	if err != nil {
		return err
	}
	out, err := report.ReplaceSection(string(doc), section)
	if err != nil {
		return fmt.Errorf("%s: %w", md, err)
	}
	log.Printf("wrote %s, %s, %s", jsonOut, svg, md)
	return os.WriteFile(md, []byte(out), 0o644)
}
