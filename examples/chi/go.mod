module github.com/go-pulse/pulse/examples/chi

go 1.25.0

require (
	github.com/coder/websocket v1.8.15
	github.com/go-chi/chi/v5 v5.5.0
	github.com/go-pulse/pulse v0.0.0
)

// The example builds against the library in this repository. It is a
// module of its own so that chi never enters the library's go.mod.
replace github.com/go-pulse/pulse => ../..
