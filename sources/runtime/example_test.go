package runtimesource_test

import (
	"fmt"
	"log"
	"net/http"
	"regexp"
	"runtime/metrics"
	"time"

	"github.com/go-pulse/pulse"
	runtimesource "github.com/go-pulse/pulse/sources/runtime"
)

// Register the Go runtime's metrics with a Hub and serve them.
func Example() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	src, err := runtimesource.New()
	if err != nil {
		log.Fatal(err)
	}
	if err := hub.Register(src, pulse.SourceOptions{Name: "runtime"}); err != nil {
		log.Fatal(err)
	}

	http.Handle("/ws/metrics", hub) // then subscribe with ?match=go_*
	// Serve it with an http.Server that has timeouts (see the pulse
	// package's Example).
}

// The pulse names of a few runtime/metrics metrics.
func ExampleName() {
	for _, d := range metrics.All() {
		switch d.Name {
		case "/gc/heap/live:bytes", "/gc/cycles/total:gc-cycles", "/sched/goroutines:goroutines",
			"/sched/latencies:seconds", "/cpu/classes/user:cpu-seconds":
			fmt.Printf("%-30s %s\n", d.Name, runtimesource.Name(d))
		}
	}
	// Output:
	// /cpu/classes/user:cpu-seconds  go_cpu_classes_user_cpu_seconds_total
	// /gc/cycles/total:gc-cycles     go_gc_cycles_total_gc_cycles_total
	// /gc/heap/live:bytes            go_gc_heap_live_bytes
	// /sched/goroutines:goroutines   go_sched_goroutines_goroutines
	// /sched/latencies:seconds       go_sched_latencies_seconds
}

// Report only the scheduler and the memory classes, every 5 seconds, with
// GC pause quantiles over each 5-second window.
func ExampleNew() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	memory := regexp.MustCompile(`^/memory/classes/.*:bytes$`)
	src, err := runtimesource.New(
		runtimesource.WithPrefixes("/sched/", "/gc/pauses:seconds"),
		runtimesource.WithFilter(func(d metrics.Description) bool { return memory.MatchString(d.Name) }),
		runtimesource.WithWindowedQuantiles(),
	)
	if err != nil {
		log.Fatal(err)
	}
	if err := hub.Register(src, pulse.SourceOptions{Name: "runtime", Interval: 5 * time.Second}); err != nil {
		log.Fatal(err)
	}
}
