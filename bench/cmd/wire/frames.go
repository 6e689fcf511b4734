package main

import (
	"bytes"
	"compress/flate"
)

// frameSize is the size of the server frame that carried a message of
// plain bytes: compressed as pulse compresses it (compress/flate at its
// default level, one message at a time, a sync flush without its tail:
// the same bytes the Hub sends) when deflate was negotiated and that is
// smaller, else plain; the frame header included. The socket counts cannot
// split the connect into messages (several arrive in one read).
func frameSize(plain []byte, deflate bool) int {
	n := len(plain)
	if deflate && n >= 256 { // the Hub's minDeflate
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.DefaultCompression) // cannot fail: the level is valid
		_, _ = w.Write(plain)
		_ = w.Flush()
		if c := len(bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff})); c+header(c) < n+header(n) {
			return c + header(c)
		}
	}
	return n + header(n)
}

func header(n int) int {
	switch {
	case n < 126:
		return 2
	case n < 1<<16:
		return 4
	}
	return 10
}
