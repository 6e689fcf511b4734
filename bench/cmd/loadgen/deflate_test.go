package main

import (
	"bytes"
	"compress/flate"
	"testing"
)

func TestV2StampKey(t *testing.T) {
	hello := []byte(`{"type":"hello","seq":1,"version":2,"series":[{"id":3,"key":"bench_pad{i=\"00\"}","name":"bench_pad"},{"id":29,"key":"bench_sent_us","name":"bench_sent_us","kind":"gauge"}]}`)
	if got := string(v2StampKey(hello)); got != `"29":` {
		t.Errorf("v2StampKey = %q, want %q", got, `"29":`)
	}
	if k := v2StampKey([]byte(`{"type":"hello","version":2,"series":[]}`)); k != nil {
		t.Errorf("no stamp in the catalogue: got %q", k)
	}
}

// inflate reads what a permessage-deflate sender writes: a flate stream
// flushed, without its 00 00 ff ff tail; it leaves the bytes after p alone.
func TestInflate(t *testing.T) {
	msg := bytes.Repeat([]byte(`{"type":"delta","values":{"1":2.5}}`), 20)
	var z bytes.Buffer
	w, err := flate.NewWriter(&z, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(msg)
	_ = w.Flush()
	wire := append(bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff}), "NEXT"...)
	p := wire[:len(wire)-4]
	for range 2 { // the second time through a reused inflater
		got, err := inflate(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("inflated %q", got)
		}
	}
	if string(wire[len(wire)-4:]) != "NEXT" {
		t.Errorf("the bytes after the message were overwritten: %q", wire[len(wire)-4:])
	}
}
