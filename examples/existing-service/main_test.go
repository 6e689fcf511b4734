package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

const (
	adminToken  = "demo-admin-token"
	viewerToken = "demo-viewer-token"
)

// message is any message of the pulse protocol, as far as these tests need
// it. Values and rates are raw: numbers in snapshots and deltas, arrays in
// history.
type message struct {
	Type   string `json:"type"`
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
	Series []struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	} `json:"series"`
	Values  map[string]json.RawMessage `json:"values"`
	Rates   map[string]json.RawMessage `json:"rates"`
	Stale   []string                   `json:"stale"`
	Removed []string                   `json:"removed"`
}

// names returns the metric names of every series m mentions.
func (m *message) names() []string {
	var ns []string
	for _, s := range m.Series {
		ns = append(ns, s.Name, metricName(s.Key))
	}
	for k := range m.Values {
		ns = append(ns, metricName(k))
	}
	for k := range m.Rates {
		ns = append(ns, metricName(k))
	}
	for _, k := range append(m.Stale, m.Removed...) {
		ns = append(ns, metricName(k))
	}
	return ns
}

func metricName(key string) string {
	name, _, _ := strings.Cut(key, "{")
	return name
}

// viewerMaySee reports whether a metric name is one a viewer may see.
func viewerMaySee(name string) bool {
	return strings.HasPrefix(name, "orders_") || strings.HasPrefix(name, "http_")
}

// service is a running service under test.
type service struct {
	base   string // http://127.0.0.1:PORT/
	tr     *http.Transport
	client *http.Client // does not follow redirects
}

func (s *service) do(t *testing.T, method, path, token string, body io.Reader, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.base+strings.TrimPrefix(path, "/"), body)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	return resp, b
}

func (s *service) get(t *testing.T, path, token string) (*http.Response, []byte) {
	t.Helper()
	return s.do(t, http.MethodGet, path, token, nil, nil)
}

// dial opens the metrics stream with a token ("" for none).
func (s *service) dial(ctx context.Context, token, query string) (*websocket.Conn, *http.Response, error) {
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	u := "ws" + strings.TrimPrefix(s.base, "http") + strings.TrimPrefix(metricsPath, "/") + query
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: hdr, HTTPClient: s.client})
	if conn != nil {
		conn.SetReadLimit(4 << 20)
	}
	return conn, resp, err
}

// read reads the next message of the stream.
func read(ctx context.Context, t *testing.T, conn *websocket.Conn) (*message, error) {
	typ, data, err := conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	require.Equal(t, websocket.MessageText, typ)
	var m message
	require.NoError(t, json.Unmarshal(data, &m), "%s", data)
	return &m, nil
}

// readConnect reads what the Hub sends a new client at once: hello,
// snapshot and history.
func readConnect(ctx context.Context, t *testing.T, conn *websocket.Conn) []*message {
	t.Helper()
	var ms []*message
	for _, want := range []string{"hello", "snapshot", "history"} {
		m, err := read(ctx, t, conn)
		require.NoError(t, err)
		require.Equal(t, want, m.Type)
		ms = append(ms, m)
	}
	return ms
}

func number(t *testing.T, raw json.RawMessage) float64 {
	t.Helper()
	var v float64
	require.NoError(t, json.Unmarshal(raw, &v), "%s", raw)
	return v
}

