package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-pulse/pulse/bench/internal/wsproto"
)

// rawConn is a WebSocket connection opened by hand: the attackers write
// frames no library sends, and never read unless told to.
type rawConn struct {
	net.Conn
	br  *bufio.Reader
	wmu sync.Mutex // writes: the reader answers pings while others send requests
}

// send writes one frame, serialised with the reader's pongs.
func (c *rawConn) send(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.Write(frame)
	return err
}

// dialWS opens a WebSocket to d with the query q; rcvbuf, if positive, is
// the socket's receive buffer, set before connecting. It reads the 101 and
// nothing more.
func (d *demo) dialWS(q string, rcvbuf int) (*rawConn, error) {
	dl := net.Dialer{Timeout: 30 * time.Second}
	if rcvbuf > 0 {
		dl.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	c, err := dl.Dial("tcp", d.addr)
	if err != nil {
		return nil, err
	}
	path := "/ws/metrics"
	if q != "" {
		path += "?" + q
	}
	_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
		path, d.addr, wsproto.NewKey())
	if err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 4096)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return &rawConn{Conn: c, br: br}, nil
}

// readMessages reads frames until the connection ends, calling fn with
// each data frame's payload (valid until fn returns), and answers the
// server's pings (a reader that did not would be closed after
// PingInterval + PingTimeout). It returns the close code, if the server
// sent one.
func (c *rawConn) readMessages(fn func(p []byte)) int {
	var scratch []byte
	for {
		f, err := wsproto.ReadHeader(c.br)
		if err != nil {
			return 0
		}
		p, err := wsproto.ReadPayload(c.br, f, &scratch)
		if err != nil {
			return 0
		}
		switch f.Op {
		case 0x9:
			if c.send(wsproto.AppendClientFrame(nil, 0xA, p)) != nil {
				return 0
			}
		case 0x8:
			if len(p) >= 2 {
				return int(p[0])<<8 | int(p[1])
			}
			return 0
		case 0x1, 0x0:
			if fn != nil {
				fn(p)
			}
		}
	}
}

// healthy is a client that reads everything and records when each delta
// arrives and how old it is (the server's ts against this clock: one
// machine).
type healthy struct {
	mu       sync.Mutex
	arrivals []time.Time
	lat      []time.Duration
	conn     *rawConn
}

func (d *demo) startHealthy() (*healthy, error) {
	c, err := d.dialWS("", 0)
	if err != nil {
		return nil, err
	}
	h := &healthy{conn: c}
	go c.readMessages(func(p []byte) {
		if !bytes.HasPrefix(p, []byte(`{"type":"delta"`)) {
			return
		}
		now := time.Now()
		h.mu.Lock()
		h.arrivals = append(h.arrivals, now)
		if i := bytes.Index(p[:min(len(p), 80)], []byte(`"ts":`)); i >= 0 {
			rest := p[i+5 : min(len(p), i+5+20)]
			if j := bytes.IndexAny(rest, ",}"); j > 0 {
				if ts, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
					h.lat = append(h.lat, now.Sub(time.UnixMilli(ts)))
				}
			}
		}
		h.mu.Unlock()
	})
	return h, nil
}

// maxGap is the longest time without a delta within [from, to].
func (h *healthy) maxGap(from, to time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	last, gap := from, time.Duration(0)
	for _, t := range h.arrivals {
		if t.Before(from) || t.After(to) {
			continue
		}
		gap = max(gap, t.Sub(last))
		last = t
	}
	return max(gap, to.Sub(last))
}

// latencies returns the delta ages recorded since the i-th.
func (h *healthy) latencies(i int) []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.lat[min(i, len(h.lat)):]...)
}

func (h *healthy) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lat)
}

// connectTime is how long a new client takes from dialling to its first
// snapshot.
func (d *demo) connectTime() (time.Duration, error) {
	start := time.Now()
	c, err := d.dialWS("", 0)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	got := make(chan struct{})
	go c.readMessages(func(p []byte) {
		if bytes.HasPrefix(p, []byte(`{"type":"snapshot"`)) {
			select {
			case <-got:
			default:
				close(got)
			}
		}
	})
	select {
	case <-got:
		return time.Since(start), nil
	case <-time.After(60 * time.Second):
		return 0, errors.New("no snapshot within 60 s")
	}
}

// fragment is a masked frame with FIN clear: op 1 starts a text message,
// op 0 continues it.
func fragment(op byte) []byte {
	return []byte{op, 0x80, 1, 2, 3, 4}
}
