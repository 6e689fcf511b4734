package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	code, stdout, stderr := pulseCmd(t, "version")
	require.Equal(t, 0, code, stderr)
	require.True(t, strings.HasPrefix(stdout, "pulse "), stdout)
	require.Contains(t, stdout, "built with "+runtime.Version()+" for "+runtime.GOOS+"/"+runtime.GOARCH)
	code, _, stderr = pulseCmd(t, "version", "extra")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "takes no arguments")

	// As installed with go install ...@v0.2.0 from a tagged release.
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.1",
		Main:      debug.Module{Path: "github.com/go-pulse/pulse/cmd/pulse", Version: "v0.2.0"},
		Deps: []*debug.Module{
			{Path: "github.com/coder/websocket", Version: "v1.8.15"},
			{Path: "github.com/go-pulse/pulse", Version: "v0.2.1"},
		},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d"}, {Key: "vcs.modified", Value: "true"}},
	}
	require.Equal(t, "pulse v0.2.0 (github.com/go-pulse/pulse/cmd/pulse)\n"+
		"library github.com/go-pulse/pulse v0.2.1\n"+
		"built with go1.26.1 for "+runtime.GOOS+"/"+runtime.GOARCH+", revision 1a2b3c4d5e6f (modified)\n",
		versionText(bi, true))

	// Built from a clone, through the replace directive.
	bi.Main.Version = "(devel)"
	bi.Deps[1] = &debug.Module{Path: "github.com/go-pulse/pulse", Version: "v0.0.0", Replace: &debug.Module{Path: "../.."}}
	bi.Settings = nil
	require.Contains(t, versionText(bi, true), "pulse (devel) (github.com/go-pulse/pulse/cmd/pulse)\nlibrary github.com/go-pulse/pulse v0.0.0 => ../..\n")
	require.Contains(t, versionText(nil, false), "version unknown")
}
