package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"

	"github.com/go-pulse/pulse"
)

// role is what a user may do and see.
type role string

const (
	// roleAdmin sees every metric, the database's and the Hub's included.
	roleAdmin role = "admin"
	// roleViewer sees the business and HTTP metrics only.
	roleViewer role = "viewer"
)

// user is a signed-in user.
type user struct {
	Name     string
	Role     role
	password string
	token    string
}

// demoUsers stand in for the service's user store. DEMO ONLY: the
// passwords and tokens are in the source. A real service keeps users in a
// database with hashed passwords, and issues random, expiring session ids.
var demoUsers = []*user{
	{Name: "admin", Role: roleAdmin, password: "admin", token: "demo-admin-token"},
	{Name: "viewer", Role: roleViewer, password: "viewer", token: "demo-viewer-token"},
}

// viewerPatterns are the metric names a viewer may see: orders and HTTP
// traffic, not the database (db_*), the process (internal_*) or the Hub
// (pulse_*).
var viewerPatterns = []string{"orders_*", "http_*"}

// patternsFor returns the metric-name patterns u may see; nil means every
// series.
func patternsFor(u *user) []string {
	if u.Role == roleAdmin {
		return nil
	}
	return viewerPatterns
}

// sessionCookie names the cookie POST /login sets.
const sessionCookie = "session"

type userKey struct{}

// userFrom returns the user authenticate found for the request, or nil.
func userFrom(ctx context.Context) *user {
	u, _ := ctx.Value(userKey{}).(*user)
	return u
}

// authenticate finds the user of a request, from an "Authorization: Bearer"
// header or the session cookie, and puts it in the request's context. It
// rejects nothing: requireUser and requireLogin do, on the routes that need
// a user.
func authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := ""
		if h := r.Header.Get("Authorization"); h != "" {
			if t, ok := strings.CutPrefix(h, "Bearer "); ok {
				token = t
			}
		} else if c, err := r.Cookie(sessionCookie); err == nil {
			token = c.Value
		}
		if u := userByToken(token); u != nil {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
		next.ServeHTTP(w, r)
	})
}

func userByToken(token string) *user {
	if token == "" {
		return nil
	}
	for _, u := range demoUsers {
		if subtle.ConstantTimeCompare([]byte(token), []byte(u.token)) == 1 {
			return u
		}
	}
	return nil
}

// requireUser answers 401 to a request without a user: for the API and the
// metrics stream, whose clients are programs.
func requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if userFrom(r.Context()) == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orders"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "sign in first"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireLogin sends a browser without a session to the login page.
func requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if userFrom(r.Context()) == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusError is an error carrying the HTTP status the Hub answers with
// when Authorize returns it.
type statusError int

func (e statusError) Error() string   { return http.StatusText(int(e)) }
func (e statusError) StatusCode() int { return int(e) }

// authorizeMetrics is the Hub's Options.Authorize: who may connect was
// decided by authenticate and requireUser in front of the Hub; this decides
// what they see. It checks for a user again, so that the Hub stays closed
// even if it is mounted without the middleware by mistake.
func authorizeMetrics(r *http.Request) (pulse.Access, error) {
	u := userFrom(r.Context())
	if u == nil {
		return pulse.Access{}, statusError(http.StatusUnauthorized)
	}
	switch u.Role {
	case roleAdmin, roleViewer:
		return pulse.Access{Patterns: patternsFor(u)}, nil
	}
	return pulse.Access{}, statusError(http.StatusForbidden)
}

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Orders</title>
<link rel="icon" href="data:,">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.5rem 0}</style>
</head>
<body>
<h1>Orders back office</h1>
{{if .Failed}}<p role="alert">Wrong user name or password.</p>{{end}}
<form method="post" action="/login">
<label>User <input name="user" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button>Sign in</button>
</form>
<p><small>Demo users: <code>admin</code> / <code>admin</code> sees every metric;
<code>viewer</code> / <code>viewer</code> sees <code>orders_*</code> and <code>http_*</code> only.</small></p>
</body>
</html>
`))

func loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginTemplate.Execute(w, struct{ Failed bool }{r.URL.Query().Has("failed")})
}

// login checks the form's user and password and sets the session cookie.
// The cookie is HttpOnly (no script reads it) and SameSite=Lax (another
// site's form cannot post with it).
func login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	name, password := r.PostFormValue("user"), r.PostFormValue("password")
	for _, u := range demoUsers {
		if name == u.Name && subtle.ConstantTimeCompare([]byte(password), []byte(u.password)) == 1 {
			http.SetCookie(w, &http.Cookie{
				Name:     sessionCookie,
				Value:    u.token,
				Path:     "/",
				HttpOnly: true,
				Secure:   r.TLS != nil,
				SameSite: http.SameSiteLaxMode,
			})
			http.Redirect(w, r, "/admin", http.StatusSeeOther)
			return
		}
	}
	http.Redirect(w, r, "/login?failed", http.StatusSeeOther)
}

func logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// writeJSON writes v as the JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
