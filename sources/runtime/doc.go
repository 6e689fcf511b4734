// Package runtimesource reports the Go runtime's own metrics (goroutines,
// heap, garbage collector, scheduler, CPU) to a [pulse.Hub], read through
// [runtime/metrics] without stopping the world.
//
// Create it and register it:
//
//	import runtimesource "github.com/go-pulse/pulse/sources/runtime"
//
//	src, err := runtimesource.New()
//	if err != nil { ... }
//	if err := hub.Register(src, pulse.SourceOptions{Name: "runtime"}); err != nil { ... }
//
// # What it reports
//
// The metrics are discovered with [metrics.All], so a newer Go release adds
// its new metrics without a change here. By default the source reports
// every metric whose runtime/metrics name starts with one of
// [DefaultPrefixes]: everything under /sched/ (goroutines, GOMAXPROCS,
// threads, scheduling latency, stop-the-world pauses), /gc/ (cycles, live
// heap, heap goal, allocations, GC pauses), /memory/classes/heap/, the CPU
// classes total, gc and user, and /sync/mutex/wait/total. [WithPrefixes] and
// [WithFilter] choose another set, [WithAll] takes everything the runtime
// offers.
//
// Names follow the convention of the Prometheus Go client's runtime/metrics
// collector (see [Name]): a "go_" prefix, the path with slashes and dashes
// turned into underscores, the unit as a suffix, and "_total" for cumulative
// values. For example:
//
//	/sched/goroutines:goroutines  go_sched_goroutines_goroutines            gauge
//	/gc/heap/live:bytes           go_gc_heap_live_bytes                     gauge
//	/gc/cycles/total:gc-cycles    go_gc_cycles_total_gc_cycles_total        counter
//	/cpu/classes/user:cpu-seconds go_cpu_classes_user_cpu_seconds_total     counter
//	/sched/latencies:seconds      go_sched_latencies_seconds{quantile="…"}  gauges
//	                              go_sched_latencies_seconds_count          counter
//
// Cumulative metrics ([metrics.Description.Cumulative]) are reported as
// [pulse.KindCounter], so the Hub computes their per-second rate: the rate
// of go_cpu_classes_total_cpu_seconds_total is the number of CPU cores the
// process keeps busy, that of go_gc_cycles_total_gc_cycles_total the GC
// cycles per second. The others are gauges. Every series carries the
// runtime's unit (bytes, seconds, cpu-seconds, objects, goroutines, ...) and
// its description as help.
//
// A histogram (GC pauses, scheduler latencies, allocation sizes) becomes
// four gauges with a quantile label, "0.5", "0.9", "0.99" and "max",
// estimated from the histogram's buckets, and a counter named after it with
// the suffix "_count" that counts its observations. By default a quantile
// covers every observation since the process started, as the runtime
// records them; with [WithWindowedQuantiles] it covers only the
// observations since the previous collection.
//
// # Cost
//
// Collect calls [metrics.Read] once, on a slice of samples allocated by New
// and reused by every collection (histogram buffers included), so a
// collection allocates only the returned slice. Nothing calls
// runtime.ReadMemStats: no collection stops the world.
package runtimesource
