package clusternats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/axiomhq/hyperloglog"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/sources/active"
)

// The wire format of one replica's message on pulse.<cluster>.samples,
// version 1. Integers are unsigned varints (encoding/binary's Uvarint)
// unless noted; a string is a varint length followed by its bytes.
//
//	magic      2 bytes "pC"
//	version    1 byte  (1)
//	cluster    string
//	node       string
//	instance   8 bytes, little endian: random per Join, so that a restarted
//	           replica with the same node id is told apart
//	seq        varint: 1, 2, ... per instance
//	interval   varint: the sender's tick in milliseconds, 0 if not known yet
//	groups     varint count, then per group (the series sharing a name and
//	           description):
//	    name string, kind 1 byte,
//	    description: 1 byte, then
//	        0: none (no unit, no help)
//	        1: the 8-byte FNV-1a hash of the unit and help only
//	        2: unit string, help string
//	    series varint count, then per series:
//	        labels varint count, then name string, value string per label
//	        flags  1 byte: bit 0 stale
//	        value  8 bytes, IEEE 754, little endian
//	trackers   varint count, then per active-users tracker:
//	    name string, label string, total sketch, values varint count, then
//	    per label value: value string, sketch
//	    where a sketch is its estimate (varint: a hint of its size for the
//	    merge) and its bytes (varint length + hyperloglog.Sketch.MarshalBinary)
//
// The magic and version come first so that a receiver can tell a message
// of another version (counted as foreign) from garbage (malformed).
//
// Units and help texts are most of a message's bytes (the Go runtime's
// metrics alone have 14 KB of them) and never change, so a sender writes
// them in full in one message out of descEvery (the first of each instance
// included) and only their hash in the others; a receiver remembers the
// texts of the hashes it has seen, from its own series as well as from its
// peers', and fills them in.
const (
	wireMagic0  = 'p'
	wireMagic1  = 'C'
	wireVersion = 1

	flagStale = 1 << 0

	descNone = 0
	descHash = 1
	descFull = 2
	// descEvery is how often a sender writes its descriptions in full:
	// a replica that joins knows every description within descEvery ticks.
	descEvery = 10

	maxNodeLen    = 128
	maxClusterLen = 64
	maxStringLen  = 1 << 12 // help text is at most 1,024 bytes; labels 1,024
	maxSketchLen  = 1 << 20
)

// errForeign is wrapped by decoding errors about a well-formed message that
// is not for this cluster: another version or another cluster name.
var errForeign = errors.New("foreign message")

// errMalformed is wrapped by every other decoding error.
var errMalformed = errors.New("malformed message")

// header is the part of a message that identifies its sender.
type header struct {
	cluster  string
	node     string
	instance uint64
	seq      uint64
	interval time.Duration
}

// userSketches are one active-users tracker's sketches of the window, in a
// message.
type userSketches struct {
	name, label string
	total       sketch
	values      map[string]sketch
}

// sketch is a HyperLogLog sketch and its estimate, which tells the merge
// how large their union may be.
type sketch struct {
	sk *hyperloglog.Sketch
	n  uint64
}

// newUserSketches wraps a tracker's sketches, estimating each.
func newUserSketches(name, label string, total *hyperloglog.Sketch, byValue map[string]*hyperloglog.Sketch) userSketches {
	u := userSketches{name: name, label: label, total: sketch{total, estimate(total)}}
	if len(byValue) > 0 {
		u.values = make(map[string]sketch, len(byValue))
		for v, sk := range byValue {
			u.values[v] = sketch{sk, estimate(sk)}
		}
	}
	return u
}

func estimate(sk *hyperloglog.Sketch) uint64 {
	if sk == nil {
		return 0
	}
	return sk.Estimate()
}

// message is a decoded message.
type message struct {
	header
	samples []pulse.Sample // Key and Stale set; Rate never
	users   []userSketches
	// refs are the groups of samples sent with the hash of their
	// description only, to fill in from the receiver's memory; learned
	// are the descriptions sent in full.
	refs    []descRef
	learned []desc
}

// desc is a unit and help text, and their hash.
type desc struct {
	hash       uint64
	unit, help string
}

// descRef says that samples[lo:hi] have the description of hash.
type descRef struct {
	lo, hi int
	hash   uint64
}

