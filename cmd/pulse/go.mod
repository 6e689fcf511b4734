module github.com/go-pulse/pulse/cmd/pulse

go 1.25.0

require (
	github.com/coder/websocket v1.8.15
	github.com/go-pulse/pulse v0.0.0
	github.com/stretchr/testify v1.12.1
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

// Until the first release the command builds against the modules in this
// repository (go.work does the same for the whole workspace). RELEASING.md
// says how these replace directives give way to tagged versions.
replace github.com/go-pulse/pulse => ../..
