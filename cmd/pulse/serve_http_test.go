package main

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-pulse/pulse/subscriber"
)

const bearer = "Bearer s3cret-token-for-tests"

// snapshotKeys is GET /ws/metrics's series keys, with a header.
func (s *served) snapshotKeys(header ...string) (int, map[string]float64) {
	s.t.Helper()
	code, _, body := s.request(http.MethodGet, "/ws/metrics", "", header...)
	if code != http.StatusOK {
		return code, nil
	}
	var snap struct {
		Values map[string]json.RawMessage `json:"values"`
	}
	require.NoError(s.t, json.Unmarshal([]byte(body), &snap))
	out := map[string]float64{}
	for k, v := range snap.Values {
		var f float64
		_ = json.Unmarshal(v, &f)
		out[k] = f
	}
	return code, out
}

func TestServePush(t *testing.T) {
	s := startServe(t, "-token", strings.TrimPrefix(bearer, "Bearer "), "-max-push-bytes", "2048")
	push := func(body string, header ...string) (int, string) {
		code, h, b := s.request(http.MethodPost, pushPath, body, header...)
		if code != http.StatusOK {
			require.Equal(t, "application/json", h.Get("Content-Type"), b)
			return code, errorOf(t, b)
		}
		return code, b
	}

	code, body := push(`[{"name":"orders_total","value":1}]`)
	require.Equal(t, http.StatusUnauthorized, code, body)
	require.Contains(t, body, "Authorization: Bearer")
	code, body = push(`[{"name":"orders_total","value":1}]`, "Authorization", "Bearer wrong")
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, _, _ = s.request(http.MethodPost, pushPath+"?access_token=s3cret-token-for-tests", `[{"name":"orders_total","value":1}]`)
	require.Equal(t, http.StatusUnauthorized, code, "a push's token must be in its header, not its URL")

	for _, tc := range []struct{ body, why string }{
		{`{"name":"x","value":1}`, "malformed batch"},
		{`[{"name":"x","value":1}`, "malformed batch"},
		{`[{"name":"x"}]`, "metrics[0] (x): no value"},
		{`[{"name":"x","value":"many"}]`, `metrics[0]: value "many": want a number`},
		{`[{"name":"x","value":1,"kind":"histogram"}]`, `kind "histogram"`},
		{`[{"name":"x","value":1,"colour":"red"}]`, `metrics[0]: json: unknown field "colour"`},
		{`[{"name":"good_one","value":1},{"name":"bad name","value":2}]`, `metrics[1]: pulse: invalid metric: name "bad name"`},
		{`[] []`, "malformed batch: data after the JSON value"},
	} {
		code, body := push(tc.body, "Authorization", bearer)
		require.Equal(t, http.StatusBadRequest, code, tc.body)
		require.Contains(t, body, tc.why, tc.body)
	}
	code, body = push(`[{"name":"big","value":1,"help":"`+strings.Repeat("x", 2048)+`"}]`, "Authorization", bearer)
	require.Equal(t, http.StatusRequestEntityTooLarge, code, body)

	code, body = push(`[{"name":"orders_total","kind":"counter","value":10,"labels":{"shop":"eu"},"help":"Orders"},{"name":"temperature_celsius","value":"NaN"}]`, "Authorization", bearer)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"accepted":2}`, body)

	sub := dialServe(t, s.ws(), &subscriber.Options{HTTPHeader: http.Header{"Authorization": {bearer}}})
	eventually(t, func() bool { _, ok := sub.Value(`orders_total{shop="eu"}`); return ok }, "the pushed counter")
	v, _ := sub.Value(`orders_total{shop="eu"}`)
	require.Equal(t, subscriber.KindCounter, v.Kind)
	require.Equal(t, "Orders", v.Help)
	eventually(t, func() bool {
		code, body := push(`[{"name":"orders_total","kind":"counter","value":`+itoaF(v.Value+10)+`,"labels":{"shop":"eu"}}]`, "Authorization", bearer)
		require.Equal(t, http.StatusOK, code, body)
		v, _ = sub.Value(`orders_total{shop="eu"}`)
		return v.HasRate && v.Rate > 0
	}, "a rate for the pushed counter")
	_, keys := s.snapshotKeys("Authorization", bearer)
	require.NotContains(t, keys, "good_one", "nothing of a refused batch is taken")
	require.NotContains(t, keys, "x")
}

// errorOf is the reason a push answer gives.
func errorOf(t *testing.T, body string) string {
	var e struct{ Error string }
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.NotEmpty(t, e.Error, body)
	return e.Error
}

func itoaF(f float64) string { b, _ := json.Marshal(f); return string(b) }

// A batch that would take the Hub past -max-series is refused whole.
func TestServePushPastMaxSeries(t *testing.T) {
	s := startServe(t, "-token", strings.TrimPrefix(bearer, "Bearer "), "-max-series", "3")
	code, _, body := s.request(http.MethodPost, pushPath, `[{"name":"a","value":1},{"name":"b","value":1},{"name":"c","value":1},{"name":"d","value":1}]`, "Authorization", bearer)
	require.Equal(t, http.StatusInsufficientStorage, code)
	require.Contains(t, errorOf(t, body), "too many series")
}

// On loopback, the stream answers only requests for a loopback name: a
// hostile page whose name resolves to 127.0.0.1 (DNS rebinding) gets 403.
func TestServeAllowHost(t *testing.T) {
	s := startServe(t)
	code, _, _ := s.request(http.MethodGet, "/ws/metrics", "", "Host", "evil.example:8080")
	require.Equal(t, http.StatusForbidden, code)
	code, _, _ = s.request(http.MethodGet, "/ws/metrics", "", "Host", "localhost:8080")
	require.Equal(t, http.StatusOK, code)
	s = startServe(t, "-allow-host", "metrics.example.com")
	code, _, _ = s.request(http.MethodGet, "/ws/metrics", "", "Host", "metrics.example.com")
	require.Equal(t, http.StatusOK, code)
	code, _, _ = s.request(http.MethodGet, "/ws/metrics", "")
	require.Equal(t, http.StatusForbidden, code, "127.0.0.1 is not in the list given")
}

func TestServePushOff(t *testing.T) {
	s := startServe(t)
	code, _, body := s.request(http.MethodPost, pushPath, `[{"name":"x","value":1}]`, "Authorization", bearer)
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, body, "push is off: start pulse serve with -token or -tokens")
	code, _, _ = s.request(http.MethodGet, pushPath, "")
	require.Equal(t, http.StatusMethodNotAllowed, code)
}

// Tokens from a file: each may write and read only its patterns.
func TestServeTokensFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"tokens": [
		{"name": "django", "token": "django-secret", "write": ["django_*"], "read": ["django_*"]},
		{"name": "widget", "token": "widget-secret", "read": ["django_active_users"]}
	]}`), 0o600))
	s := startServe(t, "-tokens", file, "-public-read", "pulse_scrape_*")
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	code, _, body := s.request(http.MethodPost, pushPath, `[{"name":"django_active_users","value":3},{"name":"django_orders_total","kind":"counter","value":1}]`, auth("django-secret")...)
	require.Equal(t, http.StatusOK, code, body)
	code, _, body = s.request(http.MethodPost, pushPath, `[{"name":"django_x","value":3},{"name":"other","value":1}]`, auth("django-secret")...)
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, errorOf(t, body), `metrics[1]: token "django" may not write other`)
	code, _, body = s.request(http.MethodPost, pushPath, `[{"name":"django_x","value":3}]`, auth("widget-secret")...)
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, errorOf(t, body), `token "widget" may not write`)

	eventually(t, func() bool { _, keys := s.snapshotKeys(auth("django-secret")...); return len(keys) == 2 }, "both pushed series")
	_, keys := s.snapshotKeys(auth("widget-secret")...)
	require.Equal(t, map[string]float64{"django_active_users": 3}, keys, "the widget reads only its series")
	// A browser passes the token in the URL or a cookie.
	code, _, _ = s.request(http.MethodGet, "/ws/metrics?access_token=widget-secret", "")
	require.Equal(t, http.StatusOK, code)
	code, _, _ = s.request(http.MethodGet, "/ws/metrics", "", "Cookie", tokenCookie+"=widget-secret")
	require.Equal(t, http.StatusOK, code)
	code, _, _ = s.request(http.MethodGet, "/ws/metrics", "", auth("wrong")...)
	require.Equal(t, http.StatusUnauthorized, code)
	// Without a token: the public series only.
	code, keys = s.snapshotKeys()
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, keys, "no pulse_scrape_* series without targets, and nothing else is public")

	// The WebSocket, with the token in the URL as a page would pass it.
	sub := dialServe(t, s.ws()+"?access_token=widget-secret", nil)
	eventually(t, func() bool { _, ok := sub.Value("django_active_users"); return ok }, "the widget's series over the WebSocket")
	require.Len(t, sub.Values(), 1)
	_, err := subscriber.Dial(t.Context(), s.ws()+"?access_token=wrong", subscriber.Options{})
	require.ErrorIs(t, err, subscriber.ErrUnauthorized)
}

