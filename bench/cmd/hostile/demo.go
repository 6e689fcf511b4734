package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// demo is the demo server (examples/server) running as a child process, so
// that its RSS is its own.
type demo struct {
	cmd      *exec.Cmd
	ws       string // ws://127.0.0.1:port/ws/metrics
	addr     string // 127.0.0.1:port
	interval time.Duration
}

var liveRE = regexp.MustCompile(`live metrics at (ws://([^/]+)\S*),`)

// startDemo starts bin on a free loopback port with the given tick and
// waits for its listener.
func startDemo(bin string, interval time.Duration) (*demo, error) {
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-interval", interval.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &demo{cmd: cmd, interval: interval}
	found := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := liveRE.FindStringSubmatch(sc.Text()); m != nil && d.ws == "" {
				d.ws, d.addr = m[1], m[2]
				found <- nil
			}
		}
		found <- fmt.Errorf("demo exited before listening")
	}()
	select {
	case err = <-found:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("demo did not start within 30 s")
	}
	if err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

func (d *demo) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

// rssKiB reads VmRSS of the demo from /proc.
func (d *demo) rssKiB() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// peakRSS samples the demo's RSS every 20 ms until stop is closed and
// returns the highest reading.
func (d *demo) peakRSS(stop <-chan struct{}) <-chan int64 {
	res := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, d.rssKiB())
			select {
			case <-stop:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	return res
}

// heapAllocsName is the demo's series (sources/runtime) of the bytes its
// heap has allocated so far (/gc/heap/allocs:bytes).
const heapAllocsName = "go_gc_heap_allocs_bytes_total"

// heapAllocs reads the bytes the demo's heap has allocated so far, from its
// own snapshot: the value of its last tick.
func (d *demo) heapAllocs() (float64, error) {
	url := "http" + strings.TrimPrefix(d.ws, "ws") + "?match=" + heapAllocsName
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var snap struct {
		Values map[string]float64 `json:"values"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return 0, fmt.Errorf("%s: %w", url, err)
	}
	v, ok := snap.Values[heapAllocsName]
	if !ok {
		return 0, fmt.Errorf("%s: no %s in the snapshot", url, heapAllocsName)
	}
	return v, nil
}
