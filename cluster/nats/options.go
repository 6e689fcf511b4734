package clusternats

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/internal/pattern"
	"github.com/go-pulse/pulse/sources/active"
)

// ErrInvalidOptions is wrapped by every error Join returns for an option out
// of range. Test for it with errors.Is.
var ErrInvalidOptions = errors.New("clusternats: invalid options")

// Merge says how the series of the same key on several replicas combine into
// the one series of the merged view.
type Merge uint8

const (
	// MergeDefault is the zero Merge: the default of the series' kind,
	// MergeSum for counters and Options.Gauges for gauges.
	MergeDefault Merge = iota
	// MergeSum adds the replicas' values: requests served, requests in
	// flight, queue lengths. For counters, the sum is kept monotonic
	// across restarts and departures (see the package documentation).
	MergeSum
	// MergeMax takes the largest value: the slowest replica's latency, the
	// oldest uptime. Gauges only; a counter is summed.
	MergeMax
	// MergeMin takes the smallest value. Gauges only; a counter is summed.
	MergeMin
	// MergeMean takes the mean of the replicas' values. Gauges only; a
	// counter is summed.
	MergeMean
	// MergePerNode keeps each replica's series apart, with an extra label
	// (Options.NodeLabel, default "node") holding the replica's node id,
	// and reports no merged series.
	MergePerNode
)

// String returns "default", "sum", "max", "min", "mean" or "per-node".
func (m Merge) String() string {
	switch m {
	case MergeDefault:
		return "default"
	case MergeSum:
		return "sum"
	case MergeMax:
		return "max"
	case MergeMin:
		return "min"
	case MergeMean:
		return "mean"
	case MergePerNode:
		return "per-node"
	}
	return "Merge(" + strconv.Itoa(int(m)) + ")"
}

// Rule sets how the series whose name matches Pattern are merged.
type Rule struct {
	// Pattern is matched against series names, in pulse's subscription
	// pattern syntax: metric-name characters, '*' for any run of
	// characters and '?' for one, e.g. "http_*" or "queue_?_length".
	Pattern string

	// Merge is how the matching series combine. MergeDefault (the zero
	// value) keeps the default of each series' kind.
	Merge Merge

	// PerNode, when true, also reports each live replica's own series
	// with the node label, next to the merged series, so that a dashboard
	// can show the total and the share of every replica. It has no effect
	// with MergePerNode, which reports only those.
	PerNode bool
}

// Options configures Join.
type Options struct {
	// Cluster names the group of replicas that share a view, e.g. the
	// service's name. Replicas exchange their samples on the NATS subject
	// pulse.<Cluster>.samples. Required: 1 to 64 of [A-Za-z0-9_-].
	Cluster string

	// Node identifies this replica among its peers, e.g. a pod name. It
	// is the value of the node label of per-node series. Default the host
	// name, a dash and the process id ("web-7f9c-1234"). At most 128
	// bytes of UTF-8. Two live replicas must not share a node id: the
	// messages of the other one are counted as foreign and ignored.
	Node string

	// PeerTimeout is how long a peer may stay silent before it leaves the
	// view: its gauges stop counting, its counters' last values stay in
	// the merged sums (and its last values are remembered for 100
	// PeerTimeouts, at least 5 minutes, so that it can come back without
	// being counted twice). Default three times the peer's tick, as
	// announced in its messages (each replica measures the interval
	// between the collections of its public Hub), at least 250ms, or 3s
	// for a peer that has not announced one yet. Set it when the network
	// or a loaded machine can delay messages by more than a tick or two,
	// or when the replicas' Hubs do not share one Interval.
	PeerTimeout time.Duration

	// Gauges is the merge of gauges that no rule matches. Default
	// MergeSum (e.g. requests in flight).
	Gauges Merge

	// Rules set the merge of the series whose name they match; the first
	// matching rule applies. Series that no rule matches get the default
	// of their kind: MergeSum for counters, Options.Gauges for gauges.
	Rules []Rule

	// NodeLabel is the label that holds the node id in per-node series.
	// It replaces a label of the same name of the original series.
	// Default "node".
	NodeLabel string

	// ActiveUsers are trackers of active users registered on the local
	// Hub. Each replica ships its trackers' sketches (see
	// active.Tracker.Sketches) with its samples, and the merged view
	// reports the distinct visitors of the union of all live replicas'
	// sketches under each tracker's series (its Name, and Name{Label=v}
	// per breakdown value), instead of the sum, so that a visitor served
	// by two replicas counts once. Trackers must have distinct names.
	// Default none: the trackers' series are merged like other gauges.
	ActiveUsers []*active.Tracker

	// SourceName is the name under which the merged view is registered on
	// the public Hub. Default "cluster".
	SourceName string

	// MaxPeers bounds the replicas remembered at once, live or departed;
	// the messages of further ones are counted as foreign and ignored.
	// Default 1,000.
	MaxPeers int

	// Logger receives malformed and foreign messages at Debug level and
	// failed publishes at Warn level (at most once per minute).
	// Default: nothing is logged; Stats counts.
	Logger *slog.Logger
}