func startService(t *testing.T, ctx context.Context) (*service, <-chan error) {
	t.Helper()
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", func(url string) { urls <- url }) }()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("run returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not report ready")
	}
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)
	require.NotEqual(t, "http://127.0.0.1:0/", base, "ready must report the bound port")
	tr := &http.Transport{}
	return &service{
		base: base,
		tr:   tr,
		client: &http.Client{
			Transport:     tr,
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, done
}

func TestRun(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, done := startService(t, ctx)
	defer s.tr.CloseIdleConnections()

	t.Run("routes", func(t *testing.T) {
		checkOrdersAPI(t, s)
		checkBrowserLogin(t, s)
	})
	t.Run("anonymous stream", func(t *testing.T) { checkAnonymousStream(t, s) })

	// Wait until every kind of series exists: http_requests_total appears
	// once a request has completed and a tick has passed.
	waitFor(t, "every series in the admin snapshot", func() bool {
		_, body := s.get(t, metricsPath, adminToken)
		return strings.Contains(string(body), `"db_pool_open_connections"`) &&
			strings.Contains(string(body), `"http_requests_total{`) &&
			strings.Contains(string(body), `"orders_placed_total"`)
	})

	streamCtx, stopStreams := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopStreams()

	var viewer, admin *websocket.Conn
	t.Run("viewer stream", func(t *testing.T) { checkViewerStream(streamCtx, t, s, &viewer) })
	t.Run("admin stream", func(t *testing.T) { checkAdminStream(streamCtx, t, s, &admin) })
	require.NotNil(t, viewer)
	require.NotNil(t, admin)
	defer viewer.CloseNow()
	defer admin.CloseNow()

	// Shut down with both clients connected: they are told the server is
	// going away, and run returns nil.
	cancel()
	for _, conn := range []*websocket.Conn{viewer, admin} {
		for {
			_, err := read(streamCtx, t, conn)
			if err != nil {
				require.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err), "%v", err)
				break
			}
		}
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}

	_ = viewer.CloseNow()
	_ = admin.CloseNow()
	s.tr.CloseIdleConnections()
	requireGoroutinesSettle(t, goroutinesBefore)
}

