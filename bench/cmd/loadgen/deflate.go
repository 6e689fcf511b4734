package main

import (
	"bytes"
	"compress/flate"
	"io"
	"strconv"
	"sync"
)

// offerDeflate (-deflate): the handshake offers permessage-deflate as
// browsers do, and compressed messages (RSV1) are inflated before they are
// read. The server compresses without context takeover (pulse always
// does), so each message inflates on its own.
var offerDeflate bool

const deflateOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"

// inflaters are reused flate readers with their output buffers.
var inflaters = sync.Pool{New: func() any { return &inflater{} }}

type inflater struct {
	comp []byte // the compressed message and deflateTail
	src  bytes.Reader
	r    io.ReadCloser
	out  bytes.Buffer
}

// deflateTail ends every message before it is inflated (RFC 7692 7.2.2),
// followed by an empty final block so the reader reports io.EOF.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflate appends the message compressed in p to dst.
func inflate(dst, p []byte) ([]byte, error) {
	in := inflaters.Get().(*inflater)
	defer inflaters.Put(in)
	// p may alias bufio's buffer: appending the tail to it would overwrite
	// bytes not read yet, so both are copied.
	in.comp = append(append(in.comp[:0], p...), deflateTail...)
	in.src.Reset(in.comp)
	if in.r == nil {
		in.r = flate.NewReader(&in.src)
	} else if err := in.r.(flate.Resetter).Reset(&in.src, nil); err != nil {
		return dst, err
	}
	in.out.Reset()
	if _, err := in.out.ReadFrom(in.r); err != nil {
		return dst, err
	}
	return append(dst, in.out.Bytes()...), nil
}

var keyCatalogueStamp = []byte(`"key":"bench_sent_us"`)

// v2StampKey finds bench_sent_us's id in a v2 hello's catalogue and returns
// the object key its value has in that connection's messages ("7":), or
// nil when the catalogue does not list it.
func v2StampKey(hello []byte) []byte {
	i := bytes.Index(hello, keyCatalogueStamp)
	if i < 0 {
		return nil
	}
	j := bytes.LastIndex(hello[:i], []byte(`{"id":`))
	if j < 0 {
		return nil
	}
	id, ok := leadingUint(hello[j+len(`{"id":`) : i])
	if !ok {
		return nil
	}
	return []byte(`"` + strconv.FormatUint(id, 10) + `":`)
}

func leadingUint(b []byte) (uint64, bool) {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	v, err := strconv.ParseUint(string(b[:n]), 10, 64)
	return v, err == nil
}
