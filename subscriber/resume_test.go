package subscriber

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

// cutProxy forwards TCP connections to a target and can cut every one of
// them at once, as a proxy that drops its connections does.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// cut closes every connection through the proxy.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) url() string { return "ws://" + p.ln.Addr().String() + "/ws/metrics" }

// A connection cut by a proxy resumes: the Subscriber presents the Hub's
// epoch and its seq, and gets one merged delta instead of catalogue,
// snapshot and history, then follows the live state again.
func TestResumeAcrossACuttingProxy(t *testing.T) {
	hs := startHub(t, pulse.Options{}, nil)
	hs.set("a", 1, "b", 2)
	p := newCutProxy(t, hs.addr)
	s := dial(t, p.url(), fastOptions())
	eventually(t, func() bool { v, _ := s.Value("a"); return v.Value == 1 }, "a = 1")

	p.cut()
	hs.set("a", 10, "c", 3) // b goes, c comes, while the client is away
	eventually(t, func() bool { return s.Stats().Resumes == 1 }, "resumed")
	eventually(t, func() bool {
		v := s.Values()
		return len(v) == 2 && v["a"].Value == 10 && v["c"].Value == 3
	}, "the state of the Hub: %v", s.Values())
	require.Zero(t, s.Stats().Snapshots-1, "no snapshot after the first")

	hs.set("a", 11, "c", 3)
	eventually(t, func() bool { v, _ := s.Value("a"); return v.Value == 11 }, "live again")
	require.Equal(t, uint64(1), hs.hub.Stats().Resumes)
}
