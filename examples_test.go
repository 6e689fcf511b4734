package pulse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pulse/pulse/internal/idlecheck"
)

// Deadlines for the examples test. They are generous on purpose: they
// guard against hangs on a loaded two-core machine, they do not measure
// speed.
const (
	exampleGoCmdTimeout = 10 * time.Minute // one go build, vet or test
	exampleHelpTimeout  = 30 * time.Second // an example's -h
	exampleServeTimeout = 60 * time.Second // from start to answering HTTP
	exampleExitTimeout  = 60 * time.Second // from SIGINT to exit

	// exampleIdleTimeout is the -idle-timeout an example is run with, and
	// exampleIdleLimit how long the test waits for the idle connection to
	// be closed: well below the examples' 30 s ReadTimeout, which net/http
	// would use in place of a missing IdleTimeout.
	exampleIdleTimeout = 300 * time.Millisecond
	exampleIdleLimit   = 15 * time.Second
)

// TestExamples keeps the examples from rotting. For each directory under
// examples/:
//
//   - one in this module is built with go build (go vet ./... and go test
//     ./... already cover it);
//   - one with a go.mod of its own (a separate module) is built and vetted
//     inside its own directory outside the workspace (GOWORK=off), so that
//     it builds on its own from its go.mod, go.sum and replace directives;
//     its tests run with every module's (see the README's test command);
//   - each binary built that takes -addr is then run briefly: it must
//     serve HTTP on the address given, answer GET / and its metrics route,
//     close an idle keep-alive connection after the -idle-timeout it is
//     given (every such example takes one: examples are copied, so their
//     http.Server shows the timeouts), and exit 0 on an interrupt.
//
// Binaries go to a temporary directory; nothing is written to the
// repository.
func TestExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every example: not in -short mode")
	}
	goBin := goTool(t)
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	ran := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		dir := filepath.Join(root, "examples", name)
		_, err := os.Stat(filepath.Join(dir, "go.mod"))
		ownModule := err == nil
		if !ownModule && !hasGoSource(t, dir) {
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(bin, name)
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if ownModule {
				// Its own module, built against this repository through its
				// replace directives. -o DIR/ writes each main package's
				// binary there (plain "go build ./..." would write one into
				// the example's directory).
				hint := "if go.sum entries are missing, run: cd examples/" + name + " && GOWORK=off go mod tidy"
				runGo(t, goBin, dir, hint, "build", "-o", out+string(filepath.Separator), "./...")
				runGo(t, goBin, dir, hint, "vet", "./...")
			} else {
				runGo(t, goBin, root, "", "build", "-o", filepath.Join(out, name), "./examples/"+name)
			}
			exes, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(exes) == 0 {
				t.Logf("examples/%s has no main package: built, nothing to run", name)
			}
			for _, x := range exes {
				exe := filepath.Join(out, x.Name())
				usage := helpText(t, exe)
				if !hasFlag(usage, "addr") {
					t.Logf("%s takes no -addr flag: built, not run", x.Name())
					continue
				}
				if !hasFlag(usage, "idle-timeout") {
					t.Errorf("%s takes no -idle-timeout flag: every example sets its http.Server's IdleTimeout (see newServer in examples/server)", x.Name())
					continue
				}
				if runtime.GOOS == "windows" {
					t.Logf("%s: not run on Windows (no interrupt signal to stop it with)", x.Name())
					continue
				}
				runBriefly(t, exe)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no example found under examples/")
	}
}

// goTool returns the go command of the toolchain running the test.
func goTool(t *testing.T) string {
	t.Helper()
	exe := "go"
	if runtime.GOOS == "windows" {
		exe = "go.exe"
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", exe); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	return p
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// hasGoSource reports whether dir holds a non-test Go file.
func hasGoSource(t *testing.T, dir string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			return true
		}
	}
	return false
}

// runGo runs the go command in dir, outside any workspace, and fails the
// test with its output (and hint) if it fails.
func runGo(t *testing.T, goBin, dir, hint string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exampleGoCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if hint != "" {
			hint = "\n(" + hint + ")"
		}
		t.Fatalf("in %s: go %s: %v\n%s%s", dir, strings.Join(args, " "), err, out, hint)
	}
	t.Logf("go %s: ok", strings.Join(args, " "))
}

// hasFlag reports whether the usage text of a program lists the flag -name.
func hasFlag(usage, name string) bool {
	return regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(name) + `\b`).MatchString(usage)
}

// helpText returns the usage that the program at exe prints for -h, or ""
// if it is not a program that answers -h.
func helpText(t *testing.T, exe string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exampleHelpTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-h")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Logf("%s -h did not exit: %v", filepath.Base(exe), ctx.Err())
		return ""
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Logf("%s -h: %v", filepath.Base(exe), err) // not runnable (not a program)
		return ""
	}
	return string(out)
}

