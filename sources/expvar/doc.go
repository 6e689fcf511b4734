// Package expvarsource reports the numbers published with the standard
// library's [expvar] package to a [pulse.Hub], so the variables a service
// already exposes on /debug/vars also stream live.
//
// Create it and register it:
//
//	import expvarsource "github.com/go-pulse/pulse/sources/expvar"
//
//	src, err := expvarsource.New()
//	if err != nil { ... }
//	if err := hub.Register(src, pulse.SourceOptions{Name: "expvar"}); err != nil { ... }
//
// # What it reports
//
// At each collection the source walks every published variable
// ([expvar.Do], in name order) and reports the numbers it finds:
//
//   - a number ([expvar.Int], [expvar.Float], or any [expvar.Var], such as an
//     [expvar.Func], whose String method returns a JSON number) becomes one
//     series named after the variable: expvar.NewInt("requests") is reported
//     as expvar_requests;
//   - a map of numbers ([expvar.Map], or a Var whose String method returns a
//     JSON object) becomes one series per entry, with the entry's key in a
//     label: expvar.NewMap("hits").Add("/", 3) is expvar_hits{key="/"};
//   - a map of maps is flattened one level further with a second label:
//     {"GET": {"200": 10}} in the variable "codes" is
//     expvar_codes{key="GET",subkey="200"}.
//
// Everything else (strings, booleans, null, arrays, and maps nested deeper
// than two levels) is skipped. Series are gauges, except for the variables
// declared cumulative with [WithCounters], whose series are counters and so
// get a per-second rate from the Hub.
//
// Series names are the prefix ("expvar_" by default, see [WithPrefix])
// followed by the variable's name with every character outside
// [a-zA-Z0-9_:] replaced by "_", cut to 200 bytes ([Source.Name]). Label
// values are the map keys as they are, made valid UTF-8 and cut to 1,024
// bytes. When two variables, or two keys, end up with the same series, the
// first in name order is reported and the other skipped.
//
// The two variables the expvar package publishes itself are skipped unless
// asked for by name with [WithInclude]: "memstats", because reading it calls
// runtime.ReadMemStats, which stops the world (the runtimesource package
// reports the same figures without stopping it), and "cmdline", which holds
// no number. Importing this package imports expvar, which registers the
// /debug/vars handler on [net/http.DefaultServeMux].
//
// # Concurrency
//
// A Source is immutable once built and its Collect is safe for concurrent
// use. Collect calls the function of every selected [expvar.Func] on the
// collecting goroutine, while expvar's registry is read-locked (exactly as
// the /debug/vars handler does): such a function must not publish a new
// variable.
package expvarsource
