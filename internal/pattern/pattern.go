// Package pattern is the one grammar of name patterns in pulse, used by
// the Hub (subscriptions, Access.Patterns, DashboardMatch), its clients
// (subscriber, the pulse command), the cluster's merge rules and the
// adapters' name selections (sources/internal/names, sources/expvar): a
// pattern is 1 to MaxLen bytes of metric-name characters ([a-zA-Z0-9_:])
// and the wildcards '*' (any run of characters, the empty one included)
// and '?' (exactly one character). It matches a whole name. There are no
// character classes and no escapes, so no pattern can be malformed in a
// way Validate does not see, and none can cost more than
// O(len(pattern)·len(name)) to match. Patterns over the names of another
// system (OpenTelemetry instrument names, with '.', '-' and '/') have the
// same wildcards over a wider alphabet: see ValidateIn.
package pattern

import (
	"fmt"
	"strings"
)

// MaxLen is the longest pattern, in bytes.
const MaxLen = 200

// Validate reports why p is not a valid pattern, or nil.
func Validate(p string) error { return ValidateIn(p, "") }

// ValidateIn is Validate for patterns over names whose alphabet is the
// metric-name characters and the bytes of extra, e.g. "./-" for
// OpenTelemetry instrument names. The wildcards are the same.
func ValidateIn(p, extra string) error {
	if p == "" {
		return fmt.Errorf("empty pattern")
	}
	if len(p) > MaxLen {
		return fmt.Errorf("pattern longer than %d bytes", MaxLen)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !nameByte(c) && c != '*' && c != '?' && strings.IndexByte(extra, c) < 0 {
			if extra != "" {
				return fmt.Errorf("%q: character %q not allowed (metric-name characters, %q, '*' and '?')", p, c, extra)
			}
			return fmt.Errorf("%q: character %q not allowed (metric-name characters, '*' and '?')", p, c)
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':'
}

// Match reports whether name matches the pattern p. It runs in
// O(len(p)·len(name)) at worst (the classic backtrack-to-the-last-star
// algorithm), without recursion or allocation, so a crafted pattern cannot
// blow up. It is safe for concurrent use.
func Match(p, name string) bool {
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

// Any reports whether name matches one of ps.
func Any(ps []string, name string) bool {
	for _, p := range ps {
		if Match(p, name) {
			return true
		}
	}
	return false
}