const (
	defaultPeerTimeout = 3 * time.Second
	defaultNodeLabel   = "node"
	defaultSourceName  = "cluster"
	defaultMaxPeers    = 1000
	// timeoutTicks is PeerTimeout in peer ticks, by default.
	timeoutTicks = 3
	// minRetention is how long a departed peer's counters are remembered at
	// least; see retention.
	minRetention = 5 * time.Minute
)

func (o Options) withDefaults() (Options, error) {
	bad := func(format string, args ...any) (Options, error) {
		return o, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	if o.Cluster == "" || len(o.Cluster) > maxClusterLen {
		return bad("Cluster %q: want 1 to %d characters", o.Cluster, maxClusterLen)
	}
	for i := 0; i < len(o.Cluster); i++ {
		if c := o.Cluster[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return bad("Cluster %q: character %q not allowed (want [A-Za-z0-9_-])", o.Cluster, c)
		}
	}
	if o.Node == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "node"
		}
		o.Node = host + "-" + strconv.Itoa(os.Getpid())
		if len(o.Node) > maxNodeLen {
			o.Node = o.Node[len(o.Node)-maxNodeLen:]
			for !utf8.ValidString(o.Node) {
				o.Node = o.Node[1:]
			}
		}
	}
	if len(o.Node) > maxNodeLen || !utf8.ValidString(o.Node) {
		return bad("Node %.40q: want at most %d bytes of UTF-8", o.Node, maxNodeLen)
	}
	if o.PeerTimeout < 0 {
		return bad("PeerTimeout %v is negative", o.PeerTimeout)
	}
	if o.Gauges == MergeDefault {
		o.Gauges = MergeSum
	}
	if o.Gauges > MergePerNode {
		return bad("Gauges: unknown %v", o.Gauges)
	}
	if o.NodeLabel == "" {
		o.NodeLabel = defaultNodeLabel
	}
	if err := (&pulse.Metric{Name: "x", Labels: pulse.Labels{o.NodeLabel: o.Node}}).Validate(); err != nil {
		return bad("NodeLabel or Node: %v", err)
	}
	rules := make([]Rule, len(o.Rules))
	for i, r := range o.Rules {
		if err := pattern.Validate(r.Pattern); err != nil {
			return bad("Rules[%d]: %v", i, err)
		}
		if r.Merge > MergePerNode {
			return bad("Rules[%d]: unknown %v", i, r.Merge)
		}
		rules[i] = r
	}
	o.Rules = rules
	names := make(map[string]bool, len(o.ActiveUsers))
	for i, t := range o.ActiveUsers {
		if t == nil {
			return bad("ActiveUsers[%d] is nil", i)
		}
		if names[t.Name()] {
			return bad("ActiveUsers: two trackers named %q", t.Name())
		}
		names[t.Name()] = true
	}
	o.ActiveUsers = append([]*active.Tracker(nil), o.ActiveUsers...)
	if o.SourceName == "" {
		o.SourceName = defaultSourceName
	}
	if o.MaxPeers < 0 {
		return bad("MaxPeers %d is negative", o.MaxPeers)
	}
	if o.MaxPeers == 0 {
		o.MaxPeers = defaultMaxPeers
	}
	return o, nil
}