// descHashOf returns the FNV-1a hash of unit and help.
func descHashOf(unit, help string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(unit); i++ {
		h = (h ^ uint64(unit[i])) * prime
	}
	h = (h ^ 0xff) * prime // 0xff is in no UTF-8 text: "a"+"b" ≠ "ab"+""
	for i := 0; i < len(help); i++ {
		h = (h ^ uint64(help[i])) * prime
	}
	return h
}

// encoder encodes messages into buffers it reuses. It is not safe for
// concurrent use.
type encoder struct {
	buf    []byte
	groups []group
	index  map[groupKey]int
}

// groupKey is what the series of a group share.
type groupKey struct {
	name, unit, help string
	kind             pulse.Kind
}

type group struct {
	first int   // the sample carrying the description
	idx   []int // the samples of the group
	hash  uint64
}

// descs calls f with the description of each group of the last encode.
func (e *encoder) descs(samples []pulse.Sample, f func(d desc)) {
	for i := range e.groups {
		g := &e.groups[i]
		if g.hash != 0 {
			s := &samples[g.first]
			f(desc{hash: g.hash, unit: s.Unit, help: s.Help})
		}
	}
}

// encode returns the encoding of h, samples and users. The result is valid
// until the next call.
func (e *encoder) encode(h *header, samples []pulse.Sample, users []userSketches) ([]byte, error) {
	b := e.buf[:0]
	b = append(b, wireMagic0, wireMagic1, wireVersion)
	b = appendString(b, h.cluster)
	b = appendString(b, h.node)
	b = binary.LittleEndian.AppendUint64(b, h.instance)
	b = binary.AppendUvarint(b, h.seq)
	b = binary.AppendUvarint(b, uint64(h.interval/time.Millisecond))
	e.groupSamples(samples)
	b = e.appendGroups(b, h.seq, samples)
	b, err := appendUsers(b, users)
	if err != nil {
		return nil, err
	}
	e.buf = b
	return b, nil
}

// groupSamples groups the series by name and description into e.groups,
// so that a name, its unit and its help are sent once per message, not
// once per series.
func (e *encoder) groupSamples(samples []pulse.Sample) {
	if e.index == nil {
		e.index = make(map[groupKey]int)
	}
	clear(e.index)
	for i := range e.groups {
		e.groups[i].idx = e.groups[i].idx[:0]
	}
	e.groups = e.groups[:0]
	for i := range samples {
		s := &samples[i]
		k := groupKey{s.Name, s.Unit, s.Help, s.Kind}
		gi, ok := e.index[k]
		if !ok {
			gi = len(e.groups)
			e.index[k] = gi
			if gi < cap(e.groups) {
				e.groups = e.groups[:gi+1]
				e.groups[gi].first = i
			} else {
				e.groups = append(e.groups, group{first: i})
			}
		}
		e.groups[gi].idx = append(e.groups[gi].idx, i)
	}
}

// appendGroups appends e.groups: each group's name, kind and description
// (in full every descEvery messages, else by hash), then its series.
func (e *encoder) appendGroups(b []byte, seq uint64, samples []pulse.Sample) []byte {
	b = binary.AppendUvarint(b, uint64(len(e.groups)))
	for gi := range e.groups {
		g := &e.groups[gi]
		d := &samples[g.first]
		b = appendString(b, d.Name)
		b = append(b, byte(d.Kind))
		g.hash = 0
		switch {
		case d.Unit == "" && d.Help == "":
			b = append(b, descNone)
		case seq%descEvery == 1:
			b = append(b, descFull)
			b = appendString(b, d.Unit)
			b = appendString(b, d.Help)
			g.hash = descHashOf(d.Unit, d.Help)
		default:
			g.hash = descHashOf(d.Unit, d.Help)
			b = append(b, descHash)
			b = binary.LittleEndian.AppendUint64(b, g.hash)
		}
		b = binary.AppendUvarint(b, uint64(len(g.idx)))
		for _, i := range g.idx {
			b = appendSeries(b, &samples[i])
		}
	}
	return b
}

// appendSeries appends one series of a group: its labels, flags and value.
func appendSeries(b []byte, s *pulse.Sample) []byte {
	b = binary.AppendUvarint(b, uint64(len(s.Labels)))
	for k, v := range s.Labels {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	var flags byte
	if s.Stale {
		flags |= flagStale
	}
	b = append(b, flags)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(s.Value))
}

