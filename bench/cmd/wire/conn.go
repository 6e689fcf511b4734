package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// countingConn counts the bytes read from the TCP socket: what crossed the
// wire, HTTP response, frame headers and compressed payloads included.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// message is what the measurements read from a server message.
type message struct {
	Type   string  `json:"type"`
	Seq    uint64  `json:"seq"`
	From   *uint64 `json:"from"`
	Epoch  string  `json:"epoch"`
	Resume *uint64 `json:"resume"`
	Reason string  `json:"reason"`
	size   int     // plain (inflated) bytes
	frame  int     // its frame's bytes (see frameSize)
	wire   int64   // socket bytes read since the previous message
}

// client is one measured connection.
type client struct {
	c     *websocket.Conn
	read  atomic.Int64
	last  int64
	ext   string // the server's Sec-WebSocket-Extensions
	z     bool   // permessage-deflate negotiated
	epoch string
	seq   uint64
}

// dialOpts says how a client connects: the protocol version, whether it
// offers permessage-deflate (as browsers do), and where it resumes.
type dialOpts struct {
	v2, deflate bool
	epoch       string
	seq         uint64
}

func dial(ctx context.Context, wsURL string, o dialOpts) (*client, error) {
	cl := &client{}
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if o.v2 {
		q.Set("v", "2")
	}
	if o.epoch != "" {
		q.Set("epoch", o.epoch)
		q.Set("seq", strconv.FormatUint(o.seq, 10))
	}
	u.RawQuery = q.Encode()
	d := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, n: &cl.read}, nil
	}}
	mode := websocket.CompressionDisabled
	if o.deflate {
		mode = websocket.CompressionContextTakeover // offers "permessage-deflate" and takes what the server answers
	}
	c, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr}, CompressionMode: mode,
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	c.SetReadLimit(64 << 20)
	cl.c, cl.ext = c, resp.Header.Get("Sec-WebSocket-Extensions")
	cl.z = strings.Contains(cl.ext, "permessage-deflate")
	return cl, nil
}

// next reads one message and the socket bytes it took.
func (cl *client) next(ctx context.Context) (message, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, b, err := cl.c.Read(ctx)
	if err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("message %.60q: %w", b, err)
	}
	now := cl.read.Load()
	m.size, m.frame, m.wire, cl.last = len(b), frameSize(b, cl.z), now-cl.last, now
	if m.Epoch != "" {
		cl.epoch = m.Epoch
	}
	if m.Seq > cl.seq {
		cl.seq = m.Seq
	}
	return m, nil
}

// connect reads up to and including the first delta: it returns the socket
// bytes before it (handshake included) and the messages read.
func (cl *client) connect(ctx context.Context) (before int64, msgs []message, err error) {
	for {
		m, err := cl.next(ctx)
		if err != nil {
			return 0, msgs, err
		}
		msgs = append(msgs, m)
		if m.Type == "delta" {
			return cl.last - m.wire, msgs, nil
		}
		if m.Type == "error" {
			return 0, msgs, fmt.Errorf("server error before the first delta")
		}
	}
}

// deltas reads n deltas and returns their socket bytes each.
func (cl *client) deltas(ctx context.Context, n int) ([]int64, error) {
	var out []int64
	for len(out) < n {
		m, err := cl.next(ctx)
		if err != nil {
			return out, err
		}
		if m.Type == "delta" {
			out = append(out, m.wire)
		}
	}
	return out, nil
}

func (cl *client) close() { _ = cl.c.CloseNow() }