// runBriefly starts exe on a free loopback port, waits until it answers
// HTTP, checks GET /, the metrics route and that an idle connection is
// closed, interrupts it and requires a clean exit.
func runBriefly(t *testing.T, exe string) {
	t.Helper()
	p := startExample(t, exe)
	defer p.kill()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	base := p.waitServing(t, client)
	p.checkMetricsRoute(t, client, base)
	tr.CloseIdleConnections()
	requireIdleClosed(t, p.name, base)

	// Interrupt it: it must shut down and exit 0.
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.stopped = true
		if err != nil {
			t.Fatalf("%s did not exit cleanly on interrupt: %v%s", p.name, err, p.output())
		}
	case <-time.After(exampleExitTimeout):
		t.Fatalf("%s did not exit within %v of an interrupt%s", p.name, exampleExitTimeout, p.output())
	}
	t.Logf("%s: served %s, exited 0 on interrupt", p.name, base)
}

// exampleProc is an example program runBriefly started.
type exampleProc struct {
	name, addr, port string
	cmd              *exec.Cmd
	stdout, stderr   lockedBuffer
	exited           chan error // cmd.Wait's result
	stopped          bool       // exited has been received from
}

// startExample starts exe on a free loopback port, with the idle timeout
// the tests check.
func startExample(t *testing.T, exe string) *exampleProc {
	t.Helper()
	p := &exampleProc{name: filepath.Base(exe), port: freePort(t), exited: make(chan error, 1)}
	p.addr = net.JoinHostPort("127.0.0.1", p.port)
	p.cmd = exec.Command(exe, "-addr", p.addr, "-idle-timeout", exampleIdleTimeout.String())
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	return p
}

// kill kills the program unless it has exited.
func (p *exampleProc) kill() {
	if !p.stopped {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// output is the program's output so far, for a failure message.
func (p *exampleProc) output() string {
	return fmt.Sprintf("\nstdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
}

// waitServing waits until the program answers GET / with 200 (following
// redirects) and returns its base URL: the address given, or the one the
// example prints for that port, if it prints one.
func (p *exampleProc) waitServing(t *testing.T, client *http.Client) string {
	t.Helper()
	printed := regexp.MustCompile(`https?://[^\s/"]+:` + regexp.QuoteMeta(p.port) + `\b`)
	base := "http://" + p.addr
	deadline := time.Now().Add(exampleServeTimeout)
	poll := time.NewTicker(25 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case err := <-p.exited:
			p.stopped = true
			t.Fatalf("%s -addr %s exited before serving: %v%s", p.name, p.addr, err, p.output())
		default:
		}
		if u := printed.FindString(p.stdout.String()); u != "" {
			base = u
		}
		resp, err := client.Get(base + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: GET %s/ (following redirects): %s%s", p.name, base, resp.Status, p.output())
			}
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s -addr %s: no HTTP answer within %v: %v%s", p.name, p.addr, exampleServeTimeout, err, p.output())
		}
		<-poll.C
	}
}

// checkMetricsRoute checks the metrics route: the JSON snapshot, or a
// refusal if the example protects it.
func (p *exampleProc) checkMetricsRoute(t *testing.T, client *http.Client, base string) {
	t.Helper()
	name := p.name
	resp, err := client.Get(base + "/ws/metrics")
	if err != nil {
		t.Fatalf("%s: GET /ws/metrics: %v%s", name, err, p.output())
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: GET /ws/metrics: %v", name, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var snap struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(body, &snap); err != nil || snap.Type != "snapshot" {
			t.Fatalf("%s: GET /ws/metrics: not a snapshot (%v): %.300s", name, err, body)
		}
	case http.StatusUnauthorized, http.StatusForbidden:
		t.Logf("%s: GET /ws/metrics without credentials: %s", name, resp.Status)
	case http.StatusNotFound:
		t.Logf("%s: no Hub at /ws/metrics", name)
	default:
		t.Fatalf("%s: GET /ws/metrics: %s: %.300s", name, resp.Status, body)
	}
}

// requireIdleClosed requires the example serving at base to close an idle
// keep-alive connection after the -idle-timeout it was given.
func requireIdleClosed(t *testing.T, name, base string) {
	t.Helper()
	idle, err := idlecheck.Closed(strings.TrimPrefix(base, "http://"), exampleIdleLimit)
	if err != nil {
		t.Fatalf("%s (-idle-timeout %v): %v", name, exampleIdleTimeout, err)
	}
	t.Logf("%s: idle connection closed after %v (-idle-timeout %v)", name, idle.Round(time.Millisecond), exampleIdleTimeout)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// lockedBuffer is a bytes.Buffer that a child process may write while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
