package main

import (
	"net"
	"testing"
	"time"
)

func TestParseSources(t *testing.T) {
	got, err := parseSources("127.0.0.2-127.0.0.9")
	if err != nil || len(got) != 8 || !got[0].Equal(net.ParseIP("127.0.0.2")) || !got[7].Equal(net.ParseIP("127.0.0.9")) {
		t.Fatalf("range: %v, %v", got, err)
	}
	if got, err = parseSources("127.0.0.1, 127.1.2.3"); err != nil || len(got) != 2 {
		t.Fatalf("list: %v, %v", got, err)
	}
	if got, err = parseSources(""); err != nil || got != nil {
		t.Fatalf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"10.0.0.1", "127.0.0.9-127.0.0.2", "127.0.0.2-127.0.1.3", "localhost", "::1"} {
		if _, err := parseSources(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestSourcesAreUsed dials a loopback listener from two source addresses
// and checks that each connection comes from the address it was given.
func TestSourcesAreUsed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srcs, _ := parseSources("127.0.0.2-127.0.0.3")
	for i, d := range dialers(srcs, 5*time.Second) {
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if ip := s.RemoteAddr().(*net.TCPAddr).IP; !ip.Equal(srcs[i]) {
			t.Errorf("connection %d came from %v, want %v", i, ip, srcs[i])
		}
		c.Close()
		s.Close()
	}
}

func TestCheckPorts(t *testing.T) {
	if err := checkPorts(100000, 1); err == nil {
		t.Error("100,000 connections from one address accepted")
	}
	if err := checkPorts(100000, 8); err != nil {
		t.Errorf("100,000 over 8 addresses: %v", err)
	}
}

func TestBackoffLikeTheSubscriber(t *testing.T) {
	b := backoff{min: 250 * time.Millisecond, max: 30 * time.Second, jitter: 0.5}
	for attempt, want := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second} {
		for range 100 {
			if d := b.delay(attempt, 0); d <= want/2 || d > want {
				t.Fatalf("attempt %d: %v, want in (%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if d := b.delay(20, 0); d > 30*time.Second || d <= 15*time.Second {
		t.Errorf("capped: %v", d)
	}
	if d := b.delay(0, 5*time.Second); d != 5*time.Second {
		t.Errorf("Retry-After 5s: waited %v", d)
	}
	if d := b.delay(0, time.Minute); d != 30*time.Second {
		t.Errorf("Retry-After past the cap: waited %v", d)
	}
}
