package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// corePath is the module of the pulse library the command is built with.
const corePath = "github.com/go-pulse/pulse"

// version prints the command's module version, the pulse library's and
// the Go toolchain's, as debug.ReadBuildInfo tells them.
func version(stdout io.Writer) int {
	bi, ok := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(bi, ok))
	return exitOK
}

// versionText is what pulse version prints, e.g.
//
//	pulse v0.2.0 (github.com/go-pulse/pulse/cmd/pulse)
//	library github.com/go-pulse/pulse v0.2.0
//	built with go1.26.1 for linux/amd64, revision 1a2b3c4d5e6f (modified)
func versionText(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return fmt.Sprintf("pulse (version unknown: built without module information)\nbuilt with %s for %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pulse %s (%s)\n", moduleVersion(&bi.Main), bi.Main.Path)
	for _, d := range bi.Deps {
		if d.Path == corePath {
			fmt.Fprintf(&b, "library %s %s\n", d.Path, moduleVersion(d))
		}
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	fmt.Fprintf(&b, "built with %s for %s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, ", revision %.12s", rev)
		if settings["vcs.modified"] == "true" {
			b.WriteString(" (modified)")
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// moduleVersion is m's version, with its replacement when it has one
// ("v0.0.0 => ../..", as in a build from a clone of the repository).
func moduleVersion(m *debug.Module) string {
	v := m.Version
	if v == "" {
		v = "(devel)"
	}
	if r := m.Replace; r != nil {
		v += " => " + r.Path
		if r.Version != "" {
			v += " " + r.Version
		}
	}
	return v
}
