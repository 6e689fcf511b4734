package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// wireProxy is a TCP proxy in front of the demo that reads what passes:
// for each WebSocket connection, the upgrade's request target, the
// Sec-WebSocket-Extensions the server answered, how many data frames came
// compressed (RSV1) and the first message (inflated). cut closes every
// WebSocket connection without a close frame, as a lost network would.
type wireProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	ws    []*wsSeen
	conns []net.Conn // both ends of every WebSocket connection
}

// wsSeen is what the proxy saw of one WebSocket connection.
type wsSeen struct {
	path       string
	extensions string
	frames     int
	compressed int
	first      string
}

func newWireProxy(t *testing.T, target string) *wireProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &wireProxy{t: t, ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *wireProxy) url() string { return "http://" + p.ln.Addr().String() + "/" }

// serve forwards one connection; a WebSocket upgrade is watched.
func (p *wireProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	cr := bufio.NewReader(c)
	req, err := http.ReadRequest(cr)
	if err != nil {
		return
	}
	if err := req.Write(up); err != nil {
		return
	}
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
		go func() { _, _ = io.Copy(up, cr) }()
		_, _ = io.Copy(c, up)
		return
	}
	seen := &wsSeen{path: req.URL.RequestURI()}
	p.mu.Lock()
	p.ws = append(p.ws, seen)
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, cr) }()
	sr := bufio.NewReader(io.TeeReader(up, c)) // what is read is forwarded
	resp, err := http.ReadResponse(sr, nil)
	if err != nil {
		return
	}
	p.mu.Lock()
	seen.extensions = resp.Header.Get("Sec-WebSocket-Extensions")
	p.mu.Unlock()
	for {
		rsv1, op, payload, err := readServerFrame(sr)
		if err != nil {
			return
		}
		if op != 1 { // text: every pulse message
			continue
		}
		p.mu.Lock()
		seen.frames++
		if rsv1 {
			seen.compressed++
		}
		if seen.frames == 1 {
			seen.first = inflated(rsv1, payload)
		}
		p.mu.Unlock()
	}
}

// readServerFrame reads one unmasked, unfragmented server frame.
func readServerFrame(r *bufio.Reader) (rsv1 bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, err = io.ReadFull(r, l[:])
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, err = io.ReadFull(r, l[:])
		n = binary.BigEndian.Uint64(l[:])
	}
	if err != nil {
		return
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return h[0]&0x40 != 0, h[0] & 0x0f, payload, err
}

// inflated is a message's text: payload, inflated if compressed.
func inflated(rsv1 bool, payload []byte) string {
	if !rsv1 {
		return string(payload)
	}
	tail := []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}
	out, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(tail))))
	if err != nil {
		return "inflate: " + err.Error()
	}
	return string(out)
}

// seen returns a copy of what the proxy saw of each WebSocket connection.
func (p *wireProxy) seen() []wsSeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]wsSeen, len(p.ws))
	for i, s := range p.ws {
		out[i] = *s
	}
	return out
}

// cut closes every WebSocket connection, both ends, with no close frame.
func (p *wireProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// TestBrowserWireV2 loads the demo's dashboard through a proxy that reads
// the wire: Chromium asks for v2, negotiates permessage-deflate (the
// server answers server_no_context_takeover and sends compressed frames)
// and renders the dashboard from them. Then the proxy cuts the connection:
// pulse.js reconnects with the Hub's epoch and its last seq, the server
// resumes (a hello with "resume", no catalogue) and the page is live again
// with moving values. The Hub's dashboard (/dashboard/) gets the same.
func TestBrowserWireV2(t *testing.T) {
	b := newBrowser(t)
	srv := startDemo(t, "127.0.0.1:0")
	srv.waitSeq(5)
	px := newWireProxy(t, srv.addr)

	b.navigate(px.url())
	b.waitFor("the status to show live", jsState+` === "live"`)
	b.waitFor("the figures", jsFigures)
	seq := eval[int](b, jsSeq)
	b.waitFor("the seq to move", fmt.Sprintf(`%s > %d`, jsSeq, seq))

	ws := px.seen()
	require.Len(t, ws, 1)
	first := ws[0]
	require.Contains(t, first.path, "v=2", "pulse.js asks for protocol v2")
	require.Contains(t, first.extensions, "permessage-deflate", "Chromium offered deflate and the server took it")
	require.Contains(t, first.extensions, "server_no_context_takeover")
	require.Positive(t, first.compressed, "compressed frames reached the browser (of %d)", first.frames)
	require.Contains(t, first.first, `"type":"hello"`)
	require.Contains(t, first.first, `"version":2`)
	require.Contains(t, first.first, `"id":`, "the catalogue has ids")
	require.NotContains(t, first.first, `"resume"`)

	px.cut()
	eventually(t, "pulse.js to reconnect through the proxy", func() bool {
		ws := px.seen()
		return len(ws) >= 2 && ws[1].frames >= 2
	})
	second := px.seen()[1]
	require.Contains(t, second.path, "epoch=", "the reconnect presents the Hub's epoch")
	require.Contains(t, second.path, "seq=")
	require.Contains(t, second.first, `"resume":`, "the server resumed: %s", second.first)
	require.NotContains(t, second.first, `"series"`, "a resume sends no catalogue")
	t.Logf("first connection %s: %d frames, %d compressed; after the cut %s: first message %s",
		first.path, first.frames, first.compressed, second.path, second.first)

	b.waitFor("live again", jsState+` === "live"`)
	seq = eval[int](b, jsSeq)
	b.waitFor("the seq to move after the resume", fmt.Sprintf(`%s > %d`, jsSeq, seq))
	b.waitFor("the figures after the resume", jsFigures)

	// The Hub's own dashboard (every series) draws from v2 compressed too.
	b.navigate(px.url() + "dashboard/")
	b.waitFor("the dashboard live", jsDashState+` === "live"`)
	b.waitFor("every series charted", jsEverySeries+` && dashboard.client.state.series.size > 50`)
	ws = px.seen()
	dash := ws[len(ws)-1]
	require.Contains(t, dash.path, "v=2")
	require.Contains(t, dash.extensions, "permessage-deflate")
	require.Positive(t, dash.compressed, "compressed frames reached the dashboard (of %d)", dash.frames)
	requireBrowserHistory(t, b, srv.url)
	b.noPageErrors()
}
