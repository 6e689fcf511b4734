package pulse

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// The encoders of the wire protocol (PROTOCOL.md): each appends one server
// message, as seen through a group's name set, to b. They are pure
// functions of an immutable frame, so any goroutine may run them.

func appendHeader(b []byte, typ string, f *frame) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, f.seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, f.ts, 10)
	return b
}

// helloInfo is what hello announces besides the catalogue.
type helloInfo struct {
	intervalMS    int64
	historyPoints int
	epoch         string // v2: the Hub's epoch, random per start
	tiers         []byte // the history tiers, a JSON array (appendTiersJSON)
}

// lens is how a group sees a frame: the names it sees, and the protocol
// version it speaks (v1 names series by key, v2 by id).
type lens struct {
	sees nameSet
	v2   bool
}

func (l lens) has(m *seriesMeta) bool { return l.sees.has(m.nameID) }

// objKey is m's name as an object key: its key (v1) or id (v2), quoted.
func (l lens) objKey(m *seriesMeta) []byte {
	if l.v2 {
		return m.jid
	}
	return m.jkey
}

// elem is m's name as an array element.
func (l lens) elem(m *seriesMeta) []byte {
	if l.v2 {
		return m.nid
	}
	return m.jkey
}

// cat is m's catalogue entry.
func (l lens) cat(m *seriesMeta) []byte {
	if l.v2 {
		return m.jcat2
	}
	return m.jcat
}

func (l lens) version() int64 {
	if l.v2 {
		return 2
	}
	return 1
}

// appendHello encodes the hello message: version, interval, the number of
// history points the Hub keeps per series, its history tiers, (v2) the
// Hub's epoch, and the catalogue of the series l sees.
func appendHello(b []byte, f *frame, l lens, hi helloInfo) []byte {
	b = appendHelloHead(b, f, l, hi)
	b = appendCatalogue(b, f, l, all)
	return append(b, '}')
}

func appendHelloHead(b []byte, f *frame, l lens, hi helloInfo) []byte {
	b = appendHeader(b, "hello", f)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, l.version(), 10)
	if l.v2 {
		b = append(b, `,"epoch":"`...)
		b = append(b, hi.epoch...)
		b = append(b, '"')
	}
	b = append(b, `,"interval_ms":`...)
	b = strconv.AppendInt(b, hi.intervalMS, 10)
	b = append(b, `,"history":`...)
	b = strconv.AppendInt(b, int64(hi.historyPoints), 10)
	b = append(b, `,"tiers":`...)
	return append(b, hi.tiers...)
}

// appendResumeHello encodes the hello of a v2 connection that resumes at
// seq from: the version, the epoch and the resume point only. The client
// has the catalogue, and interval, history and tiers are the epoch's (one
// Hub start keeps them); the merged delta from then follows.
//
// Its seq is from, the state the client holds until that delta arrives.
func appendResumeHello(b []byte, f *frame, epoch string, from uint64) []byte {
	b = appendHeader(b, "hello", &frame{seq: from, ts: f.ts})
	b = append(b, `,"version":2,"epoch":"`...)
	b = append(b, epoch...)
	b = append(b, `","resume":`...)
	b = strconv.AppendUint(b, from, 10)
	return append(b, '}')
}

// appendSnapshot encodes the full state l sees. In v2 the snapshot that
// follows hello on connect has no catalogue (hello has it); any other
// carries one, which replaces the client's.
func appendSnapshot(b []byte, f *frame, l lens, reason string) []byte {
	b = appendHeader(b, "snapshot", f)
	b = append(b, `,"reason":"`...)
	b = append(b, reason...)
	b = append(b, '"')
	if !l.v2 || reason != reasonConnect {
		b = appendCatalogue(b, f, l, all)
	}
	b = appendValues(b, f, l, all, nil)
	b = appendKeys(b, `,"stale":[`, f, l, all, isStale)
	return append(b, '}')
}

func isStale(p *point) bool { return p.stale }

// appendDelta encodes what changed in f since the previous tick, as seen
// through sees.
func appendDelta(b []byte, f *frame, l lens) []byte {
	b = appendHeader(b, "delta", f)
	rare := f.rare()
	if len(rare.added) > 0 {
		b = appendCatalogue(b, f, l, (*indices)(&rare.added))
	}
	if len(f.changed) > 0 {
		b = appendValues(b, f, l, (*indices)(&f.changed), nil)
	}
	if len(rare.stale) > 0 {
		b = appendKeys(b, `,"stale":[`, f, l, (*indices)(&rare.stale), nil)
	}
	b = appendRemoved(b, l, rare.removed, nil)
	return append(b, '}')
}

// appendMerged encodes, as one delta, everything that changed after seq
// from up to f (f.gone must cover from): the catalogue entries new since
// from, the current values and rates of the points that changed since,
// which of them are stale, and the series removed since. "from" tells the
// client which range it covers.
func appendMerged(b []byte, f *frame, from uint64, l lens) []byte {
	b = appendHeader(b, "delta", f)
	b = append(b, `,"from":`...)
	b = strconv.AppendUint(b, from, 10)
	b = appendCatalogue(b, f, l, since{seq: from, listed: true})
	// The values of every point that changed, stale ones too: a series
	// whose value changed after from and then went stale has a last value
	// the client has not seen ("stale" follows "values", so it stays
	// marked stale).
	b = appendValues(b, f, l, since{seq: from}, nil)
	b = appendKeys(b, `,"stale":[`, f, l, since{seq: from}, isStale)
	b = appendRemoved(b, l, nil, f.gone.after(from))
	return append(b, '}')
}

