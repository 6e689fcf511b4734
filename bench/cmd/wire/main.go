// Command wire measures what pulse's wire protocol costs a client in bytes
// on the wire: it builds and starts the demo (examples/server, 1 s ticks),
// and connects clients that count the bytes read from their TCP socket
// (after permessage-deflate, headers included), offering permessage-deflate
// as browsers do, in protocol v1 and v2:
//
//   - at -early uptime (30 s): the bytes before the first delta, what each
//     connect message took, and the steady delta's size over -deltas deltas;
//   - a v2 client that is cut (its TCP connection closed, no close frame)
//     for -cut (5 s) and resumes with the Hub's epoch and its last seq,
//     against a fresh connect made at the same moment;
//   - at -full uptime (5 min: a full history), the connects of v1 and v2 on
//     the same run, and the resume again.
//
// Run from the bench module: go run ./cmd/wire (about 5.5 minutes).
//
// With -cpu it measures instead what compression costs the server: pulse v2
// with -n (1,000) clients that negotiate permessage-deflate against the
// same without, with the bench harness (pulse-server and loadgen pinned to
// CPU 0 and CPU 1), server CPU per delivery (go run ./cmd/wire -cpu).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	dir := flag.String("demo", "../examples/server", "the demo's source directory")
	early := flag.Duration("early", 30*time.Second, "uptime of the first measurement")
	full := flag.Duration("full", 5*time.Minute+10*time.Second, "uptime of the full-history measurement (History 300 at 1 s: 5 min)")
	cut := flag.Duration("cut", 5*time.Second, "how long a resuming client is cut off")
	deltas := flag.Int("deltas", 20, "deltas read to measure the steady delta")
	cpu := flag.Bool("cpu", false, "instead: server CPU per delivery with and without deflate, with the bench harness")
	var cf cpuFlags
	flag.IntVar(&cf.n, "n", 1000, "-cpu: clients")
	flag.Float64Var(&cf.hz, "hz", 10, "-cpu: ticks per second")
	flag.DurationVar(&cf.window, "window", 20*time.Second, "-cpu: measurement window per cell")
	flag.IntVar(&cf.rounds, "rounds", 3, "-cpu: rounds, each running both contenders")
	flag.Parse()
	if *cpu {
		if err := runCPU(cf); err != nil {
			log.Fatal(err)
		}
		return
	}
	tmp, err := os.MkdirTemp("", "pulse-wire")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	d, err := startDemo(ctx, *dir, tmp)
	if err != nil {
		log.Fatal(err)
	}
	defer d.stop()
	fmt.Printf("demo at %s\n\n", d.wsURL)

	d.uptime(*early)
	fmt.Printf("## uptime %v\n\n", *early)
	runAll(ctx, d.wsURL, *deltas, *cut, []dialOpts{{v2: true, deflate: true}, {deflate: true}, {v2: true}, {}})

	d.uptime(*full)
	fmt.Printf("## uptime %v (full history)\n\n", *full)
	runAll(ctx, d.wsURL, 5, *cut, []dialOpts{{v2: true, deflate: true}, {deflate: true}, {v2: true}, {}})
}

// runAll measures the connects of configs and a resume, at the same time.
func runAll(ctx context.Context, wsURL string, deltas int, cut time.Duration, configs []dialOpts) {
	out := make([]string, len(configs)+1)
	var wg sync.WaitGroup
	for i, o := range configs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = measureConnect(ctx, wsURL, o, deltas)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		out[len(configs)] = measureResume(ctx, wsURL, cut)
	}()
	wg.Wait()
	for _, s := range out {
		fmt.Println(s)
	}
}

func (o dialOpts) String() string {
	s := "v1"
	if o.v2 {
		s = "v2"
	}
	if o.deflate {
		return s + ", deflate offered"
	}
	return s + ", no compression offered"
}

// measureConnect connects with o and reports the bytes before the first
// delta, per message, and the steady deltas.
func measureConnect(ctx context.Context, wsURL string, o dialOpts, n int) string {
	cl, err := dial(ctx, wsURL, o)
	if err != nil {
		return fmt.Sprintf("%v: %v", o, err)
	}
	defer cl.close()
	before, msgs, err := cl.connect(ctx)
	if err != nil {
		return fmt.Sprintf("%v: %v", o, err)
	}
	s := fmt.Sprintf("### %v (extensions %q)\n\n- bytes on the wire before the first delta: **%d**; with it: %d (messages: JSON, and the frame that carried it)\n",
		o, cl.ext, before, before+msgs[len(msgs)-1].wire)
	frames := 0
	for _, m := range msgs {
		s += fmt.Sprintf("  - %s: %d B of JSON, a %d B frame\n", m.Type, m.size, m.frame)
		frames += m.frame
	}
	s += fmt.Sprintf("  - the frames before the delta add up to %d B; the other %d B are the HTTP upgrade response\n",
		frames-msgs[len(msgs)-1].frame, before-int64(frames-msgs[len(msgs)-1].frame))
	ds, err := cl.deltas(ctx, n)
	if err != nil {
		return s + fmt.Sprintf("- deltas: %v\n", err)
	}
	slices.Sort(ds)
	return s + fmt.Sprintf("- steady delta over %d deltas: p50 **%d** B, min %d, max %d\n", len(ds), ds[len(ds)/2], ds[0], ds[len(ds)-1])
}
