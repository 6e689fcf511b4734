package pulse

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// ProtocolVersion is the version of the wire protocol this package speaks,
// announced in every hello message. See PROTOCOL.md.
const ProtocolVersion = 1

// Close codes sent by the Hub, besides the standard ones it uses:
// websocket.StatusGoingAway (1001) on Shutdown, StatusPolicyViolation (1008)
// after Options.MaxClientErrors bad messages and StatusMessageTooBig (1009)
// for a message over Options.ReadLimit.
const (
	// StatusSlowClient closes a client whose socket write blocked longer
	// than Options.WriteTimeout. A client that is stalled completely never
	// sees it (nothing reaches it any more); one that is merely slow sees it
	// after the bytes already in flight.
	StatusSlowClient websocket.StatusCode = 4008
)

// Error codes carried by the protocol's "error" message. They are stable:
// clients may switch on them.
const (
	ErrCodeBadJSON         = "bad_json"          // not a JSON object of the expected shape
	ErrCodeUnknownType     = "unknown_type"      // "type" is missing or not one the server knows
	ErrCodeBadPattern      = "bad_pattern"       // a pattern is empty, too long or has a bad character
	ErrCodeTooManyPatterns = "too_many_patterns" // the connection would hold more than Options.MaxPatterns
	ErrCodeBinary          = "binary_unsupported"
	ErrCodeRateLimited     = "rate_limited" // more than Options.MessageRate messages a second
)

// Reasons carried by a snapshot message.
const (
	reasonConnect   = "connect"
	reasonSubscribe = "subscribe"
	reasonResync    = "resync"
	reasonRequest   = "request"
)

// clientMessage is what a client may send.
type clientMessage struct {
	Type     string   `json:"type"`
	Patterns []string `json:"patterns"`
}

func decodeClientMessage(data []byte) (clientMessage, error) {
	var m clientMessage
	err := json.Unmarshal(data, &m)
	return m, err
}

// seriesMeta is the immutable description of one series. A change of kind,
// unit or help makes a new seriesMeta.
type seriesMeta struct {
	key    string
	name   string
	labels Labels
	kind   Kind
	unit   string
	help   string
	jkey   []byte // key as a JSON string, quotes included
	jcat   []byte // catalogue entry as a JSON object
}

func newSeriesMeta(key string, m *Metric) *seriesMeta {
	s := &seriesMeta{key: key, name: m.Name, kind: m.Kind, unit: m.Unit, help: m.Help}
	if len(m.Labels) > 0 {
		s.labels = make(Labels, len(m.Labels))
		for k, v := range m.Labels {
			s.labels[k] = v
		}
	}
	s.jkey = appendString(nil, key)
	b := append([]byte(`{"key":`), s.jkey...)
	b = append(b, `,"name":`...)
	b = appendString(b, s.name)
	if len(s.labels) > 0 {
		b = append(b, `,"labels":`...)
		lb, _ := json.Marshal(s.labels) // map keys sorted; valid UTF-8 checked
		b = append(b, lb...)
	}
	b = append(b, `,"kind":"`...)
	b = append(b, s.kind.String()...)
	b = append(b, '"')
	if s.unit != "" {
		b = append(b, `,"unit":`...)
		b = appendString(b, s.unit)
	}
	if s.help != "" {
		b = append(b, `,"help":`...)
		b = appendString(b, s.help)
	}
	s.jcat = append(b, '}')
	return s
}

func (s *seriesMeta) sameDesc(m *Metric) bool {
	return s.kind == m.Kind && s.unit == m.Unit && s.help == m.Help
}

// point is one series' state in a frame.
type point struct {
	m       *seriesMeta
	v, r    float64
	hasRate bool
	stale   bool
	hist    *seriesHist // nil when history is off
}

// frame is the immutable result of one tick: the full state and what
// changed since the previous tick. Frames are shared between goroutines.
type frame struct {
	seq     uint64
	ts      int64   // server time, Unix milliseconds
	points  []point // every series, sorted by key
	changed []int32 // indices of points whose value, rate or freshness changed, or that are new
	added   []int32 // indices of points with a new or changed catalogue entry
	stale   []int32 // indices of points that became stale this tick
	removed []*seriesMeta
}

func appendHeader(b []byte, typ string, f *frame) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, f.seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, f.ts, 10)
	return b
}

