package active

// Name returns the name of the gauge the Tracker reports: Options.Name, by
// default "active_users". Code that merges the Tracker's [Tracker.Sketches]
// with those of other replicas (e.g. package
// github.com/go-pulse/pulse/cluster/nats) uses it to know which series the
// merged count replaces.
func (t *Tracker) Name() string { return t.name }

// Label returns the name of the breakdown label (Options.Label), or "" when
// the Tracker has no breakdown. The Tracker's per-value series are
// Name(){Label()="value"}.
func (t *Tracker) Label() string { return t.label }
