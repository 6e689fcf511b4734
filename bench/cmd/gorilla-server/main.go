// Command gorilla-server is the gorilla/websocket chat-hub pattern
// (github.com/gorilla/websocket/examples/chat) broadcasting one
// websocket.PreparedMessage per message: a hub goroutine owns the client
// set; each client has a buffered send channel, a writePump goroutine
// (write deadline, pings) and a readPump (read limit, pong deadline). As in
// the example, a client whose send buffer is full is dropped.
package main

import (
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/go-pulse/pulse/bench/internal/srv"
)

const (
	writeWait      = 10 * time.Second
	pongWait       = 60 * time.Second
	pingPeriod     = (pongWait * 9) / 10
	maxMessageSize = 512
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
	CheckOrigin:     func(*http.Request) bool { return true },
}

type client struct {
	hub  *hub
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
}

type hub struct {
	clients    map[*client]bool
	broadcast  chan *websocket.PreparedMessage
	register   chan *client
	unregister chan *client
	n          atomic.Int64
	dropped    atomic.Uint64 // clients dropped because their buffer was full
}

func newHub() *hub {
	return &hub{
		broadcast:  make(chan *websocket.PreparedMessage),
		register:   make(chan *client),
		unregister: make(chan *client),
		clients:    make(map[*client]bool),
	}
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
			h.n.Add(1)
		case c := <-h.unregister:
			if _, ok := h.clients[c]; ok {
				delete(h.clients, c)
				close(c.send)
				h.n.Add(-1)
			}
		case m := <-h.broadcast:
			for c := range h.clients {
				select {
				case c.send <- m:
				default:
					close(c.send)
					delete(h.clients, c)
					h.n.Add(-1)
					h.dropped.Add(1)
				}
			}
		}
	}
}

func (c *client) readPump() {
	defer func() {
		c.hub.unregister <- c
		_ = c.conn.Close()
	}()
	c.conn.SetReadLimit(maxMessageSize)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (c *client) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		_ = c.conn.Close()
	}()
	for {
		select {
		case m, ok := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				_ = c.conn.WriteMessage(websocket.CloseMessage, []byte{})
				return
			}
			if err := c.conn.WritePreparedMessage(m); err != nil {
				return
			}
		case <-ticker.C:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func main() {
	f := srv.ParseFlags()
	srv.RaiseNoFile()
	h := newHub()
	go h.run()
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &client{hub: h, conn: conn, send: make(chan *websocket.PreparedMessage, 256)}
		h.register <- c
		go c.writePump()
		go c.readPump()
	})
	ln, err := srv.Listen(f.Addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(http.Serve(ln, mux)) }()
	loop, err := srv.NewLoop(f, func(msg []byte) {
		pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
		if err != nil {
			log.Fatal(err)
		}
		h.broadcast <- pm
	}, func() int { return int(h.n.Load()) })
	if err != nil {
		log.Fatal(err)
	}
	srv.Run(f, ln, driver{loop, h})
}

type driver struct {
	*srv.Loop
	h *hub
}

func (d driver) Stats() map[string]any {
	s := d.Loop.Stats()
	s["dropped_clients"] = d.h.dropped.Load()
	return s
}
