//go:build !unix

package pulse

import "net"

// readWaiter would wait for a readable socket; there is none here, so
// newReadWaiter returns nil and the reader blocks in coder/websocket's
// read (readwait.go).
type readWaiter struct{}

func newReadWaiter(net.Conn) *readWaiter { return nil }

func (*readWaiter) await(*client) error { return nil }