func TestServeReadNeedsToken(t *testing.T) {
	s := startServe(t, "-token", strings.TrimPrefix(bearer, "Bearer "))
	code, _, _ := s.request(http.MethodGet, "/ws/metrics", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _, _ = s.request(http.MethodGet, "/ws/metrics", "", "Authorization", bearer)
	require.Equal(t, http.StatusOK, code)

	// The dashboard: ?access_token= becomes a cookie, and leaves the URL.
	s.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	code, h, _ := s.request(http.MethodGet, "/dashboard/?access_token="+strings.TrimPrefix(bearer, "Bearer ")+"&title=x", "")
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, "/dashboard/?title=x", h.Get("Location"))
	c := h.Get("Set-Cookie")
	require.Contains(t, c, tokenCookie+"=s3cret-token-for-tests")
	require.Contains(t, c, "HttpOnly")
	require.Contains(t, c, "SameSite=Strict")
	code, _, _ = s.request(http.MethodGet, "/dashboard/?access_token=wrong", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _, body := s.request(http.MethodGet, "/dashboard/", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<title>pulse serve</title>")
	code, h, _ = s.request(http.MethodGet, "/", "")
	require.Equal(t, http.StatusFound, code)
	require.Equal(t, "/dashboard/", h.Get("Location"))
}

// A page on another origin (a Django site on :8000) may open the stream and
// read the snapshot, SSE and pulse.js only when -allow-origin says so.
func TestServeAllowOrigin(t *testing.T) {
	const app = "http://localhost:8000"
	for _, allowed := range []bool{false, true} {
		var s *served
		if allowed {
			s = startServe(t, "-allow-origin", app+",*.example.com")
		} else {
			s = startServe(t)
		}
		for _, path := range []string{"/ws/metrics", "/pulse.js"} {
			code, h, _ := s.request(http.MethodGet, path, "", "Origin", app)
			require.Equal(t, http.StatusOK, code, path)
			require.Equal(t, "Origin", h.Get("Vary"), path)
			if allowed {
				require.Equal(t, app, h.Get("Access-Control-Allow-Origin"), path)
			} else {
				require.Empty(t, h.Get("Access-Control-Allow-Origin"), path)
			}
		}
		code, h, _ := s.request(http.MethodOptions, "/ws/metrics", "", "Origin", app, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
		if allowed {
			require.Equal(t, http.StatusNoContent, code)
			require.Contains(t, h.Get("Access-Control-Allow-Headers"), "Authorization")
		} else {
			require.NotEqual(t, http.StatusNoContent, code)
		}
		_, h, _ = s.request(http.MethodGet, "/ws/metrics", "", "Origin", "https://shop.example.com", "Accept", "application/json")
		require.Equal(t, allowed, h.Get("Access-Control-Allow-Origin") == "https://shop.example.com", "a host pattern")
		_, h, _ = s.request(http.MethodGet, "/ws/metrics", "", "Origin", "http://evil.test")
		require.Empty(t, h.Get("Access-Control-Allow-Origin"))

		// The WebSocket's origin check is the Hub's.
		sub, err := subscriber.Dial(t.Context(), s.ws(), subscriber.Options{HTTPHeader: http.Header{"Origin": {app}}})
		if allowed {
			require.NoError(t, err)
			require.NoError(t, sub.Close())
		} else {
			require.ErrorIs(t, err, subscriber.ErrForbidden)
		}
		_, err = subscriber.Dial(t.Context(), s.ws(), subscriber.Options{HTTPHeader: http.Header{"Origin": {"http://evil.test"}}})
		require.ErrorIs(t, err, subscriber.ErrForbidden)
	}
}

// -h documents every flag; bad flags are usage errors that say why.
func TestServeUsage(t *testing.T) {
	code, stdout, _ := pulseCmd(t, "serve", "-h")
	require.Equal(t, 0, code)
	var c serveConfig
	var l listFlag
	serveFlags(&c, &l, &l, &l, &l).VisitAll(func(f *flag.Flag) {
		require.Regexp(t, `(?m)^  -`+f.Name+` `, stdout, "-h documents -%s", f.Name)
	})
	code, stdout, _ = pulseCmd(t, "help")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "pulse serve [flags]")

	file := filepath.Join(t.TempDir(), "tokens.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"tokens": [{"token": "t", "write": ["a b"]}]}`), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-scrape", "ftp://x/metrics"}, `-scrape "ftp://x/metrics": want an http:// or https:// URL`},
		{[]string{"-scrape", "http://h:1/a", "-scrape", "http://h:1/b"}, `both are instance "h:1"`},
		{[]string{"-interval", "0s"}, "-interval 0s: at least 1ms"},
		{[]string{"-tokens", file}, `token "unnamed": invalid pattern: "a b": character ' ' not allowed`},
		{[]string{"-tokens", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{[]string{"-public-read", "a b"}, `-public-read: invalid pattern: "a b": character ' ' not allowed`},
		{[]string{"-allow-origin", "["}, "-allow-origin"},
		{[]string{"extra"}, "targets are given with -scrape URL"},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
	} {
		code, _, stderr := pulseCmd(t, append([]string{"serve", "-addr", "127.0.0.1:0"}, tc.args...)...)
		require.Equal(t, 2, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, tc.args)
	}
	code, _, stderr := pulseCmd(t, "serve", "-addr", "127.0.0.1:99999")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "pulse serve: listen:")
}

// SIGINT (ctx) shuts down the Hub and the server: connected clients get a
// going-away close, and serve exits 0 (checked by startServe's cleanup).
func TestServeShutdown(t *testing.T) {
	s := startServe(t)
	var lost = make(chan struct{}, 1)
	sub := dialServe(t, s.ws(), &subscriber.Options{OnUpdate: func(u subscriber.Update) {
		if u.Type == subscriber.UpdateDisconnected {
			select {
			case lost <- struct{}{}:
			default:
			}
		}
	}})
	require.True(t, sub.Connected())
	require.Equal(t, 0, s.stop())
	select {
	case <-lost:
	case <-time.After(testDeadline):
		t.Fatal("the client was not disconnected")
	}
	require.Contains(t, s.stderr.String(), "pulse serve: shutting down")
}
