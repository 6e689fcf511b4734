// Command melody-server broadcasts with github.com/olahol/melody, as its
// README does: m.Broadcast(msg) to every session, default Config (256
// messages buffered per session; a full buffer drops the message and
// reports ErrMessageBufferFull, counted here).
package main

import (
	"errors"
	"log"
	"net/http"
	"sync/atomic"

	"github.com/olahol/melody"

	"github.com/go-pulse/pulse/bench/internal/srv"
)

func main() {
	f := srv.ParseFlags()
	srv.RaiseNoFile()
	m := melody.New()
	var full, errs atomic.Uint64
	m.HandleError(func(_ *melody.Session, err error) {
		if errors.Is(err, melody.ErrMessageBufferFull) {
			full.Add(1)
		} else {
			errs.Add(1)
		}
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		_ = m.HandleRequest(w, r)
	})
	ln, err := srv.Listen(f.Addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(http.Serve(ln, mux)) }()
	loop, err := srv.NewLoop(f, func(msg []byte) { _ = m.Broadcast(msg) }, m.Len)
	if err != nil {
		log.Fatal(err)
	}
	srv.Run(f, ln, driver{loop, &full, &errs})
}

type driver struct {
	*srv.Loop
	full, errs *atomic.Uint64
}

func (d driver) Stats() map[string]any {
	s := d.Loop.Stats()
	s["buffer_full_drops"] = d.full.Load()
	s["errors"] = d.errs.Load()
	return s
}
