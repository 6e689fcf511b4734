// Command loadgen opens N WebSocket connections to one server on the
// loopback interface and measures what arrives: messages per second,
// tick-to-receive latency (the server's stamp inside each message against
// this process's clock; both run on one machine), sequence gaps (drops),
// bytes per message and disconnects.
//
// It speaks just enough WebSocket by hand (handshake, frame reader, pongs)
// to cost as little CPU per message as possible, so that the server is the
// bottleneck. Protocols (-proto):
//
//	generic     the peers' payload: {"seq":N,"sent_ns":T,"pad":"..."}
//	pulse       pulse's protocol: deltas/snapshots with a bench_sent_us value
//	centrifuge  centrifuge's JSON protocol: a connect command, then pushes
//	            (several per frame, newline-separated), pings {} answered {}
//
// Control (stdin): "mark" starts a measurement window, "report" prints
// "report {json}" for the window, "quit" exits. It prints
// "connected {json}" once all connections are up.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-pulse/pulse/bench/internal/hist"
	"github.com/go-pulse/pulse/bench/internal/payload"
	"github.com/go-pulse/pulse/bench/internal/shm"
	"github.com/go-pulse/pulse/bench/internal/srv"
	"github.com/go-pulse/pulse/bench/internal/wsproto"
)

type stats struct {
	delivered   atomic.Uint64 // stamped messages received
	drops       atomic.Uint64 // messages missing from the sequence
	resyncs     atomic.Uint64 // pulse resync snapshots
	frames      atomic.Uint64 // data frames
	wire        atomic.Uint64 // bytes of data frames, headers included
	stampedWire atomic.Uint64 // wire bytes attributable to stamped messages
	closed      atomic.Uint64 // connections that ended
	other       atomic.Uint64 // non-stamped data messages (hello, empty deltas, replies)
	fullState   atomic.Uint64 // pulse: largest snapshot seen, bytes
	lat         hist.H
}

var (
	st      stats
	marking atomic.Bool // counting into the window
	proto   string
	rcv     *shm.Counter
)

var (
	keySeq    = []byte(`"seq":`)
	keySentNS = []byte(`"sent_ns":`)
	keySentUS = []byte(`"bench_sent_us":`)
	pongBody  = []byte("{}")
)

type conn struct {
	c       net.Conn
	r       *bufio.Reader
	lastSeq uint64
	scratch []byte
	frag    []byte // a fragmented message being assembled
	fragOp  byte
	wbuf    []byte
}

func dial(addr, path string, bufSize int) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	key := wsproto.NewKey()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, err
	}
	r := bufio.NewReaderSize(c, bufSize)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wsproto.AcceptKey(key) {
		c.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	_ = c.SetDeadline(time.Time{})
	cn := &conn{c: c, r: r}
	if proto == "centrifuge" {
		if err := cn.send(wsproto.OpText, []byte(`{"id":1,"connect":{}}`)); err != nil {
			c.Close()
			return nil, err
		}
	}
	return cn, nil
}

func (c *conn) send(op byte, p []byte) error {
	c.wbuf = wsproto.AppendClientFrame(c.wbuf[:0], op, p)
	_, err := c.c.Write(c.wbuf)
	return err
}

func (c *conn) readLoop() {
	defer func() {
		c.c.Close()
		st.closed.Add(1)
	}()
	for {
		f, err := wsproto.ReadHeader(c.r)
		if err != nil {
			return
		}
		p, err := wsproto.ReadPayload(c.r, f, &c.scratch)
		if err != nil {
			return
		}
		switch f.Op {
		case wsproto.OpPing:
			if err := c.send(wsproto.OpPong, p); err != nil {
				return
			}
			continue
		case wsproto.OpPong:
			continue
		case wsproto.OpClose:
			_ = c.send(wsproto.OpClose, p)
			return
		case wsproto.OpContinuation:
			c.frag = append(c.frag, p...)
			if !f.Fin {
				continue
			}
			p, c.frag = c.frag, c.frag[:0]
		default:
			if !f.Fin {
				c.frag = append(c.frag[:0], p...)
				continue
			}
		}
		wire := uint64(f.HeaderLen + f.Len)
		if marking.Load() {
			st.frames.Add(1)
			st.wire.Add(wire)
		}
		if err := c.message(p, wire); err != nil {
			return
		}
	}
}

