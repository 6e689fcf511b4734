package pulse

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// dashboardServer serves a Dashboard of th's Hub on the ServeMux pattern
// mount (and whatever else setup adds), returning the server's URL.
func dashboardServer(t *testing.T, th *testHub, mount string, opts ...DashboardOption) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(mount, Dashboard(th.Hub, opts...))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// fetch makes a request without following redirects.
func fetch(t *testing.T, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestDashboardServesPageAndAssets(t *testing.T) {
	th := newTestHub(t, Options{})
	base := dashboardServer(t, th, "/dashboard/") + "/dashboard/"
	checkDashboardPage(t, base)
	checkDashboardAssets(t, base)

	// The page's script comes from the embedded files, and pulse.js is the
	// one JS() serves.
	_, js := fetch(t, http.MethodGet, base+"dashboard.js", nil)
	embedded, err := dashboardFS.ReadFile("dashboard/dashboard.js")
	require.NoError(t, err)
	require.Equal(t, string(embedded), js)
	require.Contains(t, js, `connect("stream"`, "the stream is relative to the page")
	checkDashboardModules(t, base)

	// Only GET and HEAD.
	resp, _ := fetch(t, http.MethodPost, base, nil)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
	resp, _ = fetch(t, http.MethodDelete, base+"dashboard.css", nil)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	// Anything else is 404.
	for _, p := range []string{"nope.js", "index.html", "dashboard.js/", "stream/x", "a/b/c", "DASHBOARD.JS", "..%2fhub.go"} {
		resp, _ := fetch(t, http.MethodGet, base+p, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
	}
}

// checkDashboardPage checks the page at base: its headers (the CSP among
// them) and that it loads only relative, embedded files.
func checkDashboardPage(t *testing.T, base string) {
	resp, page := fetch(t, http.MethodGet, base, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'self'")
	require.Contains(t, csp, "connect-src 'self'")
	require.Contains(t, page, `<script type="module" src="dashboard.js"></script>`)
	require.Contains(t, page, `<link rel="stylesheet" href="dashboard.css">`)
	require.Contains(t, page, `<title>pulse</title>`)
	require.Contains(t, page, `<meta name="pulse-match" content="*">`)
	// Relative URLs only, and nothing from elsewhere: it works under any
	// prefix and without a network.
	require.NotRegexp(t, `(src|href)="/`, page)
	require.NotContains(t, page, "http://")
	require.NotContains(t, page, "https://")
	require.NotContains(t, page, "<style", "no inline style: the CSP forbids it")
}

// checkDashboardAssets checks the page's script, style and pulse.js: their
// types, that they fetch nothing from elsewhere, and revalidation and HEAD.
func checkDashboardAssets(t *testing.T, base string) {
	for _, tc := range []struct{ name, ctype, must string }{
		{"dashboard.js", "text/javascript; charset=utf-8", `import { connect } from "./pulse.js";`},
		{"dashboard.css", "text/css; charset=utf-8", "prefers-color-scheme: dark"},
		{"pulse.js", "text/javascript; charset=utf-8", string(clientJS)},
	} {
		resp, body := fetch(t, http.MethodGet, base+tc.name, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, tc.name)
		require.Equal(t, tc.ctype, resp.Header.Get("Content-Type"), tc.name)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), tc.name)
		require.Contains(t, body, tc.must, tc.name)
		require.NotContains(t, body, "http://", "%s fetches nothing from elsewhere", tc.name)
		require.NotContains(t, body, "https://", "%s fetches nothing from elsewhere", tc.name)

		// Revalidation and HEAD.
		etag := resp.Header.Get("ETag")
		require.Regexp(t, `^"[0-9a-f]{32}"$`, etag, tc.name)
		resp, body = fetch(t, http.MethodGet, base+tc.name, map[string]string{"If-None-Match": etag})
		require.Equal(t, http.StatusNotModified, resp.StatusCode, tc.name)
		require.Empty(t, body)
		resp, body = fetch(t, http.MethodHead, base+tc.name, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, tc.name)
		require.Equal(t, tc.ctype, resp.Header.Get("Content-Type"), tc.name)
		require.Empty(t, body)
	}
}

// checkDashboardModules checks the page's modules: every module any module
// imports is served, from the embedded files, and nothing is imported from
// elsewhere.
func checkDashboardModules(t *testing.T, base string) {
	imports := regexp.MustCompile(`(?m)^import .* from "([^"]+)";$`)
	seen := map[string]bool{}
	queue := []string{"dashboard.js"}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		resp, body := fetch(t, http.MethodGet, base+name, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
		require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"), name)
		if name != "pulse.js" {
			embedded, err := dashboardFS.ReadFile("dashboard/" + name)
			require.NoError(t, err, name)
			require.Equal(t, string(embedded), body, name)
		}
		for _, m := range imports.FindAllStringSubmatch(body, -1) {
			require.True(t, strings.HasPrefix(m[1], "./") && !strings.Contains(m[1][2:], "/"), "%s imports %s: a file next to it", name, m[1])
			queue = append(queue, m[1][2:])
		}
	}
	require.Greater(t, len(seen), 5, "the page's modules: %v", seen)
	entries, err := dashboardFS.ReadDir("dashboard")
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".js") {
			require.True(t, seen[e.Name()], "%s is embedded but imported by no module", e.Name())
		}
	}
}

