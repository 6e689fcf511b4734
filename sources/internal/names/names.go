// Package names selects metric names for the adapters' WithNames and
// WithFilter options: by patterns in the syntax of [path.Match], and by a
// function of the host's.
package names

import (
	"errors"
	"fmt"
	"path"
)

// Selector keeps the names that match at least one of its patterns (every
// name when it has none) and that its keep function, if set, accepts. The
// zero value keeps every name. Set it up before use; Wanted is then safe
// for concurrent use if keep is.
type Selector struct {
	patterns []string
	keep     func(name string) bool
}

// Add adds patterns, checking each; it returns an error naming the first
// bad one (wrapping path.ErrBadPattern) and adds none then.
func (s *Selector) Add(patterns ...string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
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
	if len(s.patterns) > 0 {
		ok := false
		for _, p := range s.patterns {
			if m, _ := path.Match(p, name); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return s.keep == nil || s.keep(name)
}
