package pulse

import (
	"fmt"

	"github.com/go-pulse/pulse/internal/pattern"
)

// maxPatternLen bounds one subscription pattern.
const maxPatternLen = pattern.MaxLen

// MatchPattern reports whether name matches pattern in the syntax of
// subscriptions (and of Access.Patterns): '*' matches any run of
// bytes, '?' one byte, anything else itself. It runs in
// O(len(pattern)·len(name)) at worst, without recursion or allocation, and
// is safe for concurrent use. It is the one pattern grammar of pulse: the
// adapters' name selections (WithNames), the cluster's merge rules and the
// clients use it too, so a pattern means the same everywhere.
func MatchPattern(p, name string) bool { return pattern.Match(p, name) }

// ValidatePattern reports whether pattern is a valid subscription pattern:
// 1 to 200 bytes of metric-name characters, '*' and '?'. The error wraps
// ErrInvalidPattern.
func ValidatePattern(p string) error { return validPattern(p) }

func validPattern(p string) error {
	if err := pattern.Validate(p); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPattern, err)
	}
	return nil
}
