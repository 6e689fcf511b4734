package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-pulse/pulse/bench/internal/payload"
	"github.com/go-pulse/pulse/bench/internal/wsproto"
)

var (
	keySeq      = []byte(`"seq":`)
	keySentNS   = []byte(`"sent_ns":`)
	keySentUS   = []byte(`"bench_sent_us":`)
	pongBody    = []byte("{}")
	preHello    = []byte(`{"type":"hello"`)
	preSnapshot = []byte(`{"type":"snapshot"`)
	preDelta    = []byte(`{"type":"delta"`)
	resyncMark  = []byte(`"reason":"resync"`)
	v2Version   = []byte(`"version":2`)
)

// conn is one WebSocket connection; its reader goroutine owns it.
type conn struct {
	c       net.Conn
	r       *bufio.Reader
	cl      *client // the client this connection belongs to
	gen     uint64  // the storm generation it was opened in
	lastSeq uint64
	scratch []byte
	frag    []byte // a fragmented message being assembled
	wbuf    []byte
	zmsg    bool   // the message being assembled is compressed (RSV1 on its first frame)
	plain   []byte // an inflated message
	// stampKey is bench_sent_us's key in this connection's values: the
	// name (v1) or, after a v2 hello, its id.
	stampKey []byte

	// What this connection delivered, for the storm's "live again".
	snapshot, delta bool
}

// handshakeError is an upgrade the server refused.
type handshakeError struct {
	status     int
	retryAfter time.Duration // the Retry-After header (seconds form), 0 if none
}

func (e *handshakeError) Error() string {
	if e.retryAfter > 0 {
		return fmt.Sprintf("handshake: HTTP %d, Retry-After %v", e.status, e.retryAfter)
	}
	return fmt.Sprintf("handshake: HTTP %d", e.status)
}

// dial opens one connection with d and upgrades it. path is the request
// target (a later resume variant only changes it, see client.target).
func dial(d *net.Dialer, addr, path string, bufSize int) (*conn, error) {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	key := wsproto.NewKey()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	if offerDeflate {
		req += deflateOffer
	}
	req += "\r\n"
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, err
	}
	r := bufio.NewReaderSize(c, bufSize)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		he := &handshakeError{status: resp.StatusCode}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			he.retryAfter = time.Duration(s) * time.Second
		}
		return nil, he
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != wsproto.AcceptKey(key) {
		c.Close()
		return nil, fmt.Errorf("handshake: bad Sec-WebSocket-Accept")
	}
	if offerDeflate && !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		c.Close()
		return nil, fmt.Errorf("handshake: permessage-deflate offered, not negotiated")
	}
	_ = c.SetDeadline(time.Time{})
	cn := &conn{c: c, r: r, stampKey: keySentUS}
	if proto == "centrifuge" {
		if err := cn.send(wsproto.OpText, []byte(`{"id":1,"connect":{}}`)); err != nil {
			c.Close()
			return nil, err
		}
	}
	return cn, nil
}

func (c *conn) send(op byte, p []byte) error {
	c.wbuf = wsproto.AppendClientFrame(c.wbuf[:0], op, p)
	_, err := c.c.Write(c.wbuf)
	return err
}

// readLoop reads frames until the connection ends.
func (c *conn) readLoop() {
	defer func() {
		c.c.Close()
		st.closed.Add(1)
	}()
	for {
		f, err := wsproto.ReadHeader(c.r)
		if err != nil {
			return
		}
		p, err := wsproto.ReadPayload(c.r, f, &c.scratch)
		if err != nil {
			return
		}
		switch f.Op {
		case wsproto.OpPing:
			if err := c.send(wsproto.OpPong, p); err != nil {
				return
			}
			continue
		case wsproto.OpPong:
			continue
		case wsproto.OpClose:
			_ = c.send(wsproto.OpClose, p)
			return
		case wsproto.OpContinuation:
			c.frag = append(c.frag, p...)
			if !f.Fin {
				continue
			}
			p, c.frag = c.frag, c.frag[:0]
		default:
			c.zmsg = f.Rsv1
			if !f.Fin {
				c.frag = append(c.frag[:0], p...)
				continue
			}
		}
		wire := uint64(f.HeaderLen + f.Len)
		if c.zmsg {
			if c.plain, err = inflate(c.plain[:0], p); err != nil {
				return
			}
			p = c.plain
		}
		if marking.Load() {
			st.frames.Add(1)
			st.wire.Add(wire)
		}
		if err := c.message(p, wire); err != nil {
			return
		}
	}
}

// message handles one complete data message of wire bytes.
func (c *conn) message(p []byte, wire uint64) error {
	now := time.Now().UnixNano()
	switch proto {
	case "generic":
		if c.stamped(p, wire, now) {
			c.live()
		}
	case "pulse":
		c.pulse(p, wire, now)
	case "centrifuge":
		lines := bytes.Count(p, []byte{'\n'}) + 1
		per := wire / uint64(lines)
		for len(p) > 0 {
			line := p
			if i := bytes.IndexByte(p, '\n'); i >= 0 {
				line, p = p[:i], p[i+1:]
			} else {
				p = nil
			}
			switch {
			case len(line) == 2 && line[0] == '{' && line[1] == '}':
				if err := c.send(wsproto.OpText, pongBody); err != nil {
					return err
				}
			case bytes.HasPrefix(line, []byte(`{"push":`)):
				if c.stamped(line, per, now) {
					c.live()
				}
			default:
				st.other.Add(1)
			}
		}
	}
	return nil
}

// pulse handles one message of pulse's protocol.
func (c *conn) pulse(p []byte, wire uint64, now int64) {
	switch {
	case bytes.HasPrefix(p, preSnapshot):
		if n := uint64(len(p)); n > st.fullState.Load() {
			st.fullState.Store(n)
		}
		if bytes.Contains(p, resyncMark) && marking.Load() {
			st.resyncs.Add(1)
		}
		c.snapshot = true
	case bytes.HasPrefix(p, preDelta):
		c.delta = c.snapshot
	case bytes.HasPrefix(p, preHello) && bytes.Contains(p, v2Version):
		if k := v2StampKey(p); k != nil {
			c.stampKey = k
		}
	}
	if c.snapshot && c.delta {
		c.live()
	}
	seq, _ := payload.Field(p, keySeq)
	if c.lastSeq != 0 && seq > c.lastSeq+1 && marking.Load() {
		st.drops.Add(seq - c.lastSeq - 1)
	}
	if seq > c.lastSeq {
		c.lastSeq = seq
	}
	us, ok := payload.FloatField(p, c.stampKey)
	if !ok || us == 0 || bytes.HasPrefix(p, preHello) {
		st.other.Add(1)
		return
	}
	if marking.Load() {
		st.delivered.Add(1)
		st.stampedWire.Add(wire)
		st.lat.Record(now - int64(us)*1000)
	}
	rcv.Add(1)
}

// stamped counts one generic payload found in p; it reports whether p was
// one.
func (c *conn) stamped(p []byte, wire uint64, now int64) bool {
	seq, ok1 := payload.Field(p, keySeq)
	sent, ok2 := payload.Field(p, keySentNS)
	if !ok1 || !ok2 {
		st.other.Add(1)
		return false
	}
	if marking.Load() {
		if c.lastSeq != 0 && seq > c.lastSeq+1 {
			st.drops.Add(seq - c.lastSeq - 1)
		}
		st.delivered.Add(1)
		st.stampedWire.Add(wire)
		st.lat.Record(now - int64(sent))
	}
	if seq > c.lastSeq {
		c.lastSeq = seq
	}
	rcv.Add(1)
	return true
}
