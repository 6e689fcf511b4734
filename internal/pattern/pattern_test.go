package pattern

import (
	"path"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		p, name string
		want    bool
	}{
		{"go_*", "go_goroutines", true},
		{"go_*", "http_go", false},
		{"*", "", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*a*b*c", "xaxbxc", true},
		{"**", "x", true},
		{"?", "", false},
		{"http_*_total", "http_requests_total", true},
		{strings.Repeat("*a", 30) + "*b", strings.Repeat("a", 150), false},
		{"*_total", "http_requests_total", true},
		{"queue_?_length", "queue_ab_length", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	} {
		if got := Match(tc.p, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.p, tc.name, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []string{"", strings.Repeat("a", MaxLen+1), "a b", "a[b]", `a\*`, "../x", "a\xff"} {
		if Validate(p) == nil {
			t.Errorf("Validate(%q) accepted it", p)
		}
	}
	for _, p := range []string{"*", "go_*", "a?b:c", strings.Repeat("a", MaxLen)} {
		if err := Validate(p); err != nil {
			t.Errorf("Validate(%q): %v", p, err)
		}
	}
}

func TestValidateIn(t *testing.T) {
	for _, p := range []string{"http.server.*", "a-b/c?", "go_*"} {
		if err := ValidateIn(p, "./-"); err != nil {
			t.Errorf("ValidateIn(%q, \"./-\"): %v", p, err)
		}
		if p != "go_*" && Validate(p) == nil {
			t.Errorf("Validate(%q) accepted a character of the wider alphabet", p)
		}
	}
	for _, p := range []string{"", "a b", "a[b]", `a\*`, strings.Repeat("a", MaxLen+1)} {
		if ValidateIn(p, "./-") == nil {
			t.Errorf("ValidateIn(%q, \"./-\") accepted it", p)
		}
	}
}

// FuzzMatch checks Match against path.Match, which has the same meaning on
// the grammar's alphabet (no '/', '[' or '\').
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"go_*", "go_goroutines"}, {"*", ""}, {"a?c", "abc"}, {"*a*b*c", "xaxbxc"},
		{"**", "x"}, {"?", ""}, {"http_*_total", "http_requests_total"},
		{strings.Repeat("*a", 20) + "b", strings.Repeat("a", 100)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, name string) {
		if Validate(p) != nil {
			return
		}
		for i := 0; i < len(name); i++ {
			if !nameByte(name[i]) {
				return
			}
		}
		want, err := path.Match(p, name)
		if err != nil {
			t.Fatalf("path.Match(%q): %v", p, err)
		}
		if got := Match(p, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, path.Match says %v", p, name, got, want)
		}
	})
}
