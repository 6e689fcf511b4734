package main

import (
	"bytes"
	"flag"
	"net/url"
	"strconv"
)

// Resume (wire v2, PROTOCOL.md): with -resume and a v2 URL (?v=2), a
// client that reconnects presents the Hub's epoch (from its last hello)
// and the last seq it had; a Hub that still knows what changed since
// answers with a resume hello (no catalogue, "resume":seq) and one merged
// delta instead of catalogue, snapshot and history. A client that resumed
// is live again at that delta: it already holds the state a snapshot would
// give. A Hub that cannot resume (another epoch: a restarted process)
// answers a fresh connect, which the client takes as before.

// resume is set by -resume. The flag is registered here, with the rest of
// the resume variant.
var resume bool

func init() {
	flag.BoolVar(&resume, "resume", false, "-reconnect with pulse v2 (?v=2 in -url): redial presenting the Hub's epoch and the last seq seen, so that the Hub resumes the stream (the storm's resume variants)")
}

// resumePoint is where a client's last connection left off; its goroutine
// only.
type resumePoint struct {
	epoch    string
	seq      uint64
	stampKey []byte // bench_sent_us's id: a resume hello has no catalogue to find it in
}

var (
	keyEpoch  = []byte(`"epoch":"`)
	keyResume = []byte(`"resume":`)
)

// resumeTarget is path with the client's resume point, when it has one.
func resumeTarget(path string, rp resumePoint) string {
	if !resume || rp.epoch == "" || rp.seq == 0 {
		return path
	}
	sep := "?"
	if bytes.ContainsRune([]byte(path), '?') {
		sep = "&"
	}
	return path + sep + "epoch=" + url.QueryEscape(rp.epoch) + "&seq=" + strconv.FormatUint(rp.seq, 10)
}

// noteHello records a v2 hello's epoch for the client's next connection,
// and takes a resume hello as the state a snapshot would have given: the
// merged delta that follows makes the client live.
func (c *conn) noteHello(p []byte) {
	if !resume || !bytes.HasPrefix(p, preHello) || c.cl == nil {
		return
	}
	if i := bytes.Index(p, keyEpoch); i >= 0 {
		rest := p[i+len(keyEpoch):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			c.cl.rp.epoch = string(rest[:j])
		}
	}
	if bytes.Contains(p, keyResume) {
		if c.cl.rp.stampKey != nil {
			c.stampKey = c.cl.rp.stampKey
		}
		c.snapshot = true
		storm.resumed.Add(1)
	}
}

// keep records where c left off, for the client's next connection.
func (cl *client) keep(c *conn) {
	if c.lastSeq > 0 {
		cl.rp.seq = c.lastSeq
	}
	cl.rp.stampKey = c.stampKey
}
