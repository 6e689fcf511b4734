package names

import (
	"strings"
	"testing"
)

func TestSelector(t *testing.T) {
	var all Selector
	if !all.Wanted("anything") {
		t.Fatal("the zero Selector keeps every name")
	}
	var s Selector
	if err := s.Add("http_*", "go_gc_?"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"http_requests_total": true, "go_gc_x": true, "go_gc_xy": false, "grpc_x": false} {
		if got := s.Wanted(name); got != want {
			t.Errorf("Wanted(%q) = %v, want %v", name, got, want)
		}
	}
	if err := s.Keep(func(name string) bool { return !strings.HasSuffix(name, "_total") }); err != nil {
		t.Fatal(err)
	}
	if s.Wanted("http_requests_total") || !s.Wanted("http_x") {
		t.Error("a name must pass both the patterns and keep")
	}
	if s.Keep(nil) == nil {
		t.Error("Keep(nil) accepted")
	}
}

func TestSelectorRefusesBadPatterns(t *testing.T) {
	var s Selector
	for _, p := range []string{"", "http_[a]", `a\*`, "http.server.*"} {
		if s.Add("ok_*", p) == nil {
			t.Errorf("Add(%q) accepted it", p)
		}
	}
	if len(s.patterns) != 0 {
		t.Errorf("a refused Add added patterns: %q", s.patterns)
	}
	if err := s.AddIn("./-", "http.server.*", "a-b/c"); err != nil {
		t.Fatal(err)
	}
	if !s.Wanted("http.server.duration") || s.Wanted("http_server_duration") {
		t.Error("instrument-name patterns match as written")
	}
}
