// Command centrifuge-server broadcasts with github.com/centrifugal/centrifuge:
// one Node with its in-memory broker, the WebSocket transport on
// /connection/websocket (JSON protocol), every connection subscribed
// server-side to the channel "bench" in OnConnecting, and node.Publish of
// each payload to that channel. Defaults everywhere else (client queue 1
// MiB, up to 16 messages per frame).
package main

import (
	"context"
	"log"
	"net/http"
	"sync/atomic"

	"github.com/centrifugal/centrifuge"

	"github.com/go-pulse/pulse/bench/internal/srv"
)

func main() {
	f := srv.ParseFlags()
	srv.RaiseNoFile()
	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelNone})
	if err != nil {
		log.Fatal(err)
	}
	var disconnects atomic.Uint64
	node.OnConnecting(func(context.Context, centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{
			Credentials:   &centrifuge.Credentials{UserID: ""},
			Subscriptions: map[string]centrifuge.SubscribeOptions{"bench": {}},
		}, nil
	})
	node.OnConnect(func(c *centrifuge.Client) {
		c.OnDisconnect(func(centrifuge.DisconnectEvent) { disconnects.Add(1) })
	})
	if err := node.Run(); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		CheckOrigin: func(*http.Request) bool { return true },
	}))
	ln, err := srv.Listen(f.Addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(http.Serve(ln, mux)) }()
	var pubErrs atomic.Uint64
	loop, err := srv.NewLoop(f, func(msg []byte) {
		if _, err := node.Publish("bench", msg); err != nil {
			pubErrs.Add(1)
		}
	}, node.Hub().NumClients)
	if err != nil {
		log.Fatal(err)
	}
	srv.Run(f, ln, driver{loop, &disconnects, &pubErrs})
}

type driver struct {
	*srv.Loop
	disconnects, pubErrs *atomic.Uint64
}

func (d driver) Stats() map[string]any {
	s := d.Loop.Stats()
	s["disconnects"] = d.disconnects.Load()
	s["publish_errors"] = d.pubErrs.Load()
	return s
}
