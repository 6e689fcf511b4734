package active

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })

// get requests url with the given cookies and returns the response, whose
// body is read and closed.
func get(t *testing.T, c *http.Client, url string, header http.Header, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok", string(body), "the wrapped handler ran")
	return resp
}

func visitorCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == name {
			require.Nil(t, found, "one cookie")
			found = c
		}
	}
	return found
}

func TestMiddlewareCookie(t *testing.T) {
	tr, _ := newTracker(t, Options{})
	srv := httptest.NewServer(tr.Middleware(ok))
	defer srv.Close()
	c := srv.Client()

	resp := get(t, c, srv.URL+"/", nil)
	ck := visitorCookie(t, resp, "pulse_visitor")
	require.NotNil(t, ck, "a first visit gets a cookie")
	assert.True(t, validID(ck.Value), "id %q", ck.Value)
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	assert.Equal(t, "/", ck.Path)
	assert.Equal(t, 365*24*3600, ck.MaxAge)
	assert.False(t, ck.Secure, "plain HTTP")
	raw := resp.Header.Get("Set-Cookie")
	assert.Contains(t, raw, "HttpOnly")
	assert.Contains(t, raw, "SameSite=Lax")
	assert.Equal(t, 1, tr.Count())

	// The cookie is reused: same visitor, no new cookie.
	resp = get(t, c, srv.URL+"/other", nil, &http.Cookie{Name: ck.Name, Value: ck.Value})
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	assert.Equal(t, 1, tr.Count())

	// Another browser is another visitor with another id.
	resp = get(t, c, srv.URL+"/", nil)
	ck2 := visitorCookie(t, resp, "pulse_visitor")
	require.NotNil(t, ck2)
	assert.NotEqual(t, ck.Value, ck2.Value)
	assert.Equal(t, 2, tr.Count())
}

func TestMiddlewareBadCookie(t *testing.T) {
	tr, _ := newTracker(t, Options{})
	srv := httptest.NewServer(tr.Middleware(ok))
	defer srv.Close()
	for _, bad := range []string{
		"x",
		strings.Repeat("a", 31),
		strings.Repeat("a", 33),
		strings.Repeat("A", 32), // upper case: not an id we issued
		strings.Repeat("g", 32),
		"0123456789abcdef0123456789abcde-",
	} {
		resp := get(t, srv.Client(), srv.URL+"/", nil, &http.Cookie{Name: "pulse_visitor", Value: bad})
		ck := visitorCookie(t, resp, "pulse_visitor")
		require.NotNil(t, ck, "%q is replaced", bad)
		assert.True(t, validID(ck.Value))
		assert.NotEqual(t, bad, ck.Value)
	}
	_, by := tr.Counts()
	assert.Nil(t, by)
	assert.Equal(t, 6, tr.Count(), "each bad cookie became a new visitor")
	total, _ := tr.Counts()
	assert.Equal(t, 6, total)
	tr.Seen(strings.Repeat("A", 32))
	assert.Equal(t, 7, tr.Count(), "the bad values themselves were never counted")
}

func TestMiddlewareIdentifyFunc(t *testing.T) {
	tr, _ := newTracker(t, Options{
		IdentifyFunc: func(r *http.Request) string { return r.Header.Get("X-User") },
	})
	srv := httptest.NewServer(tr.Middleware(ok))
	defer srv.Close()
	c := srv.Client()
	user := http.Header{"X-User": {"user-42"}}

	resp := get(t, c, srv.URL+"/", user)
	assert.Nil(t, visitorCookie(t, resp, "pulse_visitor"), "an identified visitor needs no cookie")
	get(t, c, srv.URL+"/", user, &http.Cookie{Name: "pulse_visitor", Value: strings.Repeat("0", 32)})
	assert.Equal(t, 1, tr.Count(), "the user, whatever its cookie")
	tr.Seen("user-42")
	assert.Equal(t, 1, tr.Count(), "identified by IdentifyFunc's id")

	// IdentifyFunc returns "": the cookie identifies the visitor.
	resp = get(t, c, srv.URL+"/", nil)
	ck := visitorCookie(t, resp, "pulse_visitor")
	require.NotNil(t, ck)
	get(t, c, srv.URL+"/", nil, ck)
	assert.Equal(t, 2, tr.Count())
}

func TestMiddlewareLabelFunc(t *testing.T) {
	tr, _ := newTracker(t, Options{
		Label:     "page",
		LabelFunc: func(r *http.Request) string { return r.URL.Path },
	})
	srv := httptest.NewServer(tr.Middleware(ok))
	defer srv.Close()
	c := srv.Client()
	a := visitorCookie(t, get(t, c, srv.URL+"/", nil), "pulse_visitor")
	get(t, c, srv.URL+"/about", nil, a)
	get(t, c, srv.URL+"/", nil)
	total, by := tr.Counts()
	assert.Equal(t, 2, total)
	assert.Equal(t, map[string]int{"/": 2, "/about": 1}, by)
}

func TestMiddlewareSecureAndOptions(t *testing.T) {
	tr, _ := newTracker(t, Options{})
	tlsSrv := httptest.NewTLSServer(tr.Middleware(ok))
	defer tlsSrv.Close()
	ck := visitorCookie(t, get(t, tlsSrv.Client(), tlsSrv.URL+"/", nil), "pulse_visitor")
	require.NotNil(t, ck)
	assert.True(t, ck.Secure, "TLS request")

	tr2, _ := newTracker(t, Options{CookieName: "vid", CookieMaxAge: 24 * 3600e9, SecureCookie: true})
	srv := httptest.NewServer(tr2.Middleware(ok))
	defer srv.Close()
	resp := get(t, srv.Client(), srv.URL+"/", nil)
	assert.Nil(t, visitorCookie(t, resp, "pulse_visitor"))
	ck = visitorCookie(t, resp, "vid")
	require.NotNil(t, ck)
	assert.True(t, ck.Secure, "SecureCookie behind a TLS-terminating proxy")
	assert.Equal(t, 24*3600, ck.MaxAge)
	assert.True(t, ck.HttpOnly)
}
