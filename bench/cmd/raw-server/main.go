// Command raw-server is the floor: no WebSocket library. It answers the
// upgrade handshake by hand, then one goroutine per connection writes the
// pre-framed bytes of each broadcast (one shared []byte, framed once) with
// a plain net.Conn.Write: no write deadline, no pings, no reader. A
// connection whose 256-message buffer is full misses that message
// (counted).
package main

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-pulse/pulse/bench/internal/srv"
	"github.com/go-pulse/pulse/bench/internal/wsproto"
)

type server struct {
	mu      sync.Mutex
	conns   map[*conn]struct{}
	list    []*conn // snapshot for the broadcaster, rebuilt on change
	dirty   bool
	dropped atomic.Uint64
	n       atomic.Int64
}

type conn struct {
	c    net.Conn
	send chan []byte
}

func (s *server) handshake(c net.Conn) bool {
	br := bufio.NewReaderSize(c, 1024)
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || key == "" {
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		return false
	}
	_, err = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsproto.AcceptKey(key))
	return err == nil
}

func (s *server) serve(c net.Conn) {
	defer c.Close()
	if !s.handshake(c) {
		return
	}
	cn := &conn{c: c, send: make(chan []byte, 256)}
	s.mu.Lock()
	s.conns[cn] = struct{}{}
	s.dirty = true
	s.mu.Unlock()
	s.n.Add(1)
	defer func() {
		s.mu.Lock()
		delete(s.conns, cn)
		s.dirty = true
		s.mu.Unlock()
		s.n.Add(-1)
	}()
	for frame := range cn.send {
		if _, err := c.Write(frame); err != nil {
			return
		}
	}
}

func (s *server) broadcast(msg []byte) {
	frame := wsproto.AppendServerFrame(make([]byte, 0, len(msg)+10), wsproto.OpText, msg)
	s.mu.Lock()
	if s.dirty {
		s.list = s.list[:0]
		for c := range s.conns {
			s.list = append(s.list, c)
		}
		s.dirty = false
	}
	list := s.list
	s.mu.Unlock()
	for _, c := range list {
		select {
		case c.send <- frame:
		default:
			s.dropped.Add(1)
		}
	}
}

func main() {
	f := srv.ParseFlags()
	srv.RaiseNoFile()
	s := &server{conns: make(map[*conn]struct{})}
	ln, err := srv.Listen(f.Addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			go s.serve(c)
		}
	}()
	loop, err := srv.NewLoop(f, s.broadcast, func() int { return int(s.n.Load()) })
	if err != nil {
		log.Fatal(err)
	}
	srv.Run(f, ln, driver{loop, s})
}

type driver struct {
	*srv.Loop
	s *server
}

func (d driver) Stats() map[string]any {
	st := d.Loop.Stats()
	st["dropped_messages"] = d.s.dropped.Load()
	return st
}
