package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The Django packages the test needs, from Debian's archive (.ci/run
// installs them; the Python package index is not reachable here).
const djangoPackages = "python3-django python3-django-prometheus python3-prometheus-client"

// TestDjango runs docs/django.md: the Django site in testdata/djangosite
// (django-prometheus, and an active-users gauge in a few lines of
// middleware), scraped by pulse serve, read by the Go client, which must
// see the active-user count follow the simulated visitors.
func TestDjango(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Django and builds pulse: not in -short mode")
	}
	python := findDjango(t)
	bin := buildPulse(t)

	djangoAddr, pulseAddr := freeAddr(t), freeAddr(t)
	site := "http://" + djangoAddr
	django := startProcess(t, "django", filepath.Join("testdata", "djangosite"),
		[]string{"PULSE_URL=http://" + pulseAddr, "ACTIVE_USERS_WINDOW=3", "PROMETHEUS_DISABLE_CREATED_SERIES=True", "PYTHONDONTWRITEBYTECODE=1"},
		python, "manage.py", "runserver", "--noreload", djangoAddr)
	waitHTTP(t, site+"/metrics", django)

	// The guide's command, on free ports, and a tick short enough for a test.
	serve := startProcess(t, "pulse serve", "", nil, bin, "serve", "-addr", pulseAddr,
		"-scrape", site+"/metrics", "-job", "django", "-interval", "100ms", "-allow-origin", site)
	waitHTTP(t, "http://"+pulseAddr+"/ws/metrics", serve)

	sub := dialServe(t, "ws://"+pulseAddr+"/ws/metrics?match=active_users,django_http_requests_total_by_view_transport_method_total", nil)
	key := `active_users{instance="` + djangoAddr + `",job="django"}`
	activeIs := func(n float64) func() bool {
		return func() bool { v, ok := sub.Value(key); return ok && !v.Stale && v.Value == n }
	}
	eventually(t, activeIs(0), "no active user before any visit (scrapes do not count)")

	// The page embeds the live widget from pulse serve.
	home := visitor(t)
	page := fetchPage(t, home, site+"/")
	require.Contains(t, page, `import { connect } from "http://`+pulseAddr+`/pulse.js";`)
	require.Contains(t, page, `connect("http://`+pulseAddr+`/ws/metrics"`)
	eventually(t, activeIs(1), "one visitor")

	// Two more visitors, and the first one again: three distinct sessions.
	for _, c := range []*http.Client{visitor(t), visitor(t), home} {
		fetchPage(t, c, site+"/about/")
	}
	eventually(t, activeIs(3), "three visitors")
	views := `django_http_requests_total_by_view_transport_method_total{instance="` + djangoAddr + `",job="django",method="GET",transport="http",view="about"}`
	v, ok := sub.Value(views)
	require.True(t, ok, "django-prometheus's counters are there: %v", sub.Values())
	require.Equal(t, 3.0, v.Value)

	// The window (3 s here, 5 minutes by default) empties when nobody
	// comes back.
	eventually(t, activeIs(0), "the visitors gone after the window")
	require.NotContains(t, serve.output(), "level=WARN", "pulse serve had nothing to complain about")
}

// findDjango returns a Python that can import Django, django-prometheus and
// prometheus_client: Debian's /usr/bin/python3 first (the apt packages are
// for it), then python3 on PATH. Without one the test is skipped, except
// under CI=true, where it fails.
func findDjango(t *testing.T) string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import django, django_prometheus, prometheus_client").Run() == nil {
			return path
		}
	}
	msg := "no python3 with Django, django-prometheus and prometheus_client: apt-get install " + djangoPackages
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// buildPulse builds the command into the test's temporary directory.
func buildPulse(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pulse")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	return bin
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string { return closedAddr(t) }

// process is a program the test runs, stopped (SIGINT, then SIGKILL) when
// the test ends.
type process struct {
	name string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
}

func startProcess(t *testing.T, name, dir string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(args[0], args[1:]...), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	require.NoError(t, p.cmd.Start(), name)
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(testDeadline):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

func (p *process) output() string { return p.out.String() }

// waitHTTP waits until url answers 200, failing if p exits first.
func waitHTTP(t *testing.T, url string, p *process) {
	t.Helper()
	c := testClient(t)
	eventually(t, func() bool {
		select {
		case <-p.done:
			t.Fatalf("%s exited:\n%s", p.name, p.output())
		default:
		}
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "%s to answer %s", p.name, url)
}

// visitor is a browser of its own: its own cookie jar, so its own Django
// session.
func visitor(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := testClient(t)
	c.Jar = jar
	return c
}

func fetchPage(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, b)
	return string(b)
}
