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

// demo is the example server (examples/server) of one checkout, built and
// run as a subprocess on a free loopback port with its defaults.
type demo struct {
	name string
	cmd  *exec.Cmd
	url  string // the Hub's WebSocket URL
}

var openLine = regexp.MustCompile(`pulse demo: open (http://[^ ]+/) `)

// startDemo builds root/examples/server into dir and starts it.
func startDemo(ctx context.Context, name, root, dir string) (*demo, error) {
	bin := filepath.Join(dir, "demo-"+name)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(root, "examples", "server")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build %s's demo: %w", root, err)
	}
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &demo{name: name, cmd: cmd}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := openLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case u := <-found:
		d.url = "ws" + u[len("http"):] + "ws/metrics"
		return d, nil
	case <-time.After(time.Minute):
		d.stop()
		return nil, fmt.Errorf("%s's demo printed no URL within a minute", name)
	}
}

func (d *demo) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}
