// Package leakcheck fails a test binary whose goroutines outlive its tests.
// Every package of this module that starts goroutines calls it from its
// TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, 5*time.Second)) }
package leakcheck

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests and, when they pass, waits up to wait for every
// goroutine but the main one to end (http.DefaultClient's idle connections
// are closed first). It returns the exit code for os.Exit: 1 with every
// goroutine's stack on standard error if some are left.
func Main(m *testing.M, wait time.Duration) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	http.DefaultClient.CloseIdleConnections()
	if err := Wait(wait); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Wait polls until only the calling goroutine is left, or returns an error
// with every goroutine's stack after wait. The fuzzing engine's signal
// handler (os/signal.loop) is not counted: it is not the code under test.
func Wait(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		n := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if !strings.Contains(g, "os/signal.loop") {
				n++
			}
		}
		if n <= 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("goroutine leak: %d goroutines after the tests\n%s", n, buf)
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling for an event with a deadline, not synchronisation
	}
}
