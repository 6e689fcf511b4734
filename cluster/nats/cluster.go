package clusternats

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/go-pulse/pulse"
)

// Subject returns the NATS subject on which the replicas of cluster exchange
// their samples: "pulse.<cluster>.samples".
func Subject(cluster string) string { return "pulse." + cluster + ".samples" }

// Cluster is a replica's membership in a cluster: it publishes the local
// Hub's samples on NATS, listens to its peers' and reports the merged view
// on the public Hub. Create it with Join; Close it before closing the Hubs
// or the NATS connection. All methods are safe for concurrent use.
type Cluster struct {
	opts     Options
	nc       *nats.Conn
	local    *pulse.Hub
	public   *pulse.Hub
	subject  string
	instance uint64
	joined   time.Time
	now      func() time.Time // time.Now; tests set their own

	// life is held for reading by a collection and for writing by Close,
	// so that nothing is published after Close returns.
	life   sync.RWMutex
	closed atomic.Bool

	sub *nats.Subscription

	// Owned by the collection (the public Hub runs one at a time).
	enc     encoder
	seq     uint64
	lastCol time.Time
	gaps    [8]time.Duration
	ngaps   int

	mu       sync.Mutex // guards st, self, lastErr, interval, warm, warnedAt
	st       mergeState
	self     *peer
	lastErr  error
	interval time.Duration   // this replica's measured tick
	descs    map[uint64]desc // units and help texts by hash (see wire.go)
	warm     bool
	warnedAt time.Time

	stats struct {
		msgsIn, bytesIn, msgsOut, bytesOut atomic.Uint64
		malformed, foreign, pubErrors      atomic.Uint64
		expired                            atomic.Uint64
		lastMerge, lastMsg                 atomic.Int64
		stale                              atomic.Int64
	}
}

// Stats are a Cluster's counters, as returned by Cluster.Stats. They are
// also reported on the public Hub as the pulse_cluster_* series.
type Stats struct {
	// Node is this replica's node id.
	Node string
	// Peers is the number of replicas in the view now, this one included.
	Peers int
	// Departed is the number of replicas that left the view and whose
	// counters are still remembered.
	Departed int
	// MessagesIn and BytesIn count the peers' messages accepted.
	MessagesIn, BytesIn uint64
	// MessagesOut and BytesOut count the messages published.
	MessagesOut, BytesOut uint64
	// LastMessageBytes is the size of the last message published.
	LastMessageBytes int
	// Malformed counts messages ignored because they could not be decoded
	// or carried invalid series.
	Malformed uint64
	// Foreign counts well-formed messages ignored because they were of
	// another version or cluster, came from a replica using this
	// replica's node id, or from a replica past Options.MaxPeers.
	Foreign uint64
	// PublishErrors counts the ticks whose message could not be published:
	// NATS refused it, or the connection was down (nothing is published
	// then, so that peers do not receive a backlog of old samples on
	// reconnection).
	PublishErrors uint64
	// Expired counts the peers that left the view after PeerTimeout.
	Expired uint64
	// StaleSeries is the number of merged series that were stale at the
	// last merge: every replica's sample of it was stale.
	StaleSeries int
	// Interval is this replica's tick: the median interval between the
	// last collections of the public Hub, 0 before the second one.
	Interval time.Duration
	// LastMerge is how long the last collection took: taking the local
	// snapshot, encoding and publishing it, and merging the view.
	LastMerge time.Duration
	// LastError is the last error seen: a failed publish, a malformed or
	// foreign message. Nil if none.
	LastError error
}

// PeerInfo describes one replica known to a Cluster, as returned by
// Cluster.Peers.
type PeerInfo struct {
	// Node is the replica's node id.
	Node string
	// Self is true for this replica.
	Self bool
	// Live is false once the peer left the view (silent past its timeout).
	Live bool
	// LastHeard is when its last message was received (for Self, the last
	// collection).
	LastHeard time.Time
	// Series is the number of series of its last message.
	Series int
	// Interval is the tick the peer announced, 0 if none yet.
	Interval time.Duration
}

