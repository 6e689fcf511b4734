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
//	            (v1 by key; v2, with ?v=2 in -url, by the id its hello gives)
//	centrifuge  centrifuge's JSON protocol: a connect command, then pushes
//	            (several per frame, newline-separated), pings {} answered {}
//
// Connections are spread over several loopback source addresses (-src,
// 127.0.0.2 to 127.0.0.9 by default): one source address runs out of
// ephemeral ports near 28,000 connections to one server port.
//
// Control (stdin): "mark" starts a measurement window, "report" prints
// "report {json}" for the window, "quit" exits. It prints
// "connected {json}" once all connections are up. For reconnect storms
// (with -reconnect, every connection that ends is redialled): "storm"
// begins a storm (clients count as live again once a connection opened
// since has delivered a snapshot and a delta), "drop" begins one and
// closes every connection, as a proxy dropping them all would, and
// "storm-status" prints "storm {json}".
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-pulse/pulse/bench/internal/hist"
	"github.com/go-pulse/pulse/bench/internal/shm"
	"github.com/go-pulse/pulse/bench/internal/srv"
	"github.com/go-pulse/pulse/bench/internal/sysinfo"
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
	flag.IntVar(&bufSize, "buf", 8192, "read buffer per connection")
	src := flag.String("src", "127.0.0.2-127.0.0.9", "loopback source addresses the connections are spread over, round robin (a range, a list, or empty for the kernel's choice)")
	flag.BoolVar(&reconnect, "reconnect", false, "redial whenever a connection ends (reconnect storms)")
	flag.DurationVar(&spread, "spread", time.Second, "-reconnect: the first redial after a connection ends is at a random time within this")
	flag.DurationVar(&policy.min, "backoff-min", 250*time.Millisecond, "-reconnect: first backoff after a failed attempt (pulse's subscriber: 250ms)")
	flag.DurationVar(&policy.max, "backoff-max", 30*time.Second, "-reconnect: longest backoff, Retry-After included (subscriber: 30s)")
	flag.Float64Var(&policy.jitter, "jitter", 0.5, "-reconnect: random fraction of each backoff (subscriber: 0.5)")
	flag.BoolVar(&offerDeflate, "deflate", false, "offer permessage-deflate in the handshake, as browsers do, and inflate compressed messages (the connection fails if the server does not negotiate it)")
	flag.Parse()
	if _, err := sysinfo.RaiseNoFile(uint64(*n) + 64); err != nil {
		log.Fatalf("loadgen: %v", err)
	}
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
	srcs, err := parseSources(*src)
	if err != nil {
		log.Fatal(err)
	}
	if err := checkPorts(*n, len(srcs)); err != nil {
		log.Fatal(err)
	}
	if rcv, err = shm.Open(*shmPath); err != nil {
		log.Fatal(err)
	}
	serverAddr, basePath = u.Host, u.RequestURI()
	clients := connectAll(*n, *conc, dialers(srcs, 10*time.Second))
	control(clients)
}

// connectAll opens n connections, conc at a time, spread over ds, and
// prints "connected {json}" when every attempt has ended.
func connectAll(n, conc int, ds []*net.Dialer) []*client {
	start := time.Now()
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	clients := make([]*client, n)
	for i := range clients {
		cl := &client{d: ds[i%len(ds)]}
		clients[i] = cl
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			c, err := cl.connectFirst()
			<-sem
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			} else {
				ok.Add(1)
			}
			wg.Done()
			if err == nil {
				cl.run(c)
			}
		}()
	}
	wg.Wait()
	fe, _ := firstErr.Load().(string)
	out, _ := json.Marshal(map[string]any{"ok": ok.Load(), "failed": failed.Load(), "seconds": time.Since(start).Seconds(), "error": fe, "sources": len(ds)})
	fmt.Printf("connected %s\n", out)
	return clients
}

// control serves the commands on stdin until quit.
func control(clients []*client) {
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
			fmt.Printf("report %s\n", windowReport(markAt, markCPU))
		case "storm":
			storm.begin()
			fmt.Println("ok")
		case "drop":
			storm.begin()
			for _, cl := range clients {
				cl.drop()
			}
			fmt.Println("ok")
		case "storm-status":
			fmt.Printf("storm %s\n", storm.status(len(clients)))
		case "quit":
			os.Exit(0)
		default:
			fmt.Printf("error unknown command %q\n", sc.Text())
		}
	}
}

func windowReport(markAt time.Time, markCPU int64) []byte {
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
	return b
}

var closedAtMark atomic.Uint64

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
