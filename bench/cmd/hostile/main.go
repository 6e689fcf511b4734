// Command hostile measures issue 20's isolation targets against the demo
// server (examples/server), run as a child process on a free loopback port
// so that its RSS (/proc/<pid>/status) is its own. Each scenario gets a
// fresh demo process, run until its history is full (History, 300 ticks:
// use a short -interval), then attacked while healthy clients read:
//
//   - distinct: 2,000 never-reading WebSocket connections, each with a
//     textually distinct filter matching every series (match=*,zqN), opened
//     at once; healthy gaps, a new client's connect time, RSS per connection.
//   - ping: 3 never-reading ping flooders (4 KiB SO_RCVBUF, 125-byte pings
//     as fast as they can): RSS growth, the heap bytes the flood made the
//     demo allocate (its own go_gc_heap_allocs_bytes_total), time to close,
//     healthy gaps.
//   - fragments: an endless message of empty continuation frames: time to
//     close.
//   - sse: 400 Server-Sent Events streams after a full history: RSS each.
//   - snapshot: 200 clients with distinct filters sending 4 snapshot
//     requests a second: healthy p99 tick-to-delivery and gaps.
//
// It prints one markdown table. Build the demo first; run from bench/:
//
//	go build -o /tmp/pulse-demo ../examples/server
//	flock /tmp/pulse-heavy.lock go run ./cmd/hostile -demo /tmp/pulse-demo -interval 200ms
//
// See RELIABILITY.md, "Isolation".
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/go-pulse/pulse/bench/internal/sysinfo"
)

func main() {
	bin := flag.String("demo", "/tmp/pulse-demo", "the demo server's binary (go build -o /tmp/pulse-demo ./examples/server)")
	interval := flag.Duration("interval", 200*time.Millisecond, "the demo's tick (-interval); its history is full after 300 ticks")
	fill := flag.Bool("fill", true, "wait for a full history (300 ticks) before each attack")
	run := flag.String("run", "distinct,ping,fragments,sse,snapshot", "scenarios to run")
	n := flag.Int("n", 2000, "distinct: attacking connections")
	flooders := flag.Int("flooders", 3, "ping: flooding clients (0: a control run, the same measures without an attack)")
	flag.BoolVar(&noPing, "noping", false, "ping: the flooders connect and never read but send no pings (a control: what their connects alone cost)")
	window := flag.Duration("window", 8*time.Second, "distinct: how long after opening the attack to measure (below WriteTimeout, 10 s, which closes never-reading clients)")
	flag.Parse()
	if _, err := sysinfo.RaiseNoFile(uint64(*n)*2 + 1000); err != nil {
		log.Fatal(err)
	}
	var all []result
	for _, sc := range strings.Split(*run, ",") {
		d, err := startDemo(*bin, *interval)
		if err != nil {
			log.Fatal(err)
		}
		if *fill {
			log.Printf("%s: filling the history (%v)", sc, 300**interval)
			time.Sleep(300**interval + 2*time.Second) // the demo's history fills at its own pace
		}
		rs, err := runScenario(sc, d, *n, *flooders, *window)
		d.stop()
		if err != nil {
			log.Fatalf("%s: %v", sc, err)
		}
		for _, r := range rs {
			log.Printf("%s: %s: %s (target %s)", r.scenario, r.figure, r.value, r.target)
		}
		all = append(all, rs...)
	}
	load, _ := exec.Command("uptime").Output()
	fmt.Printf("Demo tick %v, full history: %v. Load at the end: %s\n", *interval, *fill, strings.TrimSpace(string(load)))
	fmt.Println("| scenario | figure | measured | target | met |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range all {
		met, target := "yes", r.target
		switch {
		case target == "":
			met, target = "-", "-"
		case !r.met:
			met = "**no**"
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", r.scenario, r.figure, r.value, target, met)
	}
	os.Exit(0)
}

func runScenario(sc string, d *demo, n, flooders int, window time.Duration) ([]result, error) {
	switch sc {
	case "distinct":
		return distinct(d, n, window)
	case "ping":
		return pingFlood(d, flooders, 10*time.Second)
	case "fragments":
		return fragments(d)
	case "sse":
		return sseStreams(d, 400)
	case "snapshot":
		return snapshotRequests(d, 200, 4, 20*time.Second)
	}
	return nil, fmt.Errorf("unknown scenario %q", sc)
}
