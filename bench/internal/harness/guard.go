package harness

import (
	"fmt"
	"sync"
	"time"
)

// guard bounds a cell: it kills the server and the load generator when
// the server's RSS passes a limit, and keeps the reason for the cell's
// error. Processes that die on their own are reported by their callers.
type guard struct {
	mu    sync.Mutex
	procs []*proc
	why   string
	quit  chan struct{}
	done  chan struct{}
}

// watch starts a guard over server; maxRSSKiB 0 means no bound.
func watch(server *proc, maxRSSKiB float64) *guard {
	g := &guard{procs: []*proc{server}, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		if maxRSSKiB <= 0 {
			<-g.quit
			return
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-g.quit:
				return
			case <-server.done:
				return
			case <-t.C:
			}
			if rss, err := procRSS(server.pid()); err == nil && rss > maxRSSKiB {
				g.kill(fmt.Sprintf("server RSS %.0f MiB passed the bound of %.0f MiB (-max-rss)", rss/1024, maxRSSKiB/1024))
				return
			}
		}
	}()
	return g
}

// add puts p under the guard too.
func (g *guard) add(p *proc) {
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
}

func (g *guard) kill(why string) {
	g.mu.Lock()
	g.why = why
	ps := g.procs
	g.mu.Unlock()
	for _, p := range ps {
		p.kill()
	}
}

// reason is why the guard killed the cell, or "".
func (g *guard) reason() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.why
}

func (g *guard) stop() {
	select {
	case <-g.quit:
	default:
		close(g.quit)
	}
	<-g.done
}
