package active

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// idLen is the length of the visitor ids Middleware issues: 128 random bits
// in lower-case hex.
const idLen = 32

// Middleware returns a handler that records a visit for each request, then
// calls next. Wrap the routes whose requests are visits (pages, not
// assets or the metrics endpoint).
//
// The visitor is identified by Options.IdentifyFunc when it is set and
// returns a non-empty id, else by the cookie Options.CookieName (default
// "pulse_visitor"). A request without that cookie, or with a value that is
// not an id Middleware issued (32 lower-case hex digits), gets a new random
// 128-bit id from crypto/rand in a cookie with Path=/, HttpOnly,
// SameSite=Lax, Max-Age Options.CookieMaxAge (default 1 year) and Secure
// when the request came over TLS (or Options.SecureCookie is set). A client
// that refuses cookies is a new visitor on every request.
//
// The breakdown value is Options.LabelFunc(r), if set; see SeenOn.
//
// The returned handler is safe for concurrent use.
func (t *Tracker) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var value string
		if t.labelOf != nil {
			value = t.labelOf(r)
		}
		t.SeenOn(t.visitor(w, r), value)
		next.ServeHTTP(w, r)
	})
}

// visitor returns the request's visitor id, setting a new cookie if
// needed.
func (t *Tracker) visitor(w http.ResponseWriter, r *http.Request) string {
	if t.identify != nil {
		if id := t.identify(r); id != "" {
			return id
		}
	}
	if c, err := r.Cookie(t.cookieName); err == nil && validID(c.Value) {
		return c.Value
	}
	id := newID()
	http.SetCookie(w, &http.Cookie{
		Name:     t.cookieName,
		Value:    id,
		Path:     "/",
		MaxAge:   t.cookieMaxAge,
		HttpOnly: true,
		Secure:   t.secure || r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	return id
}

// validID reports whether v has the form of the ids newID returns.
func validID(v string) bool {
	if len(v) != idLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// newID returns a random 128-bit visitor id in hex.
func newID() string {
	var b [idLen / 2]byte
	_, _ = rand.Read(b[:]) // never returns an error; crashes the program if the system's source fails
	return hex.EncodeToString(b[:])
}
