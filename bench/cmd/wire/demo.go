package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// demo is the pulse demo (examples/server) running as a subprocess.
type demo struct {
	cmd     *exec.Cmd
	started time.Time
	wsURL   string // its live metrics route
}

var readyLine = regexp.MustCompile(`live metrics at (ws://[^\s,]+)`)

// startDemo builds the demo from dir into tmp and runs it on a free
// loopback port with its default 1 s tick, until ctx ends.
func startDemo(ctx context.Context, dir, tmp string) (*demo, error) {
	bin := filepath.Join(tmp, "pulse-demo")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir, build.Stdout, build.Stderr = dir, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building the demo in %s: %w", dir, err)
	}
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	d := &demo{cmd: cmd, started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case d.wsURL = <-found:
		return d, nil
	case <-time.After(30 * time.Second):
		d.stop()
		return nil, fmt.Errorf("the demo did not say where it listens within 30 s")
	}
}

// uptime waits until the demo has run for at least u.
func (d *demo) uptime(u time.Duration) { time.Sleep(time.Until(d.started.Add(u))) }

func (d *demo) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	_ = d.cmd.Wait()
}