// appendUsers appends the active-users sketches: per tracker, its total
// and one sketch per label value.
func appendUsers(b []byte, users []userSketches) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(users)))
	for i := range users {
		u := &users[i]
		b = appendString(b, u.name)
		b = appendString(b, u.label)
		var err error
		if b, err = appendSketch(b, u.total); err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(u.values)))
		for v, sk := range u.values {
			b = appendString(b, v)
			if b, err = appendSketch(b, sk); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendSketch appends sk's estimate and length-prefixed MarshalBinary
// encoding.
func appendSketch(b []byte, s sketch) ([]byte, error) {
	b = binary.AppendUvarint(b, s.n)
	sk := s.sk
	if sk == nil {
		return binary.AppendUvarint(b, 0), nil
	}
	// Reserve a fixed-size length prefix, fill it in afterwards: the
	// sketch's encoded size is not known beforehand.
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	out, err := sk.AppendBinary(b)
	if err != nil {
		return b[:at], fmt.Errorf("clusternats: encoding a sketch: %w", err)
	}
	n := len(out) - at - 4
	if n > maxSketchLen {
		return b[:at], fmt.Errorf("clusternats: sketch of %d bytes, at most %d", n, maxSketchLen)
	}
	// A 4-byte varint: continuation bits on the first three bytes.
	out[at] = byte(n) | 0x80
	out[at+1] = byte(n>>7) | 0x80
	out[at+2] = byte(n>>14) | 0x80
	out[at+3] = byte(n >> 21)
	return out, nil
}

// decoder reads a message; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items each taking at least min bytes, refusing
// counts the rest of the message cannot hold, so that a forged count cannot
// make the decoder allocate more than the message's size.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail("count %d past the end of the message", n)
		return 0
	}
	return int(n)
}

func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail("length %d out of range", n)
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string(max int) string {
	b := d.bytes(max)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		d.fail("string is not UTF-8")
		return ""
	}
	return string(b)
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// decodeHeader reads the header of data, and checks the magic, the version
// and the cluster name. The decoder is left at the series.
func decodeHeader(d *decoder, cluster string) header {
	var h header
	if len(d.b) < 3 || d.b[0] != wireMagic0 || d.b[1] != wireMagic1 {
		d.fail("not a pulse cluster message")
		return h
	}
	if v := d.b[2]; v != wireVersion {
		d.err = fmt.Errorf("%w: version %d, want %d", errForeign, v, wireVersion)
		return h
	}
	d.b = d.b[3:]
	h.cluster = d.string(maxClusterLen)
	if d.err == nil && h.cluster != cluster {
		d.err = fmt.Errorf("%w: cluster %q, want %q", errForeign, h.cluster, cluster)
		return h
	}
	h.node = d.string(maxNodeLen)
	h.instance = d.u64()
	h.seq = d.uvarint()
	ms := d.uvarint()
	if ms > uint64(24*time.Hour/time.Millisecond) {
		d.fail("interval %d ms out of range", ms)
	}
	h.interval = time.Duration(ms) * time.Millisecond
	if d.err == nil && h.node == "" {
		d.fail("empty node id")
	}
	return h
}

// decode parses a message for cluster. The error wraps errForeign for a
// message of another version or cluster, errMalformed for anything else
// wrong: truncated or garbage data, invalid metric names or labels,
// duplicate series, sketches of the wrong precision.
func decode(data []byte, cluster string) (*message, error) {
	d := &decoder{b: data}
	m := &message{header: decodeHeader(d, cluster)}
	if d.err != nil {
		return nil, d.err
	}
	if err := decodeGroups(d, m); err != nil {
		return nil, err
	}
	nusers := d.count(5)
	names := make(map[string]bool, nusers)
	for range nusers {
		u, err := decodeUsers(d, names)
		if err != nil {
			return nil, err
		}
		m.users = append(m.users, u)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the end", errMalformed, len(d.b))
	}
	return m, nil
}