// Join makes this replica a member of the cluster opts.Cluster on the NATS
// connection nc: it subscribes to the cluster's subject and registers on
// public a pulse.MetricSource (named opts.SourceName, default "cluster")
// that, at each of public's ticks, publishes local's last snapshot and the
// active-users sketches, and reports the merged view of every live replica,
// this one included.
//
// local is the Hub on which the application registers its sources; it is
// normally not served. public is the Hub served to clients; other sources
// may be registered on it too, under keys the merged view does not use.
// Both must run at the same Interval as the other replicas' public Hubs,
// or PeerTimeout must be set.
//
// nc belongs to the caller, who configures its reconnection (nats.go
// reconnects by default) and closes it after Close. Join returns an error
// wrapping ErrInvalidOptions for a bad option, the error of Register or of
// Subscribe otherwise.
func Join(nc *nats.Conn, local, public *pulse.Hub, opts Options) (*Cluster, error) {
	switch {
	case nc == nil:
		return nil, fmt.Errorf("%w: nil NATS connection", ErrInvalidOptions)
	case local == nil || public == nil:
		return nil, fmt.Errorf("%w: nil Hub", ErrInvalidOptions)
	case local == public:
		return nil, fmt.Errorf("%w: the local and public Hubs must differ (the merged view would be fed back into itself)", ErrInvalidOptions)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		opts:     o,
		nc:       nc,
		local:    local,
		public:   public,
		subject:  Subject(o.Cluster),
		instance: rand.Uint64() | 1, // never 0: 0 means "no instance seen yet"
		joined:   time.Now(),
		now:      time.Now,
		descs:    make(map[uint64]desc),
		st: mergeState{
			peers:  make(map[string]*peer),
			totals: make(map[string]*total),
			aggs:   make(map[string]*agg),
			unions: make(map[string]*union),
			rules:  make(map[string]resolved),
		},
	}
	c.self = &peer{node: o.Node, self: true, live: true, instance: c.instance}
	c.st.peers[o.Node] = c.self

	c.sub, err = nc.Subscribe(c.subject, c.receive)
	if err != nil {
		return nil, fmt.Errorf("clusternats: subscribe to %s: %w", c.subject, err)
	}
	if err := public.Register(pulse.SourceFunc(c.collect), pulse.SourceOptions{Name: o.SourceName}); err != nil {
		_ = c.sub.Unsubscribe()
		return nil, fmt.Errorf("clusternats: %w", err)
	}
	return c, nil
}

// Close unregisters the merged view from the public Hub (its series are
// removed at the Hub's next tick) and unsubscribes from NATS. Nothing is
// published once it has returned; it does not close the NATS connection or
// the Hubs. Calling it again does nothing and returns nil.
func (c *Cluster) Close() error {
	c.life.Lock()
	if c.closed.Load() {
		c.life.Unlock()
		return nil
	}
	c.closed.Store(true)
	c.life.Unlock()
	c.mu.Lock()
	c.st.view = nil
	c.mu.Unlock()
	c.public.Unregister(c.opts.SourceName)
	err := c.sub.Unsubscribe()
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		err = nil // the subscription ended with the connection
	}
	return err
}

// receive handles a peer's message, on the subscription's goroutine.
func (c *Cluster) receive(msg *nats.Msg) {
	m, err := decode(msg.Data, c.opts.Cluster)
	now := c.now()
	if err != nil {
		if errors.Is(err, errForeign) {
			c.stats.foreign.Add(1)
		} else {
			c.stats.malformed.Add(1)
		}
		c.setErr(err)
		c.logDebug("clusternats: message ignored", "err", err)
		return
	}
	if m.node == c.opts.Node {
		if m.instance != c.instance {
			c.stats.foreign.Add(1)
			c.setErr(fmt.Errorf("%w: another replica uses this replica's node id %q", errForeign, m.node))
		}
		return // our own message, echoed by NATS
	}
	if c.closed.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.st.peers[m.node]
	if p == nil {
		if len(c.st.peers) >= c.opts.MaxPeers {
			c.stats.foreign.Add(1)
			c.lastErr = fmt.Errorf("%w: node %q past MaxPeers (%d)", errForeign, m.node, c.opts.MaxPeers)
			return
		}
		p = &peer{node: m.node}
		c.st.peers[m.node] = p
	}
	switch {
	case p.instance != m.instance:
		// A new process under this node id: its counters start from zero.
		for k := range p.counters {
			p.counters[k] = 0
		}
		p.instance = m.instance
	case m.seq <= p.seq:
		return // older than what we have
	}
	c.learn(m.learned)
	for _, r := range m.refs {
		if d, ok := c.descs[r.hash]; ok {
			for i := r.lo; i < r.hi; i++ {
				m.samples[i].Unit, m.samples[i].Help = d.unit, d.help
			}
		}
	}
	c.stats.msgsIn.Add(1)
	c.stats.bytesIn.Add(uint64(len(msg.Data)))
	p.seq = m.seq
	p.interval = m.interval
	p.heard = now
	p.samples = m.samples
	p.users = m.users
	if !p.live {
		p.live = true
		c.logDebug("clusternats: peer joined the view", "node", p.node)
	}
}

