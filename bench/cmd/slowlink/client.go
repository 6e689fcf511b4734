package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/go-pulse/pulse/bench/internal/slowread"
)

// dialer dials TCP connections whose receive buffer is rcvbuf bytes, read
// at bps bytes a second, counting the bytes taken in read.
func dialer(rcvbuf, bps int, read *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := slowread.Dialer(&net.Dialer{}, rcvbuf)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return slowread.New(c, bps, read), nil
	}
}

// disconnect is a connection that ended.
type disconnect struct {
	At     time.Duration // since the client started
	Reason string
}

// client is one slow reader: it connects as pulse.js does (?match=*&v=2,
// permessage-deflate offered), applies every message to a view, and
// reconnects after a cut (without resume: every connection starts with a
// hello and a snapshot, the worst case for a slow link).
type client struct {
	name    string
	url     string
	deflate bool // offer permessage-deflate, as browsers do
	sse     bool // Server-Sent Events (what pulse.js falls back to) instead of a WebSocket
	bps     int
	rcvbuf  int

	mu          sync.Mutex
	start       time.Time
	recv        []float64 // staleness at each tick applied, seconds
	recvAt      []float64 // when, seconds since the start
	lastMsg     time.Time // the last message received
	silence     time.Duration
	firstSynced time.Duration // when the first snapshot was applied
	sampled     []float64     // staleness sampled every 250 ms, seconds
	ticksPer    map[uint64]int
	merged      int
	resyncs     int
	messages    int
	linkBytes   atomic.Int64 // bytes read from the socket (compressed)
	interval    int64
	version     int
	disconnects []disconnect
	violations  []string
	v           view
}

func (c *client) run(ctx context.Context) {
	c.start = time.Now()
	c.ticksPer = map[uint64]int{}
	go c.sample(ctx)
	for ctx.Err() == nil {
		err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.disconnects = append(c.disconnects, disconnect{At: time.Since(c.start).Round(time.Second), Reason: reason(err)})
		c.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond): // pulse.js's first backoff
		}
	}
}

func reason(err error) string {
	if s := websocket.CloseStatus(err); s != -1 {
		return fmt.Sprintf("close %d", s)
	}
	return err.Error()
}

// session is one connection, until it ends.
func (c *client) session(ctx context.Context) error {
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer(c.rcvbuf, c.bps, &c.linkBytes)}}
	if c.sse {
		return c.sseSession(ctx, hc)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	ws, _, err := websocket.Dial(dctx, c.url, &websocket.DialOptions{HTTPClient: hc, CompressionMode: c.compression()})
	cancel()
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	c.mu.Lock()
	c.v, c.lastMsg = view{}, time.Time{}
	c.mu.Unlock()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		if err := c.message(data); err != nil {
			return err
		}
	}
}

func (c *client) message(data []byte) error {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.messages++
	if !c.lastMsg.IsZero() {
		c.silence = max(c.silence, now.Sub(c.lastMsg))
	}
	c.lastMsg = now
	a, err := c.v.apply(data)
	if err != nil {
		c.violations = append(c.violations, err.Error())
		return err
	}
	c.interval, c.version = c.v.interval, c.v.version
	if !a.tick {
		return nil
	}
	c.recv = append(c.recv, float64(now.UnixMilli()-c.v.ts)/1e3)
	c.recvAt = append(c.recvAt, now.Sub(c.start).Seconds())
	if c.firstSynced == 0 {
		c.firstSynced = now.Sub(c.start)
	}
	if a.ticks > 0 {
		c.ticksPer[a.ticks]++
	}
	if a.merged {
		c.merged++
	}
	if a.resync {
		c.resyncs++
	}
	return nil
}

// sample records the view's staleness every 250 ms, between messages too:
// a view that stops moving gets older.
func (c *client) sample(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.mu.Lock()
			if c.v.synced {
				c.sampled = append(c.sampled, float64(now.UnixMilli()-c.v.ts)/1e3)
			}
			c.mu.Unlock()
		}
	}
}

func (c *client) compression() websocket.CompressionMode {
	if c.deflate {
		return websocket.CompressionContextTakeover // what a browser offers; the Hub answers without context takeover
	}
	return websocket.CompressionDisabled
}

// sseSession is one Server-Sent Events stream, read as EventSource reads
// it: "data:" lines up to a blank line make one message.
func (c *client) sseSession(ctx context.Context, hc *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http"+strings.TrimPrefix(c.url, "ws"), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("SSE: HTTP %d", resp.StatusCode)
	}
	c.mu.Lock()
	c.v, c.lastMsg = view{}, time.Time{}
	c.mu.Unlock()
	br := bufio.NewReader(resp.Body)
	var data []byte
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0 && len(data) > 0:
			if err := c.message(data); err != nil {
				return err
			}
			data = nil
		case bytes.HasPrefix(line, []byte("data:")):
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		}
	}
}
