//go:build !unix

package pulse

import "net"

// nbWriter would make non-blocking writes; there are none here, so
// nonblocking returns nil and every batch goes to the client's drainer
// goroutine.
type nbWriter struct{}

func nonblocking(net.Conn) *nbWriter { return nil }

func (*nbWriter) Write(p []byte) (int, error) { return 0, nil }