func TestDashboardStreamReachesTheHub(t *testing.T) {
	th := newTestHub(t, Options{})
	src := &settable{}
	src.set(gauge("queue_depth", 3), Metric{Name: "jobs_total", Kind: KindCounter, Value: 10})
	require.NoError(t, th.Register(src, SourceOptions{}))
	seq := th.Tick(time.Second)
	base := dashboardServer(t, th, "/ops/dashboard/") + "/ops/dashboard/"

	// A WebSocket on <prefix>/stream is the Hub's stream: hello, snapshot,
	// history, then a delta per tick.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"stream?match=queue_*", nil)
	require.NoError(t, err)
	defer c.CloseNow()
	c.SetReadLimit(-1)
	tc := &testConn{t: t, c: c, v: newView()}
	hello := tc.expect("hello")
	require.Equal(t, ProtocolVersion, hello.Version)
	require.Equal(t, seq, hello.Seq)
	snap := tc.expect("snapshot")
	require.Equal(t, "connect", snap.Reason)
	require.Equal(t, map[string]float64{"queue_depth": 3}, tc.v.values, "the match query reaches the Hub")
	src.set(gauge("queue_depth", 4), Metric{Name: "jobs_total", Kind: KindCounter, Value: 12})
	seq = th.Tick(time.Second)
	tc.untilSeq(seq)
	require.Equal(t, 4.0, tc.v.values["queue_depth"])
	require.Equal(t, 1, th.Stats().Clients)

	// Server-Sent Events and the plain-GET snapshot, on the same path.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"stream", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	line := make([]byte, 64)
	n, err := io.ReadAtLeast(resp.Body, line, len("retry:"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(line[:n]), "retry:"), "%q", line[:n])
	resp.Body.Close()

	r, body := fetch(t, http.MethodGet, base+"stream", nil)
	require.Equal(t, http.StatusOK, r.StatusCode)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Contains(t, body, `"type":"snapshot"`)
	require.Contains(t, body, `"jobs_total":12`)
}

func TestDashboardAccessIsTheHubs(t *testing.T) {
	th := newTestHub(t, Options{Authorize: func(r *http.Request) (Access, error) {
		if r.Header.Get("X-User") == "" {
			return Access{}, errors.New("who are you")
		}
		return Access{Patterns: []string{"public_*"}}, nil
	}})
	src := &settable{}
	src.set(gauge("public_visitors", 5), gauge("secret_revenue", 1e6))
	require.NoError(t, th.Register(src, SourceOptions{}))
	th.Tick(time.Second)
	base := dashboardServer(t, th, "/dashboard/") + "/dashboard/"

	// The page and its files are public ...
	resp, _ := fetch(t, http.MethodGet, base, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = fetch(t, http.MethodGet, base+"dashboard.js", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// ... the stream is the Hub's: Authorize rejects and restricts.
	resp, _ = fetch(t, http.MethodGet, base+"stream", nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, body := fetch(t, http.MethodGet, base+"stream", map[string]string{"X-User": "ann"})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "public_visitors")
	require.NotContains(t, body, "secret_revenue")

	// So is the origin check: a page elsewhere cannot open the stream.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, wsResp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"stream", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {"https://evil.example"}, "X-User": {"ann"}},
	})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, wsResp.StatusCode)
}

