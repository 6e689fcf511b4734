package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMeasure runs the measurements briefly against the real demo: every
// client connects and reads deltas, the deflate clients negotiate it, and
// the cut client resumes.
func TestMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo")
	}
	ctx := context.Background()
	d, err := startDemo(ctx, "../../../examples/server", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	d.uptime(2 * time.Second)
	for _, o := range []dialOpts{{v2: true, deflate: true}, {deflate: true}, {v2: true}} {
		out := measureConnect(ctx, d.wsURL, o, 2)
		t.Log(out)
		if !strings.Contains(out, "steady delta over 2 deltas") {
			t.Errorf("%v: %s", o, out)
		}
		if o.deflate != strings.Contains(out, "server_no_context_takeover") {
			t.Errorf("%v: deflate negotiated %v: %s", o, !o.deflate, out)
		}
	}
	out := measureResume(ctx, d.wsURL, time.Second)
	t.Log(out)
	if !strings.Contains(out, "until live again: resumed") {
		t.Errorf("resume: %s", out)
	}
}
