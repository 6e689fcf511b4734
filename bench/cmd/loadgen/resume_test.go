package main

import "testing"

func TestResumeTarget(t *testing.T) {
	resume = true
	defer func() { resume = false }()
	for _, tc := range []struct {
		path string
		rp   resumePoint
		want string
	}{
		{"/ws?v=2", resumePoint{}, "/ws?v=2"},
		{"/ws?v=2", resumePoint{epoch: "e1"}, "/ws?v=2"},
		{"/ws?v=2", resumePoint{epoch: "a b", seq: 42}, "/ws?v=2&epoch=a+b&seq=42"},
		{"/ws", resumePoint{epoch: "e1", seq: 7}, "/ws?epoch=e1&seq=7"},
	} {
		if got := resumeTarget(tc.path, tc.rp); got != tc.want {
			t.Errorf("resumeTarget(%q, %+v) = %q, want %q", tc.path, tc.rp, got, tc.want)
		}
	}
}

// A hello records the Hub's epoch; a resume hello also stands for the
// snapshot, so that the merged delta after it makes the client live.
func TestNoteHello(t *testing.T) {
	resume = true
	defer func() { resume = false }()
	cl := &client{}
	c := &conn{cl: cl}
	c.noteHello([]byte(`{"type":"hello","seq":5,"ts":1,"version":2,"epoch":"ab12","interval_ms":1000,"history":60,"catalogue":[]}`))
	if cl.rp.epoch != "ab12" || c.snapshot {
		t.Fatalf("fresh hello: epoch %q, snapshot %v", cl.rp.epoch, c.snapshot)
	}
	c.lastSeq, c.stampKey = 9, []byte(`"7":`)
	cl.keep(c)
	if got := resumeTarget("/ws?v=2", cl.rp); got != "/ws?v=2&epoch=ab12&seq=9" {
		t.Fatalf("target %q", got)
	}
	c2 := &conn{cl: cl}
	c2.noteHello([]byte(`{"type":"hello","seq":9,"ts":1,"version":2,"epoch":"ab12","interval_ms":1000,"history":60,"resume":9}`))
	if !c2.snapshot {
		t.Fatal("a resume hello does not stand for the snapshot")
	}
	if string(c2.stampKey) != `"7":` {
		t.Fatalf("stamp key %q after resume, want the last connection's", c2.stampKey)
	}
}
