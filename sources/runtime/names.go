package runtimesource

import (
	"runtime/metrics"
	"strings"
	"unicode/utf8"
)

// Name returns the pulse series name of the runtime metric d, following the
// convention of the Prometheus Go client's runtime/metrics collector:
// "go_", then d's path without its leading slash, then "_" and its unit,
// with "/" and "-" turned into "_" (and "/" in a unit into "_per_", "*" into
// "_"), then "_total" when d is cumulative and not a histogram. Any other
// character not allowed in a name becomes "_". For example
// "/gc/heap/live:bytes" gives "go_gc_heap_live_bytes" and
// "/gc/cycles/total:gc-cycles" gives "go_gc_cycles_total_gc_cycles_total".
//
// A histogram's quantile series carry this name (with a quantile label) and
// its count series this name followed by "_count". Name depends only on
// d.Name, d.Kind and d.Cumulative, so it is stable across collections and
// processes. It is safe for concurrent use.
func Name(d metrics.Description) string {
	key, unit, _ := strings.Cut(d.Name, ":")
	key = strings.TrimPrefix(key, "/")
	var b strings.Builder
	b.Grow(len("go_") + len(key) + len(unit) + len("__per__total"))
	b.WriteString("go_")
	for i := 0; i < len(key); i++ {
		b.WriteByte(nameByte(key[i]))
	}
	if unit != "" {
		b.WriteByte('_')
		for i := 0; i < len(unit); i++ {
			if unit[i] == '/' {
				b.WriteString("_per_")
				continue
			}
			b.WriteByte(nameByte(unit[i]))
		}
	}
	if d.Cumulative && d.Kind != metrics.KindFloat64Histogram {
		b.WriteString("_total")
	}
	return b.String()
}

// nameByte maps a byte of a runtime/metrics name to a byte allowed in a
// pulse name: itself when allowed ([a-zA-Z0-9_:]; ":" never occurs past the
// unit separator), "_" otherwise ("/", "-", "*", ".", and every byte of a
// non-ASCII character).
func nameByte(c byte) byte {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' {
		return c
	}
	return '_'
}

// unitOf returns the unit part of a runtime/metrics name ("bytes",
// "seconds", "cpu-seconds", "gc-cycles", "objects", ...), as the runtime
// spells it, cut to pulse's 64-byte limit.
func unitOf(name string) string {
	_, unit, _ := strings.Cut(name, ":")
	if len(unit) > 64 {
		unit = unit[:64]
		for !utf8.ValidString(unit) {
			unit = unit[:len(unit)-1]
		}
	}
	return unit
}