// learn remembers descriptions. c.mu must be held.
func (c *Cluster) learn(ds []desc) {
	for _, d := range ds {
		if _, ok := c.descs[d.hash]; !ok {
			if len(c.descs) >= maxDescs {
				clear(c.descs) // descriptions churn: keep the memory bounded
			}
			c.descs[d.hash] = d
		}
	}
}

// maxDescs bounds the descriptions a Cluster remembers.
const maxDescs = 10000

// collect is the MetricSource registered on the public Hub.
func (c *Cluster) collect(ctx context.Context) ([]pulse.Metric, error) {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed.Load() {
		return nil, nil
	}
	start := c.now()
	interval := c.measure(start)
	_, _, samples := c.local.Snapshot()
	users := make([]userSketches, 0, len(c.opts.ActiveUsers))
	for _, t := range c.opts.ActiveUsers {
		total, byValue := t.Sketches()
		users = append(users, newUserSketches(t.Name(), t.Label(), total, byValue))
	}
	c.publish(samples, users, interval)

	c.mu.Lock()
	c.enc.descs(samples, func(d desc) {
		if _, ok := c.descs[d.hash]; !ok {
			c.learn([]desc{d})
		}
	})
	c.interval = interval
	c.self.samples, c.self.users, c.self.heard = samples, users, start
	c.expire(start)
	var ms []pulse.Metric
	if !c.warm && start.Sub(c.joined) >= c.selfTimeout()/2 {
		c.warm = true
	}
	if c.warm {
		ms = c.merge()
	}
	stale := 0
	for i := range c.st.view {
		if c.st.view[i].stale {
			stale++
		}
	}
	c.mu.Unlock()
	c.stats.stale.Store(int64(stale))
	c.stats.lastMerge.Store(int64(time.Since(start)))
	return append(ms, c.selfMetrics()...), nil
}

// measure records a collection at now and returns this replica's tick: the
// median of the last intervals between collections, 0 before the second.
func (c *Cluster) measure(now time.Time) time.Duration {
	if !c.lastCol.IsZero() {
		c.gaps[c.ngaps%len(c.gaps)] = now.Sub(c.lastCol)
		c.ngaps++
	}
	c.lastCol = now
	n := min(c.ngaps, len(c.gaps))
	if n == 0 {
		return 0
	}
	g := c.gaps
	s := g[:n]
	slices.Sort(s)
	return s[n/2].Round(time.Millisecond)
}

// publish sends this replica's message. Failures are counted; nothing is
// sent while the connection is down.
func (c *Cluster) publish(samples []pulse.Sample, users []userSketches, interval time.Duration) {
	c.seq++
	h := header{cluster: c.opts.Cluster, node: c.opts.Node, instance: c.instance, seq: c.seq, interval: interval}
	data, err := c.enc.encode(&h, samples, users)
	if err == nil && !c.nc.IsConnected() {
		err = fmt.Errorf("clusternats: not publishing: NATS connection %s", strings.ToLower(c.nc.Status().String()))
	}
	if err == nil {
		err = c.nc.Publish(c.subject, data)
	}
	if err != nil {
		c.stats.pubErrors.Add(1)
		c.setErr(err)
		c.mu.Lock()
		warn := c.opts.Logger != nil && time.Since(c.warnedAt) > time.Minute
		if warn {
			c.warnedAt = time.Now()
		}
		c.mu.Unlock()
		if warn {
			c.opts.Logger.Warn("clusternats: publish failed; the view falls back to the replicas still heard", "subject", c.subject, "err", err)
		}
		return
	}
	c.stats.msgsOut.Add(1)
	c.stats.bytesOut.Add(uint64(len(data)))
	c.stats.lastMsg.Store(int64(len(data)))
}

// timeoutFor is the silence after which peer p leaves the view. c.mu must
// be held.
func (c *Cluster) timeoutFor(p *peer) time.Duration {
	if c.opts.PeerTimeout > 0 {
		return c.opts.PeerTimeout
	}
	if p.interval > 0 {
		return max(timeoutTicks*p.interval, minPeerTimeout)
	}
	return defaultPeerTimeout
}

// minPeerTimeout is the least default timeout, whatever the tick: below
// it, scheduling jitter alone would make peers flap in and out.
const minPeerTimeout = 250 * time.Millisecond

// selfTimeout is the timeout peers apply to this replica. c.mu must be
// held.
func (c *Cluster) selfTimeout() time.Duration {
	p := *c.self
	p.interval = c.interval
	return c.timeoutFor(&p)
}

func (c *Cluster) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

func (c *Cluster) logDebug(msg string, args ...any) {
	if c.opts.Logger != nil {
		c.opts.Logger.Debug(msg, append(args, "cluster", c.opts.Cluster, "node", c.opts.Node)...)
	}
}

