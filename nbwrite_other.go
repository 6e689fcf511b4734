//go:build !unix

package pulse

import "net"

// nbWriter would make non-blocking writes; there are none here, so
// nonblocking returns nil and every write goes to the client's drainer
// goroutine, which blocks.
type nbWriter struct{}

func nonblocking(net.Conn) *nbWriter { return nil }

func (*nbWriter) write([][]byte, int) (int, error)     { return 0, nil }
func (*nbWriter) writeSome([][]byte, int) (int, error) { return 0, nil }
func (*nbWriter) limitUnsent(int)                      {}

// limitConnUnsent does nothing here (see ConnContext).
func limitConnUnsent(net.Conn, int) func() { return nil }
