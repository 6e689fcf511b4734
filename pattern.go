package pulse

import (
	"fmt"

	"github.com/go-pulse/pulse/internal/pattern"
)

// maxPatternLen bounds one subscription pattern.
const maxPatternLen = pattern.MaxLen

// validPattern checks p in the grammar of subscriptions, Access.Patterns
// and DashboardMatch, which is pulse's one pattern grammar
// (internal/pattern, shared with the clients, the cluster's rules and the
// adapters' name selections). The error wraps ErrInvalidPattern.
func validPattern(p string) error {
	if err := pattern.Validate(p); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPattern, err)
	}
	return nil
}
