package main

import (
	"encoding/json"
	"fmt"
)

// message is any server message of pulse's protocol, v1 or v2: the fields
// the view needs. Values are keyed by series key (v1) or id (v2).
type message struct {
	Type       string         `json:"type"`
	Seq        uint64         `json:"seq"`
	From       *uint64        `json:"from"`
	TS         int64          `json:"ts"`
	Version    int            `json:"version"`
	IntervalMS int64          `json:"interval_ms"`
	Reason     string         `json:"reason"`
	Values     map[string]any `json:"values"`
	Removed    []any          `json:"removed"`
}

// view is the state a client holds: the values of every series, as of tick
// seq (stamped ts). apply checks the order of seq as PROTOCOL.md states it.
type view struct {
	synced   bool
	seq      uint64
	ts       int64 // the server's time of tick seq, Unix ms
	interval int64 // interval_ms from the hello
	version  int
	values   map[string]any
}

// applied is what one message did to the view.
type applied struct {
	tick   bool   // the view moved to a newer tick
	ticks  uint64 // how many ticks the update covered (1, or more for a merged delta)
	merged bool
	resync bool
}

// apply applies one message. A connection's first snapshot covers no
// ticks (ticks 0): it starts the view.
func (v *view) apply(data []byte) (applied, error) {
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		return applied{}, fmt.Errorf("bad message %.100q: %w", data, err)
	}
	switch m.Type {
	case "hello":
		v.interval, v.version, v.synced = m.IntervalMS, m.Version, false
		return applied{}, nil
	case "snapshot":
		if v.synced && m.Seq < v.seq {
			return applied{}, fmt.Errorf("snapshot %d after %d", m.Seq, v.seq)
		}
		a := applied{tick: !v.synced || m.Seq > v.seq, resync: m.Reason == "resync"}
		if v.synced {
			a.ticks = m.Seq - v.seq
		}
		v.values = map[string]any{}
		v.set(&m)
		return a, nil
	case "delta":
		switch {
		case !v.synced:
			return applied{}, fmt.Errorf("delta %d before any snapshot", m.Seq)
		case m.From != nil && (*m.From > v.seq || m.Seq <= v.seq):
			return applied{}, fmt.Errorf("merged delta (%d, %d] after %d", *m.From, m.Seq, v.seq)
		case m.From == nil && m.Seq != v.seq+1:
			return applied{}, fmt.Errorf("delta %d after %d", m.Seq, v.seq)
		}
		a := applied{tick: true, ticks: m.Seq - v.seq, merged: m.From != nil}
		v.set(&m)
		return a, nil
	}
	return applied{}, nil // history, range, error: no tick
}

func (v *view) set(m *message) {
	v.synced, v.seq, v.ts = true, m.Seq, m.TS
	for _, r := range m.Removed {
		delete(v.values, fmt.Sprint(r))
	}
	for k, x := range m.Values {
		v.values[k] = x
	}
}
