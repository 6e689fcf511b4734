// Package payload builds and parses the broadcast message every peer server
// sends: a JSON object with the broadcast's sequence number, the server's
// send time and padding up to a fixed size, e.g.
//
//	{"seq":17,"sent_ns":1764212345678901234,"pad":"xxxx...xxxx"}
//
// pulse cannot send this (it sends its own protocol's delta); its server
// sizes a delta to about the same bytes and the load generator parses it
// separately.
package payload

import (
	"bytes"
	"strconv"
)

// Build returns the message for broadcast seq stamped sentNS, padded to
// size bytes (or longer when size is too small for the fields).
func Build(seq uint64, sentNS int64, size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"sent_ns":`...)
	b = strconv.AppendInt(b, sentNS, 10)
	b = append(b, `,"pad":"`...)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// Field returns the unsigned integer following key (e.g. `"seq":`) in b,
// searching from the start, and whether it was found.
func Field(b, key []byte) (uint64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	i += len(key)
	var v uint64
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		v = v*10 + uint64(b[j]-'0')
		j++
	}
	return v, j > i
}

// FloatField returns the number following key in b.
func FloatField(b, key []byte) (float64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	i += len(key)
	j := i
	for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
		j++
	}
	v, err := strconv.ParseFloat(string(b[i:j]), 64)
	return v, err == nil
}
