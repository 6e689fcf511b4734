// Package names selects metric names for the adapters' WithNames and
// WithFilter options: by patterns in pulse's one pattern grammar
// (github.com/go-pulse/pulse/internal/pattern: '*' any run of characters,
// '?' one character, nothing else special), and by a function of the
// host's.
package names

import (
	"errors"

	"github.com/go-pulse/pulse/internal/pattern"
)

// Selector keeps the names that match at least one of its patterns (every
// name when it has none) and that its keep function, if set, accepts. The
// zero value keeps every name. Set it up before use; Wanted is then safe
// for concurrent use if keep is.
type Selector struct {
	patterns []string
	keep     func(name string) bool
}

// Add adds patterns over metric names, checking each with
// [pattern.Validate]; it returns the error of the first bad one and adds
// none then.
func (s *Selector) Add(patterns ...string) error { return s.AddIn("", patterns...) }

// AddIn is Add for names whose alphabet adds the bytes of extra to the
// metric-name characters, e.g. "./-" for OpenTelemetry instrument names
// (see [pattern.ValidateIn]).
func (s *Selector) AddIn(extra string, patterns ...string) error {
	for _, p := range patterns {
		if err := pattern.ValidateIn(p, extra); err != nil {
			return err
		}
	}
	s.patterns = append(s.patterns, patterns...)
	return nil
}

// Keep sets the function a name must also pass; nil is an error.
func (s *Selector) Keep(keep func(name string) bool) error {
	if keep == nil {
		return errors.New("nil func")
	}
	s.keep = keep
	return nil
}

// Wanted reports whether name is selected.
func (s *Selector) Wanted(name string) bool {
	if len(s.patterns) > 0 && !pattern.Any(s.patterns, name) {
		return false
	}
	return s.keep == nil || s.keep(name)
}