// Stats returns the Cluster's counters. It is safe for concurrent use.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	live, departed := 0, 0
	for _, p := range c.st.peers {
		if p.live {
			live++
		} else {
			departed++
		}
	}
	s := Stats{Node: c.opts.Node, Peers: live, Departed: departed, LastError: c.lastErr, Interval: c.interval}
	c.mu.Unlock()
	s.MessagesIn = c.stats.msgsIn.Load()
	s.BytesIn = c.stats.bytesIn.Load()
	s.MessagesOut = c.stats.msgsOut.Load()
	s.BytesOut = c.stats.bytesOut.Load()
	s.LastMessageBytes = int(c.stats.lastMsg.Load())
	s.Malformed = c.stats.malformed.Load()
	s.Foreign = c.stats.foreign.Load()
	s.PublishErrors = c.stats.pubErrors.Load()
	s.Expired = c.stats.expired.Load()
	s.StaleSeries = int(c.stats.stale.Load())
	s.LastMerge = time.Duration(c.stats.lastMerge.Load())
	return s
}

// Peers returns the replicas the Cluster knows, live or departed, sorted by
// node id, this one included. It is safe for concurrent use.
func (c *Cluster) Peers() []PeerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := make([]PeerInfo, 0, len(c.st.peers))
	for _, p := range c.st.peers {
		iv := p.interval
		if p.self {
			iv = c.interval
		}
		ps = append(ps, PeerInfo{Node: p.node, Self: p.self, Live: p.live, LastHeard: p.heard, Series: len(p.samples), Interval: iv})
	}
	slices.SortFunc(ps, func(a, b PeerInfo) int { return strings.Compare(a.Node, b.Node) })
	return ps
}

// View returns the merged view of the last collection, sorted by key: the
// series the Cluster reported to the public Hub (without the
// pulse_cluster_* series), with Stale set on the merged series whose every
// contributor is stale. Rate and HasRate are not set: the public Hub
// computes rates (see its Snapshot). The public Hub itself can only mark a
// source's series stale all together, so the per-series flag is available
// here and counted in Stats.StaleSeries. It is safe for concurrent use; the
// result is a copy the caller owns.
func (c *Cluster) View() []pulse.Sample {
	c.mu.Lock()
	out := make([]pulse.Sample, len(c.st.view))
	for i, e := range c.st.view {
		out[i] = pulse.Sample{Metric: e.m, Stale: e.stale}
		if len(e.m.Labels) > 0 {
			out[i].Labels = make(pulse.Labels, len(e.m.Labels))
			for k, v := range e.m.Labels {
				out[i].Labels[k] = v
			}
		}
	}
	c.mu.Unlock()
	for i := range out {
		out[i].Key = out[i].Metric.Key()
	}
	slices.SortFunc(out, func(a, b pulse.Sample) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// selfMetrics reports the Cluster's Stats as the pulse_cluster_* series of
// this replica.
func (c *Cluster) selfMetrics() []pulse.Metric {
	s := c.Stats()
	g := func(name, help, unit string, v float64) pulse.Metric {
		return pulse.Metric{Name: name, Kind: pulse.KindGauge, Value: v, Help: help, Unit: unit}
	}
	n := func(name, help, unit string, v uint64) pulse.Metric {
		return pulse.Metric{Name: name, Kind: pulse.KindCounter, Value: float64(v), Help: help, Unit: unit}
	}
	return []pulse.Metric{
		g("pulse_cluster_peers", "Replicas in the merged view, this one included", "replicas", float64(s.Peers)),
		n("pulse_cluster_messages_in_total", "Peer messages accepted", "messages", s.MessagesIn),
		n("pulse_cluster_bytes_in_total", "Bytes of peer messages accepted", "bytes", s.BytesIn),
		n("pulse_cluster_messages_out_total", "Messages published", "messages", s.MessagesOut),
		n("pulse_cluster_bytes_out_total", "Bytes published", "bytes", s.BytesOut),
		g("pulse_cluster_message_bytes", "Size of the last message published", "bytes", float64(s.LastMessageBytes)),
		n("pulse_cluster_malformed_total", "Messages ignored as malformed", "messages", s.Malformed),
		n("pulse_cluster_foreign_total", "Messages ignored as foreign", "messages", s.Foreign),
		n("pulse_cluster_publish_errors_total", "Ticks whose message was not published", "errors", s.PublishErrors),
		n("pulse_cluster_expired_total", "Peers that left the view after their timeout", "replicas", s.Expired),
		g("pulse_cluster_stale_series", "Merged series whose every contributor is stale", "series", float64(s.StaleSeries)),
		g("pulse_cluster_merge_seconds", "Duration of the last collection and merge", "seconds", s.LastMerge.Seconds()),
	}
}