// appendHello encodes the hello message: version, interval, the number of
// history points the Hub keeps per series, and the catalogue of the series
// flt lets through.
func appendHello(b []byte, f *frame, flt *filter, intervalMS int64, historyPoints int) []byte {
	b = appendHeader(b, "hello", f)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, ProtocolVersion, 10)
	b = append(b, `,"interval_ms":`...)
	b = strconv.AppendInt(b, intervalMS, 10)
	b = append(b, `,"history":`...)
	b = strconv.AppendInt(b, int64(historyPoints), 10)
	b = appendCatalogue(b, f, flt, nil)
	return append(b, '}')
}

// appendSnapshot encodes the full state flt lets through.
func appendSnapshot(b []byte, f *frame, flt *filter, reason string) []byte {
	b = appendHeader(b, "snapshot", f)
	b = append(b, `,"reason":"`...)
	b = append(b, reason...)
	b = append(b, '"')
	b = appendCatalogue(b, f, flt, nil)
	b = appendValues(b, f, flt, nil)
	b = appendKeys(b, `,"stale":[`, f, flt, nil, func(p *point) bool { return p.stale })
	return append(b, '}')
}

// appendDelta encodes what changed in f, as seen through flt.
func appendDelta(b []byte, f *frame, flt *filter) []byte {
	b = appendHeader(b, "delta", f)
	if len(f.added) > 0 {
		b = appendCatalogue(b, f, flt, f.added)
	}
	if len(f.changed) > 0 {
		b = appendValues(b, f, flt, f.changed)
	}
	if len(f.stale) > 0 {
		b = appendKeys(b, `,"stale":[`, f, flt, f.stale, nil)
	}
	if len(f.removed) > 0 {
		start := len(b)
		b = append(b, `,"removed":[`...)
		n := 0
		for _, m := range f.removed {
			if flt.match(m.name) {
				if n > 0 {
					b = append(b, ',')
				}
				b = append(b, m.jkey...)
				n++
			}
		}
		if n == 0 {
			b = b[:start]
		} else {
			b = append(b, ']')
		}
	}
	return append(b, '}')
}

// appendCatalogue appends "series":[...] for the points at idx (all points
// when idx is nil) that flt lets through. An empty selection in a delta
// appends nothing; hello and snapshot always carry the field.
func appendCatalogue(b []byte, f *frame, flt *filter, idx []int32) []byte {
	start := len(b)
	b = append(b, `,"series":[`...)
	n := 0
	each(f, idx, func(p *point) {
		if flt.match(p.m.name) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, p.m.jcat...)
			n++
		}
	})
	if n == 0 && idx != nil {
		return b[:start]
	}
	return append(b, ']')
}

// appendValues appends "values":{key:value} and "rates":{key:rate} for the
// selected points.
func appendValues(b []byte, f *frame, flt *filter, idx []int32) []byte {
	start := len(b)
	b = append(b, `,"values":{`...)
	n, rates := 0, 0
	each(f, idx, func(p *point) {
		if flt.match(p.m.name) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, p.m.jkey...)
			b = append(b, ':')
			b = appendFloat(b, p.v)
			n++
			if p.hasRate {
				rates++
			}
		}
	})
	if n == 0 && idx != nil {
		return b[:start]
	}
	b = append(b, '}')
	if rates == 0 {
		if idx == nil {
			b = append(b, `,"rates":{}`...)
		}
		return b
	}
	b = append(b, `,"rates":{`...)
	n = 0
	each(f, idx, func(p *point) {
		if p.hasRate && flt.match(p.m.name) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, p.m.jkey...)
			b = append(b, ':')
			b = appendFloat(b, p.r)
			n++
		}
	})
	return append(b, '}')
}

// appendKeys appends prefix, the keys of the selected points that flt lets
// through and keep accepts, and "]". Empty in a delta appends nothing.
func appendKeys(b []byte, prefix string, f *frame, flt *filter, idx []int32, keep func(*point) bool) []byte {
	start := len(b)
	b = append(b, prefix...)
	n := 0
	each(f, idx, func(p *point) {
		if (keep == nil || keep(p)) && flt.match(p.m.name) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, p.m.jkey...)
			n++
		}
	})
	if n == 0 && idx != nil {
		return b[:start]
	}
	return append(b, ']')
}

func each(f *frame, idx []int32, fn func(*point)) {
	if idx == nil {
		for i := range f.points {
			fn(&f.points[i])
		}
		return
	}
	for _, i := range idx {
		fn(&f.points[i])
	}
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
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
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
