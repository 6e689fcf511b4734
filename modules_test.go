package pulse_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goVersion is the go directive of every module in the repository: Go
// supports its two latest releases, and pulse builds with both.
const goVersion = "1.25.0"

// coreRequires is everything the core module may require directly.
var coreRequires = []string{
	"github.com/axiomhq/hyperloglog", // sources/active's sketches
	"github.com/coder/websocket",
	"github.com/stretchr/testify",
}

// TestModules checks the layout of the repository's modules: every go.mod
// is in go.work (so the README's test command reaches it) and the other
// way round, every one says go 1.25.0, and the core requires only what it
// is allowed to.
func TestModules(t *testing.T) {
	var mods []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" {
			mods = append(mods, filepath.ToSlash(filepath.Dir(path)))
		}
		return nil
	})
	require.NoError(t, err)

	work, err := os.ReadFile("go.work")
	require.NoError(t, err)
	var used []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(\.[^\s]*)$`).FindAllStringSubmatch(string(work), -1) {
		used = append(used, strings.TrimPrefix(strings.TrimPrefix(m[1], "./"), "."))
	}
	for i, u := range used {
		if u == "" {
			used[i] = "."
		}
	}
	slices.Sort(mods)
	slices.Sort(used)
	require.Equal(t, mods, used, "go.work must use exactly the repository's modules")
	require.Regexp(t, `(?m)^go `+regexp.QuoteMeta(goVersion)+`$`, string(work), "go.work")

	for _, m := range mods {
		b, err := os.ReadFile(filepath.Join(m, "go.mod"))
		require.NoError(t, err)
		require.Regexp(t, `(?m)^go `+regexp.QuoteMeta(goVersion)+`$`, string(b), "%s/go.mod", m)
		require.NotRegexp(t, `(?m)^toolchain `, string(b), "%s/go.mod: no toolchain line", m)
	}

	direct := requires(t, "go.mod", false)
	for _, r := range direct {
		require.Contains(t, coreRequires, r, "the core module may not require %s", r)
	}
}

// requires lists the modules go.mod requires, directly or (with indirect)
// all of them.
func requires(t *testing.T, gomod string, indirect bool) []string {
	t.Helper()
	f, err := os.Open(gomod)
	require.NoError(t, err)
	defer f.Close()
	var out []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "require (":
			in = true
			continue
		case in && line == ")":
			in = false
			continue
		case strings.HasPrefix(line, "require "):
			line = strings.TrimPrefix(line, "require ")
		case !in:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || !indirect && strings.Contains(line, "// indirect") {
			continue
		}
		out = append(out, fields[0])
	}
	require.NoError(t, sc.Err())
	return out
}

// TestModuleFootprint measures what a user pays for importing pulse, the
// way a new user would see it: a fresh module outside this workspace that
// imports only the core package has at most 8 modules in go list -m all and
// keeps its own versions of client_golang, OpenTelemetry and x/sys; one
// that imports the Prometheus adapter pulls in neither NATS, chromedp nor
// OpenTelemetry. The fresh modules reach this repository through replace
// directives, as they would reach a release through the module proxy.
func TestModuleFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go mod tidy in fresh modules: not in -short mode")
	}
	root, err := os.Getwd()
	require.NoError(t, err)
	f := freshModules{goBin: goTool(t), root: root}
	t.Run("core", func(t *testing.T) { checkCoreFootprint(t, f) })
	t.Run("prometheus", func(t *testing.T) { checkPrometheusFootprint(t, f) })
}

// freshModules writes fresh modules outside the workspace that reach this
// repository, at root, through replace directives.
type freshModules struct {
	goBin, root string
}

// replace returns the replace directives for the modules of this
// repository at the paths mods ("" for the core, "/sources/prometheus"...).
func (f freshModules) replace(mods ...string) string {
	var b strings.Builder
	for _, m := range mods {
		b.WriteString("replace github.com/go-pulse/pulse" + m + " => " + filepath.Join(f.root, m) + "\n")
	}
	return b.String()
}

// tidy writes a fresh module, tidies it and returns go list -m all as
// path -> version, and its go.mod after tidy.
func (f freshModules) tidy(t *testing.T, gomod, main string) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644))
	run := func(args ...string) string {
		cmd := exec.Command(f.goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	run("mod", "tidy")
	all := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(run("list", "-m", "-f", "{{.Path}} {{.Version}}", "all")), "\n") {
		path, version, _ := strings.Cut(line, " ")
		all[path] = version
	}
	after, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	return all, string(after)
}

// sortedKeys returns the module paths of all, sorted.
func sortedKeys(all map[string]string) []string {
	var out []string
	for p := range all {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// checkCoreFootprint checks that importing the core keeps the user's own
// versions of client_golang, OpenTelemetry and x/sys and their go
// directive, and that the core alone brings at most 8 modules.
func checkCoreFootprint(t *testing.T, f freshModules) {
	// A user who already has their own versions of client_golang,
	// OpenTelemetry and x/sys, and imports the core.
	own := map[string]string{
		"github.com/prometheus/client_golang": "v1.20.0",
		"go.opentelemetry.io/otel":            "v1.28.0",
		"golang.org/x/sys":                    "v0.20.0",
	}
	gomod := "module example.com/user\n\ngo " + goVersion + "\n\nrequire (\n"
	for m, v := range own {
		gomod += "\t" + m + " " + v + "\n"
	}
	gomod += ")\n\n" + f.replace("")
	const theirs = `
_ "github.com/prometheus/client_golang/prometheus"
_ "go.opentelemetry.io/otel"
_ "golang.org/x/sys/unix"
`
	without, _ := f.tidy(t, gomod, "package main\n\nimport ("+theirs+")\n\nfunc main() {}\n")
	with, after := f.tidy(t, gomod, "package main\n\nimport ("+theirs+"\n\t_ \"github.com/go-pulse/pulse\"\n)\n\nfunc main() {}\n")
	for m := range own {
		require.NotEmpty(t, without[m])
		require.Equal(t, without[m], with[m], "importing pulse changed the user's %s", m)
	}
	t.Logf("the user's own versions, kept: client_golang %s, otel %s, x/sys %s",
		with["github.com/prometheus/client_golang"], with["go.opentelemetry.io/otel"], with["golang.org/x/sys"])
	require.Contains(t, after, "\ngo "+goVersion+"\n", "importing pulse raised the user's go directive")

	// A user who imports only the core, and nothing else.
	only, _ := f.tidy(t, "module example.com/user\n\ngo "+goVersion+"\n\n"+f.replace(""), `package main

import _ "github.com/go-pulse/pulse"

func main() {}
`)
	t.Logf("go list -m all, importing only the core: %d modules: %v", len(only), sortedKeys(only))
	require.LessOrEqual(t, len(only), 8)
}

// checkPrometheusFootprint checks that importing the Prometheus adapter
// pulls in neither NATS, chromedp nor OpenTelemetry.
func checkPrometheusFootprint(t *testing.T, f freshModules) {
	all, _ := f.tidy(t, "module example.com/user\n\ngo "+goVersion+"\n\n"+f.replace("", "/sources/prometheus", "/sources/internal"), `package main

import _ "github.com/go-pulse/pulse/sources/prometheus"

func main() {}
`)
	t.Logf("go list -m all, importing sources/prometheus: %d modules: %v", len(all), sortedKeys(all))
	for p := range all {
		for _, heavy := range []string{"github.com/nats-io/", "github.com/chromedp/", "go.opentelemetry.io/"} {
			require.False(t, strings.HasPrefix(p, heavy), "importing sources/prometheus pulls in %s", p)
		}
	}
}