// checkOrdersAPI checks the public health check and the orders API: bearer
// tokens only, JSON in and out, bad input refused.
func checkOrdersAPI(t *testing.T, s *service) {
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	resp, body := s.get(t, "/healthz", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok\n", string(body))

	resp, body = s.get(t, "/api/orders", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
	resp, _ = s.get(t, "/api/orders", "not-a-token")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, body = s.get(t, "/api/orders", viewerToken)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var list struct{ Orders []order }
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Orders, 3)

	resp, body = s.do(t, http.MethodPost, "/api/orders", viewerToken, strings.NewReader(`{"item":"socks","quantity":2}`), jsonHdr)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	var created order
	require.NoError(t, json.Unmarshal(body, &created))
	require.Equal(t, order{ID: 4, Item: "socks", Quantity: 2, Status: statusPlaced, PlacedBy: "viewer", PlacedAt: created.PlacedAt}, created)
	require.Equal(t, "/api/orders/4", resp.Header.Get("Location"))

	resp, body = s.get(t, "/api/orders/4", adminToken)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var got order
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, created, got)
	resp, _ = s.get(t, "/api/orders/99", adminToken)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = s.get(t, "/api/orders/x", adminToken)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	for _, bad := range []string{`{"item":"","quantity":1}`, `{"item":"x","quantity":0}`, `{"item":"x","quantity":1,"price":0}`, `{`} {
		resp, body = s.do(t, http.MethodPost, "/api/orders", viewerToken, strings.NewReader(bad), jsonHdr)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", bad, body)
	}
	resp, _ = s.do(t, http.MethodPost, "/api/orders", viewerToken, strings.NewReader(`{"item":"x","quantity":1}`),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
}

// checkBrowserLogin checks the browser's way in: /admin sends strangers to
// /login, which sets the session cookie, which opens /admin and the
// metrics stream with the viewer's restriction.
func checkBrowserLogin(t *testing.T, s *service) {
	resp, _ := s.get(t, "/admin", "")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/login", resp.Header.Get("Location"))
	resp, body := s.get(t, "/login", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `<form method="post" action="/login">`)
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	resp, _ = s.do(t, http.MethodPost, "/login", "", strings.NewReader(url.Values{"user": {"viewer"}, "password": {"admin"}}.Encode()), form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/login?failed", resp.Header.Get("Location"))
	require.Empty(t, resp.Cookies())
	resp, _ = s.do(t, http.MethodPost, "/login", "", strings.NewReader(url.Values{"user": {"viewer"}, "password": {"viewer"}}.Encode()), form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/admin", resp.Header.Get("Location"))
	cookies := resp.Cookies()
	require.Len(t, cookies, 1)
	require.Equal(t, sessionCookie, cookies[0].Name)
	require.True(t, cookies[0].HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, cookies[0].SameSite)
	cookie := http.Header{"Cookie": {cookies[0].String()}}
	resp, body = s.do(t, http.MethodGet, "/admin", "", nil, cookie)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "<b>orders_*, http_*</b>")
	require.Contains(t, string(body), `connect("/ws/metrics"`)
	// The cookie opens the metrics stream too (what the page's
	// WebSocket sends), with the viewer's restriction.
	resp, body = s.do(t, http.MethodGet, metricsPath, "", nil, cookie)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.NotContains(t, string(body), "db_")

	resp, body = s.get(t, "/pulse.js", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "export function connect")
}

// checkAnonymousStream checks that the metrics stream refuses requests
// without a valid token, whatever the transport.
func checkAnonymousStream(t *testing.T, s *service) {
	for _, token := range []string{"", "not-a-token"} {
		resp, _ := s.get(t, metricsPath, token)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		resp, _ = s.do(t, http.MethodGet, metricsPath, token, nil, http.Header{"Accept": {"text/event-stream"}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

		dialCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
		conn, resp, err := s.dial(dialCtx, token, "")
		stop()
		require.Error(t, err)
		require.Nil(t, conn)
		require.NotNil(t, resp)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
}

// checkViewerStream opens the viewer's stream (into *viewer) and checks it
// carries the viewer's series only, before and after a subscribe that asks
// for more.
func checkViewerStream(streamCtx context.Context, t *testing.T, s *service, viewer **websocket.Conn) {
	jsonHdr := http.Header{"Content-Type": {"application/json"}}
	conn, _, err := s.dial(streamCtx, viewerToken, "")
	require.NoError(t, err)
	*viewer = conn
	check := func(m *message) {
		for _, n := range m.names() {
			require.True(t, viewerMaySee(n), "viewer received %q in a %s message", n, m.Type)
		}
	}
	seen := map[string]bool{}
	var placed float64
	for _, m := range readConnect(streamCtx, t, conn) {
		check(m)
		for _, n := range m.names() {
			seen[n] = true
		}
		if m.Type == "snapshot" {
			placed = number(t, m.Values["orders_placed_total"])
		}
	}
	for _, n := range []string{"orders_placed_total", "orders_by_status", "http_requests_total", "http_requests_in_flight"} {
		require.True(t, seen[n], "viewer does not see %s", n)
	}

	// Subscribing cannot widen what Authorize granted.
	require.NoError(t, conn.Write(streamCtx, websocket.MessageText, []byte(`{"type":"subscribe","patterns":["db_*","internal_*","*"]}`)))
	// An order placed now shows in a later delta; every message up to
	// it carries the viewer's series only.
	resp, body := s.do(t, http.MethodPost, "/api/orders", adminToken, strings.NewReader(`{"item":"duck","quantity":1}`), jsonHdr)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
	for {
		m, err := read(streamCtx, t, conn)
		require.NoError(t, err, "waiting for the new order")
		check(m)
		if v, ok := m.Values["orders_placed_total"]; ok && m.Type != "history" && number(t, v) >= placed+1 {
			break
		}
	}

	// The plain GET agrees, and ?match= cannot widen it either.
	resp, body = s.get(t, metricsPath, viewerToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var snap message
	require.NoError(t, json.Unmarshal(body, &snap))
	require.NotEmpty(t, snap.Series)
	check(&snap)
	resp, body = s.get(t, metricsPath+"?match=db_*", viewerToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	snap = message{}
	require.NoError(t, json.Unmarshal(body, &snap))
	require.Empty(t, snap.Series)
	require.Empty(t, snap.Values)
}

// checkAdminStream opens the admin's stream (into *admin) and checks it
// carries every series.
func checkAdminStream(streamCtx context.Context, t *testing.T, s *service, admin **websocket.Conn) {
	conn, _, err := s.dial(streamCtx, adminToken, "")
	require.NoError(t, err)
	*admin = conn
	seen := map[string]bool{}
	for _, m := range readConnect(streamCtx, t, conn) {
		for _, n := range m.names() {
			seen[n] = true
		}
	}
	for _, n := range []string{
		"orders_placed_total", "orders_by_status", "http_requests_total", "http_requests_in_flight",
		"db_pool_in_use_connections", "db_pool_open_connections", "db_pool_max_connections", "db_queries_total",
		"internal_goroutines", "internal_build_info", "pulse_clients",
	} {
		require.True(t, seen[n], "admin does not see %s", n)
	}
}

// waitFor polls cond until it holds, failing the test past a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// requireGoroutinesSettle waits, with a deadline, until no more than n
// goroutines exist.
func requireGoroutinesSettle(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
		<-tick.C
	}
}

func TestRunBadAddr(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()
	err := run(context.Background(), "256.0.0.1:bad", func(string) { t.Error("ready called") })
	require.Error(t, err)
	requireGoroutinesSettle(t, goroutinesBefore)
}

func TestAuthorizeMetrics(t *testing.T) {
	req := func(u *user) *http.Request {
		r, err := http.NewRequest(http.MethodGet, "/ws/metrics", nil)
		require.NoError(t, err)
		if u != nil {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
		return r
	}
	status := func(err error) int {
		var sc interface{ StatusCode() int }
		require.True(t, errors.As(err, &sc), "%v", err)
		return sc.StatusCode()
	}

	// Without the middleware in front, nobody gets in.
	_, err := authorizeMetrics(req(nil))
	require.Equal(t, http.StatusUnauthorized, status(err))
	_, err = authorizeMetrics(req(&user{Name: "mallory", Role: "intern"}))
	require.Equal(t, http.StatusForbidden, status(err))

	a, err := authorizeMetrics(req(userByToken(adminToken)))
	require.NoError(t, err)
	require.Equal(t, pulse.Access{}, a)
	a, err = authorizeMetrics(req(userByToken(viewerToken)))
	require.NoError(t, err)
	require.Equal(t, []string{"orders_*", "http_*"}, a.Patterns)

	require.Nil(t, userByToken(""))
	require.Nil(t, userByToken("demo-admin-token "))
}

func TestHTTPStatsRoutes(t *testing.T) {
	stats := newHTTPStats()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	h := authenticate(stats.middleware(mux))
	for _, path := range []string{"/api/orders/1", "/api/orders/2", "/nowhere"} {
		r, err := http.NewRequest(http.MethodGet, path, nil)
		require.NoError(t, err)
		r.Header.Set("Authorization", "Bearer "+viewerToken)
		h.ServeHTTP(discard{http.Header{}}, r)
	}
	ms, err := stats.collect(context.Background())
	require.NoError(t, err)
	got := map[string]float64{}
	for _, m := range ms {
		require.NoError(t, m.Validate())
		got[m.Key()] = m.Value
	}
	require.Equal(t, map[string]float64{
		`http_requests_total{code="404",method="GET",route="/api/orders/{id}"}`: 2,
		`http_requests_total{code="404",method="GET",route="unmatched"}`:        1,
	}, got)
	require.Zero(t, stats.inFlight.Value())
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

func TestPublicURL(t *testing.T) {
	for _, tc := range []struct{ addr, bound, want string }{
		{"localhost:8080", "127.0.0.1:8080", "http://localhost:8080/"},
		{"127.0.0.1:0", "127.0.0.1:41234", "http://127.0.0.1:41234/"},
		{":8080", "[::]:8080", "http://localhost:8080/"},
		{"[::1]:9000", "[::1]:9000", "http://[::1]:9000/"},
	} {
		require.Equal(t, tc.want, publicURL(tc.addr, fakeAddr(tc.bound)), tc.addr)
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
