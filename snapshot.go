package pulse

import "time"

// Sample is one series' state in a Snapshot.
type Sample struct {
	Metric         // name, labels, kind, value, unit and help
	Key    string  // the series key, e.g. http_requests_total{path="/"}
	Rate   float64 // per-second rate, for counters that have one
	// HasRate reports whether Rate is set: counters get one from their
	// second sample on.
	HasRate bool
	// Stale reports that the series' source has been failing; Value is
	// its last good value.
	Stale bool
}

// Snapshot returns the state of the last tick: its sequence number, its
// time, and every series sorted by key. The result is a copy the caller
// owns. It is safe to call concurrently, and costs one allocation per
// series with labels, so call it per tick at most (e.g. from a
// MetricSource of another Hub).
func (h *Hub) Snapshot() (seq uint64, ts time.Time, samples []Sample) {
	f := h.frame.Load()
	samples = make([]Sample, len(f.points))
	for i := range f.points {
		p := &f.points[i]
		m := p.meta
		s := &samples[i]
		s.Name, s.Kind, s.Unit, s.Help, s.Value = m.name, m.kind, m.unit, m.help, p.value
		if len(m.labels) > 0 {
			s.Labels = make(Labels, len(m.labels))
			for k, v := range m.labels {
				s.Labels[k] = v
			}
		}
		s.Key, s.Rate, s.HasRate, s.Stale = m.key, p.rate, p.hasRate, p.stale
	}
	return f.seq, time.UnixMilli(f.ts), samples
}
