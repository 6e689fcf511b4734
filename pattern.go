package pulse

import (
	"fmt"
	"slices"
	"strings"
)

// maxPatternLen bounds one subscription pattern.
const maxPatternLen = 200

// MatchPattern reports whether name matches pattern in the syntax of
// subscriptions (and of Access.Patterns): '*' matches any run of
// bytes, '?' one byte, anything else itself. It runs in
// O(len(pattern)·len(name)) at worst, without recursion or allocation, and
// is safe for concurrent use. The expvar adapter and cluster/nats use it,
// so that their patterns mean what subscriptions mean; the WithNames
// options of the Prometheus and OpenTelemetry adapters take path.Match
// patterns, which mean the same on metric names and also allow character
// classes.
func MatchPattern(pattern, name string) bool { return matchPattern(pattern, name) }

// ValidatePattern reports whether pattern is a valid subscription pattern:
// 1 to 200 bytes of metric-name characters, '*' and '?'. The error wraps
// ErrInvalidPattern.
func ValidatePattern(pattern string) error { return validPattern(pattern) }

// validPattern checks a subscription pattern: metric-name characters plus
// the wildcards '*' (any run of characters) and '?' (one character).
func validPattern(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty pattern", ErrInvalidPattern)
	}
	if len(p) > maxPatternLen {
		return fmt.Errorf("%w: pattern longer than %d bytes", ErrInvalidPattern, maxPatternLen)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '*' || c == '?') {
			return fmt.Errorf("%w: %q: character %q not allowed (metric-name characters, '*' and '?')", ErrInvalidPattern, p, c)
		}
	}
	return nil
}

// matchPattern reports whether name matches the glob pattern p. It runs in
// O(len(p)*len(name)) at worst (the classic backtrack-to-last-star
// algorithm), with no recursion and no allocation, so crafted patterns
// cannot blow up.
func matchPattern(p, name string) bool {
	pi, ni := 0, 0
	star, mark := -1, 0
	for ni < len(name) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == name[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star = pi
			mark = ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// filter decides which series a connection sees: those whose name matches
// one of the subscribed patterns and, when the connection's access is
// restricted, one of the allowed patterns. filters are immutable.
//
// Matching depends only on a series' name, and a service has far fewer
// names than series, so results are cached per name: a crafted pattern
// costs its worst case once per name, not once per series per tick. A
// filter is used by one goroutine at a time (a group's under Hub.mu).
type filter struct {
	subs  []string // sorted, unique
	allow []string // sorted, unique; empty = no restriction
	all   bool     // matches everything: subs has "*" and allow is empty
	key   string   // canonical form; equal filters have equal keys
	cache map[string]bool
}

// maxFilterCache bounds a filter's cache; past it the cache starts over.
const maxFilterCache = 4096

func newFilter(subs, allow []string) *filter {
	subs = canonPatterns(subs)
	allow = canonPatterns(allow)
	if slices.Contains(allow, "*") {
		allow = nil
	}
	f := &filter{subs: subs, allow: allow}
	f.all = len(allow) == 0 && slices.Contains(subs, "*")
	f.key = strings.Join(subs, ",") + "|" + strings.Join(allow, ",")
	return f
}

func canonPatterns(ps []string) []string {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out)
}

func (f *filter) match(name string) bool {
	if f.all {
		return true
	}
	if v, ok := f.cache[name]; ok {
		return v
	}
	v := anyMatch(f.subs, name) && (len(f.allow) == 0 || anyMatch(f.allow, name))
	if f.cache == nil || len(f.cache) >= maxFilterCache {
		f.cache = make(map[string]bool)
	}
	f.cache[name] = v
	return v
}

func anyMatch(ps []string, name string) bool {
	for _, p := range ps {
		if matchPattern(p, name) {
			return true
		}
	}
	return false
}
