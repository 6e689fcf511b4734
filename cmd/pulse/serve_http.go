package main

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/go-pulse/pulse"
)

// serveMux routes pulse serve's requests, as a Go host mounts a Hub.
func serveMux(hub *pulse.Hub, acc *access, c *serveConfig) http.Handler {
	cors := corsPolicy{origins: c.origins}
	mux := http.NewServeMux()
	mux.Handle("/ws/metrics", cors.wrap(hub))
	mux.Handle("/dashboard/", tokenLogin(acc, pulse.Dashboard(hub, pulse.DashboardTitle("pulse serve"))))
	mux.Handle("/pulse.js", cors.wrap(pulse.JS()))
	mux.Handle(pushPath, &pusher{hub: hub, access: acc, maxBytes: c.maxPushBytes})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard/", http.StatusFound)
	})
	return mux
}

// corsPolicy lets the pages of the -allow-origin origins read the snapshot,
// the Server-Sent Events stream and pulse.js from another origin (CORS).
// The WebSocket's origin check is the Hub's own (Options.OriginPatterns,
// given the same origins). Patterns are matched as coder/websocket matches
// OriginPatterns: against the origin's host, or against scheme://host when
// the pattern has a scheme, with path.Match, case-insensitively.
type corsPolicy struct {
	origins []string
}

func (c corsPolicy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if !c.allowed(origin) {
			next.ServeHTTP(w, r) // no CORS headers: the browser keeps the answer from the page
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD")
			h.Set("Access-Control-Allow-Headers", "Authorization, Accept, Cache-Control, Last-Event-ID")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowed reports whether origin matches one of the patterns.
func (c corsPolicy) allowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	for _, p := range c.origins {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); ok && err == nil {
			return true
		}
	}
	return false
}

// tokenLogin lets a browser open the dashboard when reading needs a
// token: /dashboard/?access_token=... sets the token as an HttpOnly,
// SameSite=Strict cookie (which the dashboard's stream then carries) and
// redirects to the same page without it, so the token leaves the address
// bar and the history.
func tokenLogin(acc *access, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get(tokenParam)
		if tok == "" || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		if g := acc.lookup(tok); g == nil || len(g.Read) == 0 {
			http.Error(w, "pulse serve: unknown token, or one that may not read", http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: tokenCookie, Value: tok, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		})
		u := *r.URL
		q := u.Query()
		q.Del(tokenParam)
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
	})
}