func TestDashboardPrefixes(t *testing.T) {
	th := newTestHub(t, Options{})
	h := Dashboard(th.Hub)
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", h)
	mux.Handle("GET /teams/{team}/metrics/", h)
	mux.Handle("/deep/down/{rest...}", h)
	mux.Handle("/ops/", http.StripPrefix("/ops", h))
	mux.Handle("/exact", http.StripPrefix("/exact", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	root := httptest.NewServer(h) // mounted at the root, no pattern
	t.Cleanup(root.Close)

	const js, json = "text/javascript; charset=utf-8", "application/json"

	for _, prefix := range []string{srv.URL + "/dashboard/", srv.URL + "/teams/blue/metrics/", srv.URL + "/deep/down/", srv.URL + "/ops/", root.URL + "/"} {
		requireDashboardPage(t, prefix)
		requireDashboardPage(t, prefix+"?q=http_*") // a query is the page's
		requireDashboardFile(t, prefix+"dashboard.js", js)
		requireDashboardFile(t, prefix+"pulse.js", js)
		requireDashboardFile(t, prefix+"stream", json)
		requireNotFound(t, prefix+"nope.css")
	}
	// Below a ServeMux pattern, only the dashboard's own names.
	requireNotFound(t, srv.URL+"/dashboard/x/")
	requireNotFound(t, srv.URL+"/dashboard/x/dashboard.js")
	requireNotFound(t, srv.URL+"/dashboard/nothing")

	// Without the trailing slash: ServeMux redirects by itself; the
	// handler redirects where it sees the mount point without one, with a
	// relative Location that is right whatever was stripped.
	// (http.ServeMux answers 301 up to Go 1.25, 307 from Go 1.26.)
	requireRedirect(t, srv.URL+"/dashboard", "/dashboard/", http.StatusMovedPermanently, http.StatusTemporaryRedirect)
	requireRedirect(t, srv.URL+"/exact", "exact/")
	requireRedirect(t, srv.URL+"/exact?q=go_*", "exact/?q=go_*")

	checkRoutingWithoutPattern(t, h)
}

// requireDashboardPage checks that url serves the dashboard's page.
func requireDashboardPage(t *testing.T, url string) {
	t.Helper()
	resp, body := fetch(t, http.MethodGet, url, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	require.Contains(t, body, `src="dashboard.js"`, url)
}

// requireDashboardFile checks that url serves a file of type ctype.
func requireDashboardFile(t *testing.T, url, ctype string) {
	t.Helper()
	resp, _ := fetch(t, http.MethodGet, url, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	require.Equal(t, ctype, resp.Header.Get("Content-Type"), url)
}

// requireRedirect checks that url redirects to location, with one of codes
// (307 if none).
func requireRedirect(t *testing.T, url, location string, codes ...int) {
	t.Helper()
	resp, _ := fetch(t, http.MethodGet, url, nil)
	if len(codes) == 0 {
		codes = []int{http.StatusTemporaryRedirect}
	}
	require.Contains(t, codes, resp.StatusCode, url)
	require.Equal(t, location, resp.Header.Get("Location"), url)
}

// requireNotFound checks that url is 404.
func requireNotFound(t *testing.T, url string) {
	t.Helper()
	resp, _ := fetch(t, http.MethodGet, url, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, url)
}

// checkRoutingWithoutPattern checks h under a router that sets no pattern
// (here, none at all): the handler goes by the last path element.
func checkRoutingWithoutPattern(t *testing.T, h http.Handler) {
	for _, tc := range []struct {
		path, pattern string
		code          int
		location      string
	}{
		{path: "/a/dash", code: http.StatusTemporaryRedirect, location: "dash/"},
		{path: "/a/dash/", code: http.StatusOK},
		{path: "/a/dash/dashboard.css", code: http.StatusOK},
		{path: "/a/dash/nope.js", code: http.StatusNotFound},
		{path: "/a/dash/x:y", code: http.StatusTemporaryRedirect, location: "./x:y/"},
		{path: "/a/dash/", pattern: "/a/other/", code: http.StatusOK}, // a pattern the path does not follow
	} {
		r := httptest.NewRequest(http.MethodGet, tc.path, nil)
		r.Pattern = tc.pattern
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, tc.code, w.Code, tc.path)
		require.Equal(t, tc.location, w.Header().Get("Location"), tc.path)
	}
}

func TestDashboardOptions(t *testing.T) {
	th := newTestHub(t, Options{MaxPatterns: 3})
	base := dashboardServer(t, th, "/d/", DashboardTitle(`Shop <"live">`), DashboardMatch("http_*", "go_goroutines")) + "/d/"
	_, page := fetch(t, http.MethodGet, base, nil)
	require.Contains(t, page, `<title>Shop &lt;&#34;live&#34;&gt;</title>`, "the title is escaped")
	require.Contains(t, page, `<h1>Shop &lt;&#34;live&#34;&gt;</h1>`)
	require.Contains(t, page, `<meta name="pulse-match" content="http_*,go_goroutines">`)
	require.Contains(t, page, `<meta name="pulse-max-patterns" content="3">`)

	require.PanicsWithValue(t, "pulse: Dashboard of a nil Hub", func() { Dashboard(nil) })
	require.Panics(t, func() { Dashboard(th.Hub, DashboardMatch("http_{x}")) })
	require.Panics(t, func() { Dashboard(th.Hub, DashboardMatch("a", "b", "c", "d")) })
	require.NotPanics(t, func() { Dashboard(th.Hub, DashboardMatch()) }, "no patterns: the default")
}