// message handles one complete data message of wire bytes.
func (c *conn) message(p []byte, wire uint64) error {
	now := time.Now().UnixNano()
	switch proto {
	case "generic":
		c.stamped(p, wire, now)
	case "pulse":
		if bytes.HasPrefix(p, []byte(`{"type":"snapshot"`)) {
			if n := uint64(len(p)); n > st.fullState.Load() {
				st.fullState.Store(n)
			}
			if bytes.Contains(p, []byte(`"reason":"resync"`)) && marking.Load() {
				st.resyncs.Add(1)
			}
		}
		seq, _ := payload.Field(p, keySeq)
		if c.lastSeq != 0 && seq > c.lastSeq+1 && marking.Load() {
			st.drops.Add(seq - c.lastSeq - 1)
		}
		if seq > c.lastSeq {
			c.lastSeq = seq
		}
		us, ok := payload.FloatField(p, keySentUS)
		if !ok || us == 0 || bytes.HasPrefix(p, []byte(`{"type":"hello"`)) {
			st.other.Add(1)
			return nil
		}
		if marking.Load() {
			st.delivered.Add(1)
			st.stampedWire.Add(wire)
			st.lat.Record(now - int64(us)*1000)
		}
		rcv.Add(1)
	case "centrifuge":
		lines := bytes.Count(p, []byte{'\n'}) + 1
		per := wire / uint64(lines)
		for len(p) > 0 {
			line := p
			if i := bytes.IndexByte(p, '\n'); i >= 0 {
				line, p = p[:i], p[i+1:]
			} else {
				p = nil
			}
			switch {
			case len(line) == 2 && line[0] == '{' && line[1] == '}':
				if err := c.send(wsproto.OpText, pongBody); err != nil {
					return err
				}
			case bytes.HasPrefix(line, []byte(`{"push":`)):
				c.stamped(line, per, now)
			default:
				st.other.Add(1)
			}
		}
	}
	return nil
}

// stamped counts one generic payload found in p.
func (c *conn) stamped(p []byte, wire uint64, now int64) {
	seq, ok1 := payload.Field(p, keySeq)
	sent, ok2 := payload.Field(p, keySentNS)
	if !ok1 || !ok2 {
		st.other.Add(1)
		return
	}
	if marking.Load() {
		if c.lastSeq != 0 && seq > c.lastSeq+1 {
			st.drops.Add(seq - c.lastSeq - 1)
		}
		st.delivered.Add(1)
		st.stampedWire.Add(wire)
		st.lat.Record(now - int64(sent))
	}
	if seq > c.lastSeq {
		c.lastSeq = seq
	}
	rcv.Add(1)
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func main() {
	rawURL := flag.String("url", "ws://127.0.0.1:8080/ws", "server URL (loopback only)")
	n := flag.Int("n", 1000, "connections")
	flag.StringVar(&proto, "proto", "generic", "generic, pulse or centrifuge")
	shmPath := flag.String("shm", "", "shared counter file: messages received are added to it")
	conc := flag.Int("conc", 128, "connections being opened at once")
	bufSize := flag.Int("buf", 8192, "read buffer per connection")
	flag.Parse()
	srv.RaiseNoFile()
	u, err := url.Parse(*rawURL)
	if err != nil {
		log.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		log.Fatalf("refusing to load %q: loopback only", *rawURL)
	}
	switch proto {
	case "generic", "pulse", "centrifuge":
	default:
		log.Fatalf("unknown -proto %q", proto)
	}
	if rcv, err = shm.Open(*shmPath); err != nil {
		log.Fatal(err)
	}
	path := u.RequestURI()

	start := time.Now()
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, *conc)
	var wg sync.WaitGroup
	for range *n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *conn
			var err error
			for try := 0; try < 5; try++ {
				if c, err = dial(u.Host, path, *bufSize); err == nil {
					break
				}
				time.Sleep(time.Duration(100<<try) * time.Millisecond)
			}
			<-sem
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			ok.Add(1)
			go c.readLoop()
		}()
	}
	wg.Wait()
	fe, _ := firstErr.Load().(string)
	out, _ := json.Marshal(map[string]any{"ok": ok.Load(), "failed": failed.Load(), "seconds": time.Since(start).Seconds(), "error": fe})
	fmt.Printf("connected %s\n", out)

	var markAt time.Time
	var markCPU int64
	sc := bufio.NewScanner(srv.Stdin())
	for sc.Scan() {
		switch sc.Text() {
		case "mark":
			marking.Store(false)
			for _, a := range []*atomic.Uint64{&st.delivered, &st.drops, &st.resyncs, &st.frames, &st.wire, &st.stampedWire, &st.other} {
				a.Store(0)
			}
			st.lat.Reset()
			closedAtMark.Store(st.closed.Load())
			markAt, markCPU = time.Now(), cpuNanos()
			marking.Store(true)
			fmt.Println("ok")
		case "report":
			el := time.Since(markAt).Seconds()
			d := st.delivered.Load()
			r := map[string]any{
				"seconds":          el,
				"delivered":        d,
				"per_second":       float64(d) / el,
				"drops":            st.drops.Load(),
				"resyncs":          st.resyncs.Load(),
				"frames":           st.frames.Load(),
				"wire_bytes":       st.wire.Load(),
				"bytes_per_msg":    ratio(st.stampedWire.Load(), d),
				"closed":           st.closed.Load() - closedAtMark.Load(),
				"closed_total":     st.closed.Load(),
				"other":            st.other.Load(),
				"full_state_bytes": st.fullState.Load(),
				"p50_us":           float64(st.lat.Quantile(0.50)) / 1e3,
				"p99_us":           float64(st.lat.Quantile(0.99)) / 1e3,
				"max_us":           float64(st.lat.Max()) / 1e3,
				"cpu_fraction":     float64(cpuNanos()-markCPU) / 1e9 / el,
			}
			b, _ := json.Marshal(r)
			fmt.Printf("report %s\n", b)
		case "quit":
			os.Exit(0)
		default:
			fmt.Printf("error unknown command %q\n", sc.Text())
		}
	}
}

var closedAtMark atomic.Uint64

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
