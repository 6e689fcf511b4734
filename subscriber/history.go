package subscriber

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The history message of protocol version 2 (PROTOCOL.md, "history (v2)"):
// times and every series' values are delta-coded on an integer grid, and
// counters carry no rates (view.applyHistory derives them).

// wireHistory is a decoded history message: times, and per series id its
// values aligned with them (not ok before the series existed).
type wireHistory struct {
	Seq    uint64
	TS     int64
	Times  []int64
	Values map[string][]optNumber
}

// wireHistoryMsg is the history message as it is on the wire.
type wireHistoryMsg struct {
	Seq    uint64                `json:"seq"`
	TS     int64                 `json:"ts"`
	Times  wireColumn            `json:"times"`
	Values map[string]wireColumn `json:"values"`
}

// wireColumn is one delta-coded array: point j (From ≤ j) is
// Unit × (D[0] + … + D[j-From]) / 10^Scale, or V[j-From] when V is sent.
type wireColumn struct {
	From  int         `json:"from"`
	Scale int         `json:"scale"`
	Unit  int64       `json:"unit"` // 0 on the wire means 1
	D     []histStep  `json:"d"`
	V     []optNumber `json:"v"`
}

// histStep is an element of a column's d: a delta, or a value that is not
// finite ("NaN", "+Inf", "-Inf"), which leaves the running sum alone.
type histStep struct {
	n       int64
	special float64
	isSpec  bool
}

func (s *histStep) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v, _, err := parseNumber(b)
		if err != nil {
			return err
		}
		*s = histStep{special: v, isSpec: true}
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("subscriber: bad history delta %.40s", b)
	}
	*s = histStep{n: n}
	return nil
}

// pow10 holds the powers of ten a column's scale may use, all exact.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// maxExact is the largest integer below which every integer is a float64.
const maxExact = 1 << 53

func decodeHistory(data []byte) (*wireHistory, error) {
	var m wireHistoryMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("subscriber: bad history message: %w", err)
	}
	h := &wireHistory{Seq: m.Seq, TS: m.TS, Values: make(map[string][]optNumber, len(m.Values))}
	times, err := m.Times.decode(len(m.Times.D))
	if err != nil {
		return nil, fmt.Errorf("subscriber: bad history times: %w", err)
	}
	h.Times = make([]int64, len(times))
	for i, t := range times {
		h.Times[i] = int64(t.v)
	}
	for id, c := range m.Values {
		if h.Values[id], err = c.decode(len(times)); err != nil {
			return nil, fmt.Errorf("subscriber: bad history of series %s: %w", id, err)
		}
	}
	return h, nil
}

// decode returns the column's n points.
func (c *wireColumn) decode(n int) ([]optNumber, error) {
	if c.From < 0 || c.From > n || c.Scale < -22 || c.Scale > 22 {
		return nil, fmt.Errorf("from %d, scale %d", c.From, c.Scale)
	}
	out := make([]optNumber, c.From, n)
	if c.V != nil {
		return append(out, c.V...)[:min(n, c.From+len(c.V))], nil
	}
	unit := c.Unit
	if unit == 0 {
		unit = 1
	}
	var sum int64
	for _, s := range c.D {
		if len(out) == n {
			break
		}
		if s.isSpec {
			out = append(out, optNumber{v: s.special, ok: true})
			continue
		}
		sum += s.n
		m := sum * unit
		if sum > maxExact || sum < -maxExact || m/unit != sum || m > maxExact || m < -maxExact {
			return nil, fmt.Errorf("point %d beyond 2^53", len(out))
		}
		v := float64(m)
		if c.Scale >= 0 {
			v /= pow10[c.Scale]
		} else {
			v *= pow10[-c.Scale]
		}
		out = append(out, optNumber{v: v, ok: true})
	}
	return out, nil
}

// counterRates derives a counter's rates from its history as the server
// computes them (per second, a decrease being a reset from zero), with the
// ticks' times instead of the samples' (PROTOCOL.md says what differs):
// NaN for a point without a predecessor.
func counterRates(times []int64, vals []optNumber) []float64 {
	out := make([]float64, len(vals))
	for i := range vals {
		out[i] = math.NaN()
		if i == 0 || i >= len(times) || !vals[i].ok || !vals[i-1].ok {
			continue
		}
		dv := vals[i].v - vals[i-1].v
		if dv < 0 || math.IsNaN(dv) {
			dv = vals[i].v
		}
		r := dv / (float64(times[i]-times[i-1]) / 1000)
		if math.IsNaN(r) || math.IsInf(r, 0) {
			r = 0
		}
		out[i] = r
	}
	return out
}
