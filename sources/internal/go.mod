module github.com/go-pulse/pulse/sources/internal

go 1.25.0

// Shared by the adapters under sources/ only (an internal package may be
// imported only from github.com/go-pulse/pulse/sources/...). It is a module
// of its own so that each adapter pins the version it was built with and
// the core module carries none of it. It requires the core module for the
// one pattern grammar, github.com/go-pulse/pulse/internal/pattern.

require github.com/go-pulse/pulse v0.0.0

replace github.com/go-pulse/pulse => ../..
