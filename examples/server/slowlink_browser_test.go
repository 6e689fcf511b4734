package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// slowLink is a TCP proxy between the browser and a server whose
// server-to-browser direction can be slowed to a fixed byte rate: it reads
// the server's bytes through a 4 KB receive buffer, at most rate bytes a
// second (a token bucket shared by its connections), so the server's
// socket fills as on a slow mobile link. It starts unthrottled.
type slowLink struct {
	ln     net.Listener
	target string
	lim    *rate.Limiter
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

const slowChunk = 256 // bytes per read of the server's socket, and the bucket's burst

func newSlowLink(t *testing.T, target string) *slowLink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &slowLink{ln: ln, target: target, lim: rate.NewLimiter(rate.Inf, slowChunk)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *slowLink) url() string { return "http://" + p.ln.Addr().String() }

// throttle sets the server-to-browser rate, bytes a second (rate.Inf: none).
func (p *slowLink) throttle(bps rate.Limit) { p.lim.SetLimit(bps) }

func (p *slowLink) accept() {
	defer p.wg.Done()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := d.Dial("tcp", p.target)
		if err != nil {
			_ = down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(up, down); _ = up.Close() }()
		go func() { defer p.wg.Done(); p.copySlow(down, up); _ = down.Close() }()
	}
}

// copySlow copies the server's bytes to the browser at the limiter's rate.
func (p *slowLink) copySlow(down, up net.Conn) {
	buf := make([]byte, slowChunk)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if p.lim.WaitN(context.Background(), n) != nil {
				return
			}
			if _, werr := down.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *slowLink) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.throttle(rate.Inf) // a copy waiting on the bucket returns
	p.wg.Wait()
}

const jsDashStatus = `document.getElementById("status-text").textContent`

// A browser on a link that cannot carry every tick is sent merged deltas:
// the dashboard stays live and says how often it is updated, and stops
// saying it once the link carries every tick again.
func TestDashboardShowsUpdateIntervalOnASlowLink(t *testing.T) {
	const interval = 100 * time.Millisecond
	hub := newLoadHub(t, 200, 0, interval, 20) // every series changes every tick
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", pulse.Dashboard(hub, pulse.DashboardTitle("slow link")))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	link := newSlowLink(t, srv.Listener.Addr().String())
	b := newBrowser(t) // after the server and the link: its cleanup runs first

	b.navigate(link.url() + "/dashboard/")
	b.waitFor("live", jsDashState+` === "live"`)
	b.waitFor("200 cards", jsDashCards+` === 200`)
	require.Equal(t, "live", eval[string](b, jsDashStatus))

	// A delta of 200 changed values is a few KB; 2 KB/s carries one every
	// second or two, against ten ticks a second.
	connects := hub.Stats().Connects
	link.throttle(2048)
	b.waitForLong("updates every N s", jsDashStatus+`.startsWith("live · updates every ")`, time.Minute)
	status := eval[string](b, jsDashStatus)
	every := eval[float64](b, `window.dashboard.client.updateEvery`)
	t.Logf("throttled: %q (updateEvery %.0f ms, tick %v)", status, every, interval)
	require.GreaterOrEqual(t, every, 1.5*float64(interval.Milliseconds()))
	require.True(t, strings.HasSuffix(status, " s"), status)
	require.Equal(t, "true", eval[string](b, `document.getElementById("status").dataset.slow`))
	require.Equal(t, "live", eval[string](b, jsDashState), "slow, not disconnected")
	require.Zero(t, hub.Stats().SlowDisconnects)

	link.throttle(rate.Inf)
	b.waitForLong("every tick again", jsDashStatus+` === "live"`, time.Minute)
	require.Equal(t, "false", eval[string](b, `document.getElementById("status").dataset.slow`))
	require.Zero(t, hub.Stats().SlowDisconnects)
	require.Equal(t, connects, hub.Stats().Connects, "the browser never reconnected: a slow link is not a dead one")
	b.noPageErrors()
}
