package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/pattern"
)

// How a request presents a token: the Authorization header, or, for a
// browser's WebSocket and EventSource (which cannot set headers), the
// access_token query parameter (RFC 6750) or the pulse_token cookie.
const (
	tokenParam  = "access_token"
	tokenCookie = "pulse_token"
)

// grant is what one token allows: the series it may publish and those it
// may read, as name patterns.
type grant struct {
	Name  string   `json:"name"`  // for the logs
	Token string   `json:"token"` // the secret
	Write []string `json:"write"` // patterns of the metrics it may push
	Read  []string `json:"read"`  // patterns of the series it may see
}

// tokenFile is the file given with -tokens.
type tokenFile struct {
	Tokens []grant `json:"tokens"`
}

// access is the token store of pulse serve: the grants by the hash of
// their token, and the series anyone may read without one. It is read
// only after start, so safe for concurrent use.
type access struct {
	grants map[[sha256.Size]byte]*grant
	public []string // patterns readable without a token; nil: none (or all, without grants)
}

// errNoToken and errBadToken answer 401; errNoRead answers 403.
var (
	errNoToken  = statusErr{http.StatusUnauthorized, "a token is required: Authorization: Bearer <token>, ?" + tokenParam + "= or the " + tokenCookie + " cookie"}
	errBadToken = statusErr{http.StatusUnauthorized, "unknown token"}
	errNoRead   = statusErr{http.StatusForbidden, "this token may not read"}
)

// statusErr is an error with the HTTP status that answers it; the Hub's
// Authorize uses StatusCode.
type statusErr struct {
	code int
	msg  string
}

func (e statusErr) Error() string   { return e.msg }
func (e statusErr) StatusCode() int { return e.code }

// newAccess builds the store from -token (which may write and read every
// series), the -tokens file and -public-read.
func newAccess(token, file string, public []string) (*access, error) {
	a := &access{grants: map[[sha256.Size]byte]*grant{}, public: public}
	var gs []grant
	if token != "" {
		gs = append(gs, grant{Name: "-token", Token: token, Write: []string{"*"}, Read: []string{"*"}})
	}
	if file != "" {
		more, err := readTokenFile(file)
		if err != nil {
			return nil, err
		}
		gs = append(gs, more...)
	}
	for i := range gs {
		g := &gs[i]
		if err := checkGrant(g); err != nil {
			return nil, err
		}
		h := sha256.Sum256([]byte(g.Token))
		if a.grants[h] != nil {
			return nil, fmt.Errorf("token of %q: the same token is given twice", g.Name)
		}
		a.grants[h] = g
	}
	for _, p := range public {
		if err := pattern.Validate(p); err != nil {
			return nil, fmt.Errorf("-public-read: invalid pattern: %w", err)
		}
	}
	return a, nil
}

// readTokenFile reads a -tokens file: {"tokens": [{"name", "token",
// "write", "read"}, ...]}, strictly (an unknown field is an error).
func readTokenFile(path string) ([]grant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-tokens: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f tokenFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("-tokens %s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("-tokens %s: data after the JSON object", path)
	}
	if len(f.Tokens) == 0 {
		return nil, fmt.Errorf(`-tokens %s: no tokens (want {"tokens": [{"name": ..., "token": ..., "write": [...], "read": [...]}]})`, path)
	}
	return f.Tokens, nil
}

func checkGrant(g *grant) error {
	if g.Name == "" {
		g.Name = "unnamed"
	}
	if strings.TrimSpace(g.Token) == "" {
		return fmt.Errorf("token %q: empty token", g.Name)
	}
	if len(g.Write) == 0 && len(g.Read) == 0 {
		return fmt.Errorf("token %q: neither write nor read patterns: it would allow nothing", g.Name)
	}
	for _, p := range append(append([]string(nil), g.Write...), g.Read...) {
		if err := pattern.Validate(p); err != nil {
			return fmt.Errorf("token %q: invalid pattern: %w", g.Name, err)
		}
	}
	return nil
}

// enabled reports whether any token is configured.
func (a *access) enabled() bool { return len(a.grants) > 0 }

// presented returns the token a request carries, and whether it carries
// one: the Authorization header first, then the query parameter, then the
// cookie.
func presented(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", true // some other scheme: a token, but not one of ours
		}
		return strings.TrimSpace(tok), true
	}
	if tok := r.URL.Query().Get(tokenParam); tok != "" {
		return tok, true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// lookup finds the grant of a token. The store is keyed by the token's
// SHA-256, so the time a lookup takes depends on the hash of a guess, not
// on how much of the token it got right.
func (a *access) lookup(tok string) *grant {
	return a.grants[sha256.Sum256([]byte(tok))]
}

// authorize is the Hub's Options.Authorize: a valid token sees its read
// patterns; a request without one sees the -public-read series, or gets
// 401 when there are none; an unknown token gets 401.
func (a *access) authorize(r *http.Request) (pulse.Access, error) {
	tok, ok := presented(r)
	if !ok {
		if len(a.public) > 0 {
			return pulse.Access{Patterns: a.public}, nil
		}
		if !a.enabled() {
			return pulse.Access{}, nil
		}
		return pulse.Access{}, errNoToken
	}
	g := a.lookup(tok)
	switch {
	case g == nil:
		return pulse.Access{}, errBadToken
	case len(g.Read) == 0:
		return pulse.Access{}, errNoRead
	}
	return pulse.Access{Patterns: g.Read}, nil
}

// writer returns the grant allowed to push with r, whose token must be in
// its Authorization header: 401 without a valid token, 403 when no token
// is configured at all.
func (a *access) writer(r *http.Request) (*grant, error) {
	if !a.enabled() {
		return nil, statusErr{http.StatusForbidden, "push is off: start pulse serve with -token or -tokens to accept it"}
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, statusErr{http.StatusUnauthorized, "a token is required in the header Authorization: Bearer <token>"}
	}
	tok = strings.TrimSpace(tok)
	g := a.lookup(tok)
	if g == nil {
		return nil, errBadToken
	}
	if len(g.Write) == 0 {
		return nil, statusErr{http.StatusForbidden, fmt.Sprintf("token %q may not write", g.Name)}
	}
	return g, nil
}

// mayWrite reports whether g may push a metric named name.
func (g *grant) mayWrite(name string) bool {
	return pattern.Any(g.Write, name)
}

// asStatus returns the status and message of an error of this file.
func asStatus(err error) (int, string) {
	var se statusErr
	if errors.As(err, &se) {
		return se.code, se.msg
	}
	return http.StatusInternalServerError, err.Error()
}