// decodeGroups reads the groups of series into m: each group's name, kind
// and description (learned in full, or referred to by hash), then its
// series.
func decodeGroups(d *decoder, m *message) error {
	ngroups := d.count(5)
	seen := make(map[string]struct{})
	for range ngroups {
		name := d.string(maxStringLen)
		kind := pulse.Kind(d.byte())
		var unit, help string
		var hash uint64
		switch d.byte() {
		case descNone:
		case descHash:
			hash = d.u64()
		case descFull:
			unit = d.string(maxStringLen)
			help = d.string(maxStringLen)
			m.learned = append(m.learned, desc{hash: descHashOf(unit, help), unit: unit, help: help})
		default:
			d.fail("group %s: unknown description", name)
		}
		lo := len(m.samples)
		nseries := d.count(10)
		for range nseries {
			s := pulse.Sample{Metric: pulse.Metric{Name: name, Kind: kind, Unit: unit, Help: help}}
			if err := decodeSeries(d, &s, seen); err != nil {
				return err
			}
			m.samples = append(m.samples, s)
		}
		if hash != 0 {
			m.refs = append(m.refs, descRef{lo: lo, hi: len(m.samples), hash: hash})
		}
	}
	return nil
}

// decodeSeries reads the labels, flags and value of s, whose description
// is set, and checks it is a valid series not seen before in the message.
func decodeSeries(d *decoder, s *pulse.Sample, seen map[string]struct{}) error {
	if nl := d.count(2); nl > 0 {
		s.Labels = make(pulse.Labels, nl)
		for range nl {
			k := d.string(maxStringLen)
			s.Labels[k] = d.string(maxStringLen)
		}
		if len(s.Labels) != nl && d.err == nil {
			d.fail("series %s: duplicate label", s.Name)
		}
	}
	s.Stale = d.byte()&flagStale != 0
	s.Value = math.Float64frombits(d.u64())
	if d.err != nil {
		return d.err
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errMalformed, err)
	}
	s.Key = s.Metric.Key()
	if _, dup := seen[s.Key]; dup {
		return fmt.Errorf("%w: series %s twice", errMalformed, s.Key)
	}
	seen[s.Key] = struct{}{}
	return nil
}

// decodeUsers reads one active-users tracker's sketches: its total and one
// sketch per label value. names holds the trackers read so far.
func decodeUsers(d *decoder, names map[string]bool) (userSketches, error) {
	u := userSketches{name: d.string(maxStringLen), label: d.string(maxStringLen)}
	u.total = decodeSketch(d, active.SketchPrecision)
	nv := d.count(3)
	if d.err != nil {
		return u, d.err
	}
	if err := (&pulse.Metric{Name: u.name}).Validate(); err != nil {
		return u, fmt.Errorf("%w: active users: %w", errMalformed, err)
	}
	if names[u.name] {
		return u, fmt.Errorf("%w: active users %s twice", errMalformed, u.name)
	}
	names[u.name] = true
	if u.label != "" {
		if err := (&pulse.Metric{Name: u.name, Labels: pulse.Labels{u.label: ""}}).Validate(); err != nil {
			return u, fmt.Errorf("%w: active users: %w", errMalformed, err)
		}
	} else if nv > 0 {
		return u, fmt.Errorf("%w: active users %s: values without a label", errMalformed, u.name)
	}
	if nv == 0 {
		return u, nil
	}
	u.values = make(map[string]sketch, nv)
	for range nv {
		v := d.string(maxStringLen)
		sk := decodeSketch(d, active.LabelSketchPrecision)
		if d.err != nil {
			return u, d.err
		}
		if _, dup := u.values[v]; dup || v == "" {
			return u, fmt.Errorf("%w: active users %s: value %q empty or twice", errMalformed, u.name, v)
		}
		u.values[v] = sk
	}
	return u, nil
}

// decodeSketch reads a sketch of precision p and its estimate; an empty
// one decodes as nil.
func decodeSketch(d *decoder, p uint8) sketch {
	n := d.uvarint()
	b := d.bytes(maxSketchLen)
	if d.err != nil || len(b) == 0 {
		return sketch{}
	}
	// Byte 1 of the encoding is the precision: a sketch of another one
	// could not be merged with ours.
	if len(b) < 2 || b[1] != p {
		d.fail("sketch: want precision %d", p)
		return sketch{}
	}
	sk := new(hyperloglog.Sketch)
	if err := sk.UnmarshalBinary(b); err != nil {
		d.fail("sketch: %v", err)
		return sketch{}
	}
	return sketch{sk, n}
}
