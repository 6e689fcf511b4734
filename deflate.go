package pulse

import (
	"bytes"
	"compress/flate"
	"sync"
)

// permessage-deflate (RFC 7692) without context takeover: each message is
// compressed on its own, so a group's compressed frame is the same bytes
// for every client of the group that negotiated it, and no connection
// keeps a compressor (coder/websocket's would hold about 1.2 MB of flate
// state per connection). The compressor is the standard library's.

// deflaters are reused flate writers with their output buffers.
var deflaters = sync.Pool{New: func() any {
	d := &deflater{}
	d.w, _ = flate.NewWriter(&d.buf, flate.DefaultCompression) // cannot fail: the level is valid
	return d
}}

type deflater struct {
	buf bytes.Buffer
	w   *flate.Writer
}

// deflateTail is what a sync flush ends with; permessage-deflate drops it.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// deflateFrame returns the compressed WebSocket frame of payload (RSV1
// set), or nil if it is not smaller than plain, plainLen bytes.
func deflateFrame(payload []byte, plainLen int) []byte {
	d := deflaters.Get().(*deflater)
	defer deflaters.Put(d)
	d.buf.Reset()
	d.w.Reset(&d.buf)
	if _, err := d.w.Write(payload); err != nil {
		return nil
	}
	if err := d.w.Flush(); err != nil {
		return nil
	}
	z := bytes.TrimSuffix(d.buf.Bytes(), deflateTail)
	frame := appendFrameHeader(make([]byte, 0, maxFrameHeader+len(z)), len(z), true)
	if len(frame)+len(z) >= plainLen {
		return nil
	}
	return append(frame, z...)
}
