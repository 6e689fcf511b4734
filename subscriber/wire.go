package subscriber

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The wire format of protocol version 2 (PROTOCOL.md): series are described
// once per connection, each with an id, and values travel by id.

type wireSeries struct {
	ID     uint32            `json:"id"`
	Key    string            `json:"key"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Kind   string            `json:"kind"`
	Unit   string            `json:"unit"`
	Help   string            `json:"help"`
}

// wireMsg is any server message; hist is set for a history message, whose
// "values" and "rates" have another shape. Values, Rates and the history's
// maps are keyed by series id, as decimal strings.
type wireMsg struct {
	Type       string            `json:"type"`
	Seq        uint64            `json:"seq"`
	TS         int64             `json:"ts"`
	From       *uint64           `json:"from"` // a merged delta: it covers (From, Seq]
	Version    int               `json:"version"`
	Epoch      string            `json:"epoch"`
	Resume     *uint64           `json:"resume"` // a hello that resumes at this seq
	IntervalMS int64             `json:"interval_ms"`
	Tiers      *[]wireTier       `json:"tiers"` // hello: nil from a server that does not announce them
	Reason     string            `json:"reason"`
	Series     []wireSeries      `json:"series"`
	Values     map[string]number `json:"values"`
	Rates      map[string]number `json:"rates"`
	Stale      []uint32          `json:"stale"`
	Removed    []uint32          `json:"removed"`
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	hist       *wireHistory
}

// wireTier is one of hello's history tiers.
type wireTier struct {
	Name   string `json:"name"`
	StepMS int64  `json:"step_ms"`
	SpanMS int64  `json:"span_ms"`
}

// parseID reads a series id used as an object key.
func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// decode parses one server message.
func decode(data []byte) (*wireMsg, error) {
	typ, ok := sniffType(data)
	if !ok {
		var t struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &t); err != nil {
			return nil, fmt.Errorf("subscriber: bad server message: %w", err)
		}
		typ = t.Type
	}
	if typ == "history" {
		h, err := decodeHistory(data)
		if err != nil {
			return nil, err
		}
		return &wireMsg{Type: "history", Seq: h.Seq, TS: h.TS, hist: h}, nil
	}
	m := &wireMsg{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("subscriber: bad %s message: %w", typ, err)
	}
	return m, nil
}

// sniffType reads the type of a message starting {"type":"...", as the
// server writes them, without a second full parse.
func sniffType(data []byte) (string, bool) {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return "", false
	}
	rest := data[len(prefix):]
	i := bytes.IndexByte(rest[:min(len(rest), 32)], '"')
	if i < 0 {
		return "", false
	}
	return string(rest[:i]), true
}

// number is a protocol value: a JSON number or one of the strings "NaN",
// "+Inf" and "-Inf".
type number float64

func (n *number) UnmarshalJSON(b []byte) error {
	v, ok, err := parseNumber(b)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("subscriber: null value")
	}
	*n = number(v)
	return nil
}

// optNumber is a history point: a protocol value or null.
type optNumber struct {
	v  float64
	ok bool
}

func (n *optNumber) UnmarshalJSON(b []byte) error {
	v, ok, err := parseNumber(b)
	if err != nil {
		return err
	}
	*n = optNumber{v: v, ok: ok}
	return nil
}

func parseNumber(b []byte) (float64, bool, error) {
	switch string(b) {
	case "null":
		return 0, false, nil
	case `"NaN"`:
		return math.NaN(), true, nil
	case `"+Inf"`, `"Inf"`:
		return math.Inf(1), true, nil
	case `"-Inf"`:
		return math.Inf(-1), true, nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, false, fmt.Errorf("subscriber: bad value %.40s", b)
	}
	return v, true, nil
}
