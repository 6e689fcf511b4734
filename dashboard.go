package pulse

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// dashboardFS holds the dashboard's page, script and style sheet. The page
// is a template (title and subscription); the other files are served as
// they are.
//
//go:embed dashboard
var dashboardFS embed.FS

var dashboardPage = template.Must(template.ParseFS(dashboardFS, "dashboard/index.html"))

// dashboardStream is the path, relative to the dashboard's root, on which
// the Hub's stream is served.
const dashboardStream = "stream"

// dashboardCSP is the page's Content-Security-Policy: everything comes from
// the dashboard's own origin (the stream included); nothing inline.
const dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'"

// staticFile is one embedded file the dashboard or JS serves, with its
// strong ETag.
type staticFile struct {
	name  string
	ctype string
	body  []byte
	etag  string
}

func newStaticFile(name, ctype string, body []byte) *staticFile {
	sum := sha256.Sum256(body)
	return &staticFile{name: name, ctype: ctype, body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// dashboardFiles are the static files, by their name under the dashboard's
// root: every .js and .css file of the embedded directory (the page's
// modules and style sheet), and pulse.js, the package's client, the same
// file JS serves.
var dashboardFiles = func() map[string]*staticFile {
	entries, err := dashboardFS.ReadDir("dashboard")
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	types := map[string]string{".js": jsType, ".css": "text/css; charset=utf-8"}
	files := map[string]*staticFile{"pulse.js": clientFile}
	for _, e := range entries {
		name := e.Name()
		ctype := types[path.Ext(name)]
		if e.IsDir() || ctype == "" {
			continue
		}
		b, err := dashboardFS.ReadFile("dashboard/" + name)
		if err != nil {
			panic(err) // embedded at build time: cannot happen
		}
		files[name] = newStaticFile(name, ctype, b)
	}
	return files
}()

// A DashboardOption configures the handler returned by Dashboard.
type DashboardOption func(*dashboardConfig)

type dashboardConfig struct {
	title string
	match []string
}

// DashboardTitle sets the page's title and heading. Default "pulse".
func DashboardTitle(title string) DashboardOption {
	return func(c *dashboardConfig) { c.title = title }
}

// DashboardMatch sets the subscription patterns the page connects with
// (metric-name globs, as in the match query parameter of the Hub's route).
// Default "*": every series the connection may see. The filter box can
// narrow it further, on the page and, when asked, on the server. It is the
// page's starting view, not access control: with the filter sent to the
// server the page subscribes to other patterns; Options.Authorize is what
// limits the series a connection may see.
func DashboardMatch(patterns ...string) DashboardOption {
	return func(c *dashboardConfig) { c.match = append([]string(nil), patterns...) }
}

// Dashboard returns an http.Handler that serves a live dashboard of the
// Hub's series: a page charting every series the connection may see,
// starting full from the Hub's history, with its script, style sheet and
// pulse.js embedded (no CDN, nothing fetched from elsewhere; what the page
// shows and its keys are in the README). Mount it on a path prefix of any
// router, behind http.StripPrefix too; the page is at the prefix and the
// Hub's stream at "stream" below it:
//
//	mux.Handle("/dashboard/", pulse.Dashboard(hub))
//
// Access control: the stream is the Hub's own handler, so the Hub's origin
// check, Options.Authorize and MaxClients apply to it exactly as on the Hub's
// route. The page and its files hold no data and are public; to restrict
// them too, wrap the handler in the host's own authentication:
//
//	mux.Handle("/dashboard/", requireLogin(pulse.Dashboard(hub)))
//
// Defaults: title "pulse" (DashboardTitle), subscription "*"
// (DashboardMatch). Dashboard renders the page once; the handler holds no
// other state and is safe for concurrent use, and Dashboard may be called
// any number of times, for one Hub or many. It panics if h is nil or a
// pattern given with DashboardMatch is invalid (or there are more than the
// Hub's MaxPatterns): like a bad pattern given to http.Handle, those are
// programming errors.
func Dashboard(h *Hub, opts ...DashboardOption) http.Handler {
	if h == nil {
		panic("pulse: Dashboard of a nil Hub")
	}
	cfg := dashboardConfig{title: "pulse", match: []string{"*"}}
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.match) == 0 {
		cfg.match = []string{"*"}
	}
	for _, p := range cfg.match {
		if err := validPattern(p); err != nil {
			panic(fmt.Sprintf("DashboardMatch: %v", err)) // err carries the "pulse:" prefix
		}
	}
	if len(cfg.match) > h.opts.MaxPatterns {
		panic(fmt.Sprintf("pulse: DashboardMatch: %d patterns, the Hub allows %d", len(cfg.match), h.opts.MaxPatterns))
	}
	var page bytes.Buffer
	err := dashboardPage.Execute(&page, struct {
		Title       string
		Match       string
		MaxPatterns int
	}{cfg.title, strings.Join(cfg.match, ","), h.opts.MaxPatterns})
	if err != nil {
		panic(err) // the template is embedded and its data are strings
	}
	return &dashboard{hub: h, page: newStaticFile("index.html", "text/html; charset=utf-8", page.Bytes())}
}

// dashboard is the handler Dashboard returns. Below its mount point it
// serves:
//
//	""               a redirect (307, as http.ServeMux's) to the mount point with its trailing slash
//	"/"              the page (text/html, with a Content-Security-Policy that allows only its own origin)
//	"/dashboard.js"  its script (an ES module importing the other .js files
//	                 served next to it), "/dashboard.css" its style sheet,
//	                 "/pulse.js" the client (the file JS serves)
//	"/stream"        the Hub itself: Hub.ServeHTTP answers the WebSocket upgrade,
//	                 Server-Sent Events and the plain-GET JSON snapshot there
//
// and 404 for anything else. The files are served for GET and HEAD (others
// get 405) with a strong ETag and "Cache-Control: no-cache". The page refers
// to everything by relative URLs, so it works under any prefix; how the
// mount point is found is dashboardRest's.
type dashboard struct {
	hub  *Hub
	page *staticFile
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := dashboardRest(r)
	switch {
	case !ok:
		http.NotFound(w, r)
	case rest == "":
		redirectWithSlash(w, r)
	case rest == "/":
		d.page.serve(w, r, true)
	case rest == "/"+dashboardStream:
		d.hub.ServeHTTP(w, r)
	default:
		f := dashboardFiles[rest[1:]]
		if f == nil {
			http.NotFound(w, r)
			return
		}
		f.serve(w, r, false)
	}
}

// dashboardRest returns the request's path below the dashboard's mount
// point: "" for the mount point without its trailing slash, "/" for the
// page, "/name" for a file or the stream. ok is false for a path that is
// none of these. With http.ServeMux the mount point is the request's
// pattern (Request.Pattern, wildcards allowed). Under other routers, or
// when the path does not start with the pattern's (http.StripPrefix), it
// goes by the last element of the path: a path ending in "/" is the page, a
// known file name or "stream" is that file or the stream, another name with
// a dot is none, and one without is taken for the mount point without its
// slash (and redirected).
func dashboardRest(r *http.Request) (rest string, ok bool) {
	if rest, ok := belowPattern(r.Pattern, r.URL.Path); ok {
		// Nothing deeper than "/name" is the dashboard's.
		return rest, rest == "" || strings.Count(rest, "/") == 1
	}
	p := r.URL.Path
	switch {
	case p == "":
		return "", true // http.StripPrefix of the mount point itself
	case strings.HasSuffix(p, "/"):
		return "/", true
	}
	last := p[strings.LastIndexByte(p, '/')+1:]
	switch {
	case last == dashboardStream || dashboardFiles[last] != nil:
		return "/" + last, true
	case !strings.Contains(last, "."):
		return "", true
	}
	return "", false
}

// belowPattern returns what follows the mount point in path, when pattern
// (an http.ServeMux pattern, "[METHOD ][HOST]/PATH") is set and path starts
// with its segments. A trailing "{name...}" or "{$}" is not part of the mount
// point; other wildcards match any one segment.
func belowPattern(pattern, path string) (string, bool) {
	i := strings.IndexByte(pattern, '/')
	if i < 0 {
		return "", false
	}
	segs := strings.Split(pattern[i+1:], "/")
	if n := len(segs); segs[n-1] == "" || segs[n-1] == "{$}" || strings.HasSuffix(segs[n-1], "...}") {
		segs = segs[:n-1]
	}
	rest := path
	for _, seg := range segs {
		if !strings.HasPrefix(rest, "/") {
			return "", false
		}
		el, _, _ := strings.Cut(rest[1:], "/")
		if el != seg && !(strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}")) {
			return "", false
		}
		rest = rest[1+len(el):]
	}
	return rest, rest == "" || rest[0] == '/'
}

// redirectWithSlash redirects the mount point without its trailing slash
// to the mount point with it, with a relative Location ("dashboard/"), so
// that it is right whatever the host stripped from the path.
func redirectWithSlash(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
			p = u.Path
		}
	}
	last := p[strings.LastIndexByte(p, '/')+1:]
	if last == "" {
		http.NotFound(w, r)
		return
	}
	target := (&url.URL{Path: last + "/", RawQuery: r.URL.RawQuery}).String()
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusTemporaryRedirect) // as http.ServeMux does
}

func (f *staticFile) serve(w http.ResponseWriter, r *http.Request, page bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "pulse: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if page {
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("Referrer-Policy", "same-origin")
	}
	// ServeContent answers If-None-Match (304), Range and HEAD.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
