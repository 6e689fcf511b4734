// Package wsproto has the few pieces of RFC 6455 the raw-TCP server and the
// load generator need: the handshake key, frame headers and a frame reader.
// Nothing here is a general WebSocket implementation.
package wsproto

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
)

// Opcodes.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

const magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(magic))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// NewKey returns a random Sec-WebSocket-Key.
func NewKey() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return base64.StdEncoding.EncodeToString(b[:])
}

// AppendServerFrame appends one unmasked, final frame (what a server
// sends) carrying payload.
func AppendServerFrame(dst []byte, op byte, payload []byte) []byte {
	dst = appendHeader(dst, op, len(payload), false)
	return append(dst, payload...)
}

// AppendClientFrame appends one masked, final frame (what a client must
// send) carrying payload.
func AppendClientFrame(dst []byte, op byte, payload []byte) []byte {
	dst = appendHeader(dst, op, len(payload), true)
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= key[i&3]
	}
	return dst
}

func appendHeader(dst []byte, op byte, n int, masked bool) []byte {
	var m byte
	if masked {
		m = 0x80
	}
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, m|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, m|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return dst
}

// Frame is one frame header as read by ReadHeader.
type Frame struct {
	Fin    bool
	Rsv1   bool // permessage-deflate: the message is compressed
	Op     byte
	Len    int
	Masked bool
	Mask   [4]byte
	// HeaderLen is the number of bytes the header took on the wire.
	HeaderLen int
}

// ErrTooBig is returned for a frame length the reader refuses.
var ErrTooBig = errors.New("wsproto: frame too big")

// ReadHeader reads one frame header from r.
func ReadHeader(r *bufio.Reader) (Frame, error) {
	var f Frame
	b, err := r.Peek(2)
	if err != nil {
		return f, err
	}
	f.Fin = b[0]&0x80 != 0
	f.Rsv1 = b[0]&0x40 != 0
	f.Op = b[0] & 0x0F
	f.Masked = b[1]&0x80 != 0
	n := int(b[1] & 0x7F)
	hl := 2
	switch n {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if f.Masked {
		hl += 4
	}
	b, err = r.Peek(hl)
	if err != nil {
		return f, err
	}
	switch n {
	case 126:
		n = int(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		v := binary.BigEndian.Uint64(b[2:10])
		if v > 1<<30 {
			return f, ErrTooBig
		}
		n = int(v)
	}
	if f.Masked {
		copy(f.Mask[:], b[hl-4:hl])
	}
	f.Len = n
	f.HeaderLen = hl
	_, err = r.Discard(hl)
	return f, err
}

// ReadPayload returns the frame's payload. When the payload fits in r's
// buffer the slice aliases it and is valid until the next read from r;
// otherwise it is read into scratch (grown as needed). The payload is
// unmasked.
func ReadPayload(r *bufio.Reader, f Frame, scratch *[]byte) ([]byte, error) {
	var p []byte
	if f.Len <= r.Size() {
		b, err := r.Peek(f.Len)
		if err != nil {
			return nil, err
		}
		if f.Masked {
			// Unmasking in place in bufio's buffer is safe: Discard follows.
			for i := range b {
				b[i] ^= f.Mask[i&3]
			}
		}
		p = b
		if _, err := r.Discard(f.Len); err != nil {
			return nil, err
		}
		return p, nil
	}
	if cap(*scratch) < f.Len {
		*scratch = make([]byte, f.Len)
	}
	p = (*scratch)[:f.Len]
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	if f.Masked {
		for i := range p {
			p[i] ^= f.Mask[i&3]
		}
	}
	return p, nil
}
