//go:build !unix

package pulse

import (
	"net"
	"syscall"
)

// rawConnOf returns nil: without non-blocking writes, every batch goes to
// the client's drainer goroutine.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func writeNonblock(syscall.RawConn, []byte) (int, error) { return 0, nil }
