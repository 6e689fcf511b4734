// Package idlecheck checks that an HTTP server closes idle keep-alive
// connections. The examples' tests use it: examples are copied, so each
// one's http.Server must show an IdleTimeout.
package idlecheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Closed sends GET / on a new connection to hostport, reads the answer and
// waits for the server to close the connection, now idle. It returns how
// long the connection stayed idle, or an error when the answer did not
// keep the connection alive or the server had not closed it within limit
// (counted from the dial).
func Closed(hostport string, limit time.Duration) (time.Duration, error) {
	conn, err := net.DialTimeout("tcp", hostport, limit)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(limit)); err != nil {
		return 0, err
	}
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", hostport); err != nil {
		return 0, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, fmt.Errorf("GET /: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("GET /: reading the body: %w", err)
	}
	if resp.Close {
		return 0, errors.New("GET /: the answer closes the connection: nothing to keep alive")
	}
	idle := time.Now()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("the idle connection was not closed by the server within %v: %v", limit, err)
	}
	return time.Since(idle), nil
}