// appendRemoved appends "removed":[keys] for the removed series sees lets
// through: metas, or the removals rs. Nothing when there are none.
func appendRemoved(b []byte, l lens, metas []*seriesMeta, rs []removal) []byte {
	start := len(b)
	b = append(b, `,"removed":[`...)
	n := 0
	add := func(m *seriesMeta) {
		if l.has(m) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, l.elem(m)...)
			n++
		}
	}
	for _, m := range metas {
		add(m)
	}
	for i := range rs {
		add(rs[i].meta)
	}
	if n == 0 {
		return b[:start]
	}
	return append(b, ']')
}

// selection chooses points of a frame for an encoder.
//
// It is a cursor rather than a callback: a closure passed through the
// interface would escape and take the encoder's buffer and counters to
// the heap on every encode.
type selection interface {
	// next returns the first selected point at or after position i of the
	// selection and the position after it; nil when there is none.
	next(f *frame, i int) (*point, int)
	// full reports whether the selection is every point (hello, snapshot):
	// then an empty field is still written.
	full() bool
}

// all selects every point.
var all selection = allPoints{}

type allPoints struct{}

func (allPoints) next(f *frame, i int) (*point, int) {
	if i < len(f.points) {
		return &f.points[i], i + 1
	}
	return nil, i
}
func (allPoints) full() bool { return true }

// indices selects the points at the given indices. It is used by pointer:
// a pointer in an interface costs no allocation, a slice does.
type indices []int32

func (ix *indices) next(f *frame, i int) (*point, int) {
	if i < len(*ix) {
		return &f.points[(*ix)[i]], i + 1
	}
	return nil, i
}
func (*indices) full() bool { return false }

// since selects the points that changed after seq, or (listed) whose
// catalogue entry is new after seq.
type since struct {
	seq    uint64
	listed bool
}

func (s since) next(f *frame, i int) (*point, int) {
	for ; i < len(f.points); i++ {
		p := &f.points[i]
		if !s.listed && p.changed > s.seq || s.listed && p.meta.listed > s.seq {
			return p, i + 1
		}
	}
	return nil, i
}
func (since) full() bool { return false }

// appendCatalogue appends "series":[...] for the selected points sees lets
// through. An empty partial selection appends nothing.
func appendCatalogue(b []byte, f *frame, l lens, sel selection) []byte {
	start := len(b)
	b = append(b, `,"series":[`...)
	n := 0
	for p, i := sel.next(f, 0); p != nil; p, i = sel.next(f, i) {
		if l.has(p.meta) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, l.cat(p.meta)...)
			n++
		}
	}
	if n == 0 && !sel.full() {
		return b[:start]
	}
	return append(b, ']')
}

// appendValues appends "values":{key:value} and "rates":{key:rate} for the
// selected points that l sees and keep (if set) accepts.
func appendValues(b []byte, f *frame, l lens, sel selection, keep func(*point) bool) []byte {
	start := len(b)
	b = append(b, `,"values":{`...)
	n, rates := 0, 0
	full := sel.full()
	for p, i := sel.next(f, 0); p != nil; p, i = sel.next(f, i) {
		if l.has(p.meta) && (keep == nil || keep(p)) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, l.objKey(p.meta)...)
			b = append(b, ':')
			b = appendFloat(b, p.value)
			n++
			if p.hasRate {
				rates++
			}
		}
	}
	if n == 0 && !full {
		return b[:start]
	}
	b = append(b, '}')
	if rates == 0 {
		if full {
			b = append(b, `,"rates":{}`...)
		}
		return b
	}
	b = append(b, `,"rates":{`...)
	n = 0
	for p, i := sel.next(f, 0); p != nil; p, i = sel.next(f, i) {
		if p.hasRate && l.has(p.meta) && (keep == nil || keep(p)) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, l.objKey(p.meta)...)
			b = append(b, ':')
			b = appendFloat(b, p.rate)
			n++
		}
	}
	return append(b, '}')
}

// appendKeys appends prefix, the keys of the selected points that sees
// lets through and keep accepts, and "]". Empty and partial appends nothing.
func appendKeys(b []byte, prefix string, f *frame, l lens, sel selection, keep func(*point) bool) []byte {
	start := len(b)
	b = append(b, prefix...)
	n := 0
	for p, i := sel.next(f, 0); p != nil; p, i = sel.next(f, i) {
		if (keep == nil || keep(p)) && l.has(p.meta) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, l.elem(p.meta)...)
			n++
		}
	}
	if n == 0 && !sel.full() {
		return b[:start]
	}
	return append(b, ']')
}

// appendError encodes an error message.
func appendError(b []byte, code, msg string) []byte {
	b = append(b, `{"type":"error","code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

// appendFloat writes v as a JSON number, or as the string "NaN", "+Inf" or
// "-Inf", which JSON numbers cannot express.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
