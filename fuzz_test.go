package pulse

import (
	"encoding/json"
	"path"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-pulse/pulse/internal/pattern"
)

// FuzzClientMessage: whatever a client sends, interpret never panics and
// returns either an error code or a valid subscription within the limit.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","patterns":["go_*","http_?x"]}`,
		`{"type":"unsubscribe","patterns":["*"]}`,
		`{"type":"snapshot"}`,
		`{"type":"subscribe","patterns":[]}`,
		`{"type":"subscribe","patterns":["a b"]}`,
		`{"type":1}`, `[]`, `null`, `{`, "\xff\xfe", `{"type":"subscribe","patterns":"x"}`,
		`{"type":"subscribe","patterns":["` + strings.Repeat("*a", 60) + `"]}`,
		strings.Repeat("[", 500) + strings.Repeat("]", 500),
	} {
		f.Add(true, []byte(s))
	}
	f.Add(false, []byte(`{"type":"snapshot"}`))
	f.Fuzz(func(t *testing.T, text bool, data []byte) {
		const max = 8
		r := interpret(text, data, []string{"*"}, max)
		switch {
		case r.code != "":
			if r.resend || r.subs != nil {
				t.Fatalf("error %q with an action: %+v", r.code, r)
			}
			if !utf8.ValidString(r.msg) || r.msg == "" {
				t.Fatalf("error message %q", r.msg)
			}
			if b := appendError(nil, r.code, r.msg); !json.Valid(b) {
				t.Fatalf("error message encodes to invalid JSON: %s", b)
			}
		case r.resend:
		default:
			if len(r.subs) > max {
				t.Fatalf("%d patterns > %d", len(r.subs), max)
			}
			for _, p := range r.subs {
				if err := validPattern(p); err != nil {
					t.Fatalf("accepted invalid pattern %q: %v", p, err)
				}
			}
		}
	})
}

// FuzzMatchPattern checks the grammar's matcher (internal/pattern) and the
// subscription filter built on it against path.Match, which has the same
// semantics on our alphabet (no '/', no '[' or '\').
func FuzzMatchPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"go_*", "go_goroutines"}, {"*", ""}, {"a?c", "abc"}, {"*a*b*c", "xaxbxc"},
		{"**", "x"}, {"?", ""}, {"http_*_total", "http_requests_total"},
		{strings.Repeat("*a", 20) + "b", strings.Repeat("a", 100)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, name string) {
		if validPattern(pat) != nil || validName(name) != nil && name != "" {
			return
		}
		want, err := path.Match(pat, name)
		if err != nil {
			t.Fatalf("path.Match(%q): %v", pat, err)
		}
		if got := pattern.Match(pat, name); got != want {
			t.Fatalf("pattern.Match(%q, %q) = %v, path.Match says %v", pat, name, got, want)
		}
		flt := newFilter([]string{pat}, nil)
		if flt.match(name) != want {
			t.Fatalf("filter disagrees for %q, %q", pat, name)
		}
		if name != "" { // a filter's name set, from a name table
			sees := flt.evaluate(&names{byID: []string{"other_name", name}})
			if sees.has(1) != want {
				t.Fatalf("name set disagrees for %q, %q", pat, name)
			}
		}
	})
}

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// FuzzMetricValidate checks Validate against the documented rules, and that
// valid metrics encode to valid JSON that round-trips.
func FuzzMetricValidate(f *testing.F) {
	f.Add("http_requests_total", "path", "/a\"b\\c\n")
	f.Add("1bad", "ok", "v")
	f.Add("ok", "__reserved", "v")
	f.Add("ok", "bad-label", "v")
	f.Add("ok", "l", "\xff")
	f.Add("a:b_c", "L9", "日本")
	f.Fuzz(func(t *testing.T, name, label, value string) {
		m := Metric{Name: name, Labels: Labels{label: value}, Help: value}
		err := m.Validate()
		want := nameRE.MatchString(name) && len(name) <= maxNameLen &&
			labelRE.MatchString(label) && !strings.HasPrefix(label, "__") && len(label) <= maxLabelNameLen &&
			utf8.ValidString(value) && len(value) <= maxLabelValueLen && len(value) <= maxHelpLen
		if (err == nil) != want {
			t.Fatalf("Validate(%q, %q=%q) = %v, want valid=%v", name, label, value, err, want)
		}
		if err != nil {
			return
		}
		key := m.Key()
		if !strings.HasPrefix(key, name+"{"+label+`="`) {
			t.Fatalf("key %q", key)
		}
		meta := newSeriesMeta(key, 0, 1, &m)
		var cat struct {
			Key    string            `json:"key"`
			Labels map[string]string `json:"labels"`
			Help   string            `json:"help"`
		}
		if err := json.Unmarshal(meta.jcat, &cat); err != nil {
			t.Fatalf("catalogue entry %s: %v", meta.jcat, err)
		}
		if cat.Key != key || cat.Labels[label] != value || cat.Help != value {
			t.Fatalf("round trip: %+v from %s", cat, meta.jcat)
		}
	})
}
