package pulse

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/go-pulse/pulse/internal/pattern"
)

// Groups. Clients that see the same set of metric names form a group, and a
// group's messages are encoded once and shared by all of its clients: two
// filters that match the same names share one encode per tick, one
// snapshot, one history, whatever their text. A filter is evaluated against
// the names in use (never against every series), once when it is first
// used and again only for the names that come or go.

// nameSet is a set of name ids, a bitset over the name table.
type nameSet []uint64

func (s nameSet) has(id int32) bool {
	w := int(id >> 6)
	return w < len(s) && s[w]&(1<<(uint(id)&63)) != 0
}

func (s *nameSet) set(id int32, on bool) {
	w := int(id >> 6)
	for len(*s) <= w {
		*s = append(*s, 0)
	}
	if on {
		(*s)[w] |= 1 << (uint(id) & 63)
	} else {
		(*s)[w] &^= 1 << (uint(id) & 63)
	}
}

// key is the set's identity: equal sets have equal keys.
func (s nameSet) key() string {
	n := len(s)
	for n > 0 && s[n-1] == 0 {
		n--
	}
	if n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 8*n))
}

// filter decides which series a connection sees: those whose name matches
// one of the subscribed patterns and, when the connection's access is
// restricted, one of the allowed patterns. filters are immutable.
type filter struct {
	subs  []string // sorted, unique
	allow []string // sorted, unique; empty = no restriction
	key   string   // canonical text; equal filters have equal keys
}

func newFilter(subs, allow []string) *filter {
	subs = canonPatterns(subs)
	allow = canonPatterns(allow)
	if slices.Contains(allow, "*") {
		allow = nil
	}
	return &filter{subs: subs, allow: allow, key: strings.Join(subs, ",") + "|" + strings.Join(allow, ",")}
}

func canonPatterns(ps []string) []string {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out)
}

func (f *filter) match(name string) bool {
	return pattern.Any(f.subs, name) && (len(f.allow) == 0 || pattern.Any(f.allow, name))
}

// evaluate returns the names of ns that f lets through.
func (f *filter) evaluate(ns *names) nameSet {
	var s nameSet
	for id, name := range ns.byID {
		if name != "" && f.match(name) {
			s.set(int32(id), true)
		}
	}
	return s
}

// update brings s, evaluated against old, up to date with ns: only the ids
// whose name changed are matched again.
func (f *filter) update(s nameSet, old, ns *names) nameSet {
	for id := range max(len(old.byID), len(ns.byID)) {
		was, is := nameAt(old, id), nameAt(ns, id)
		if was != is {
			s.set(int32(id), is != "" && f.match(is))
		}
	}
	return s
}

func nameAt(ns *names, id int) string {
	if id < len(ns.byID) {
		return ns.byID[id]
	}
	return ""
}

// filterUse is a filter in use by one or more clients, with the names it
// lets through.
type filterUse struct {
	f    *filter
	sees nameSet
	key  string // sees.key()
	at   *names // the table sees is evaluated against
	refs int
}

// group is the set of clients whose filters see the same names and that
// speak the same protocol version.
type group struct {
	key    string // groupKey(setKey, version)
	setKey string // the key of the name set
	lens   lens   // immutable

	members []*client                 // guarded by registry.mu
	cur     atomic.Pointer[groupTick] // the group's messages at the latest frame

	deltaHint int // the size to allocate for the next delta; collector only

	onBuild func(g *group, what string) // hooks.build; immutable
}

// groupTick is a group's messages at one frame: the tick's delta, encoded
// by the fan-out, and the messages built on demand by whoever needs them
// first (a connecting client's hello, snapshot and history; a lagging
// client's merged delta), each built once under mu and then shared.
type groupTick struct {
	g     *group
	f     *frame
	delta msg // the delta from the previous tick; empty for a group made after that

	mu sync.Mutex
	// The messages built on demand, made by lock: most ticks of a group
	// build none, so the tick's state stays small (72 bytes); guarded by mu.
	*groupBuilt
}

// groupBuilt is what a groupTick builds on demand.
type groupBuilt struct {
	hello  msg
	hist   msg
	snaps  [4]msg // by reason (reasonIndex)
	merged []mergedMsg
}

// lock takes gt.mu, making the room for the messages built on demand if
// need be.
func (gt *groupTick) lock() {
	gt.mu.Lock()
	if gt.groupBuilt == nil {
		gt.groupBuilt = &groupBuilt{}
	}
}

// mergedMsg is a merged delta from seq from.
type mergedMsg struct {
	from uint64
	m    msg
}

// maxMerged bounds the merged deltas a group keeps per tick; past it a
// lagging client gets one that starts earlier than it needs (a superset,
// still correct), so the encodes per tick stay bounded however many clients
// lag by different amounts.
const maxMerged = 8

func newGroupTick(g *group, f *frame, delta msg) *groupTick {
	return &groupTick{g: g, f: f, delta: delta}
}

// registry holds the clients, the filters they use and their groups; it owns
// its lock. Lock order: registry.mu, then client.mu, then runQueue.mu; a
// groupTick's mu is taken alone.
type registry struct {
	mu        sync.Mutex
	closed    bool
	clients   map[*client]struct{}
	groups    map[string]*group
	filters   map[string]*filterUse
	names     *names // the table every filterUse.sees is evaluated against
	maxGroups int
	scratch   []*group                    // fanout's, reused
	onBuild   func(g *group, what string) // hooks.build, given to every group
}

func newRegistry(maxGroups int) *registry {
	return &registry{
		clients:   make(map[*client]struct{}),
		groups:    make(map[string]*group),
		filters:   make(map[string]*filterUse),
		names:     &names{},
		maxGroups: maxGroups,
	}
}

// use returns the filterUse for f, evaluating f against the names off the
// lock if no client uses it yet. The caller holds no lock and passes the
// result to attach or move, which settle it and take the reference.
func (r *registry) use(f *filter) *filterUse {
	r.mu.Lock()
	if fu := r.filters[f.key]; fu != nil {
		r.mu.Unlock()
		return fu
	}
	ns := r.names
	r.mu.Unlock()
	sees := f.evaluate(ns) // the costly part, on the client's goroutine
	r.mu.Lock()
	defer r.mu.Unlock()
	if fu := r.filters[f.key]; fu != nil {
		return fu
	}
	return &filterUse{f: f, sees: sees, key: sees.key(), at: ns}
}

// settle returns the filterUse to register for fu: the one already
// registered for its filter, or fu brought up to date with the names that
// came or went since use evaluated it. r.mu is held.
func (r *registry) settle(fu *filterUse) *filterUse {
	if cur := r.filters[fu.f.key]; cur != nil {
		return cur
	}
	if fu.at != r.names {
		fu.sees = fu.f.update(fu.sees, fu.at, r.names)
		fu.key, fu.at = fu.sees.key(), r.names
	}
	return fu
}

// groupFor returns the group of fu's names, making it if need be; it
// returns nil when that would pass maxGroups and limit is set. r.mu is held.
func (r *registry) groupFor(fu *filterUse, v2 bool, cur *frame, limit bool) *group {
	if g := r.lookupGroup(fu.key, v2); g != nil {
		return g
	}
	if limit && r.maxGroups > 0 && len(r.groups) >= r.maxGroups {
		return nil
	}
	key := groupKey(fu.key, v2)
	g := &group{key: key, setKey: fu.key, lens: lens{sees: slices.Clone(fu.sees), v2: v2}, onBuild: r.onBuild}
	g.cur.Store(newGroupTick(g, cur, msg{}))
	r.groups[key] = g
	return g
}

// groupKey is the key of the group of the clients of protocol version v2
// (or 1) that see the name set of key setKey.
func groupKey(setKey string, v2 bool) string {
	return string(appendGroupKey(nil, setKey, v2))
}

func appendGroupKey(b []byte, setKey string, v2 bool) []byte {
	v := byte('1')
	if v2 {
		v = '2'
	}
	return append(append(b, v), setKey...)
}

// lookupGroup returns the group groupKey(setKey, v2) names, if any, without
// making its key (a string per lookup, per client moved when names come
// or go). r.mu is held.
func (r *registry) lookupGroup(setKey string, v2 bool) *group {
	var room [64]byte
	return r.groups[string(appendGroupKey(room[:0], setKey, v2))]
}

// groupOf returns the group of the protocol v1 clients that use filter f,
// if any.
func (r *registry) groupOf(f *filter) *group {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fu := r.filters[f.key]; fu != nil {
		return r.lookupGroup(fu.key, false)
	}
	return nil
}

// admits reports whether a client using fu may join without making one
// group more than maxGroups.
func (r *registry) admits(fu *filterUse, v2 bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxGroups <= 0 || len(r.groups) < r.maxGroups || r.lookupGroup(fu.key, v2) != nil
}

// addUse takes a reference on fu. r.mu is held.
func (r *registry) addUse(fu *filterUse) {
	if fu.refs == 0 {
		r.filters[fu.f.key] = fu
	}
	fu.refs++
}

func (r *registry) dropUse(fu *filterUse) {
	if fu.refs--; fu.refs == 0 {
		delete(r.filters, fu.f.key)
	}
}

// enter puts c in g. r.mu and c.mu are held.
func (g *group) enter(c *client) {
	c.g = g
	c.memberIdx = len(g.members)
	g.members = append(g.members, c)
}

// leaveGroup takes c out of its group, dropping the group when it empties.
// r.mu and c.mu are held.
func (r *registry) leaveGroup(c *client) {
	g := c.g
	last := len(g.members) - 1
	g.members[c.memberIdx] = g.members[last]
	g.members[c.memberIdx].memberIdx = c.memberIdx
	g.members[last] = nil
	g.members = g.members[:last]
	c.g = nil
	if len(g.members) == 0 && r.groups[g.key] == g {
		delete(r.groups, g.key)
	}
}

// renamed brings every filter and group up to date with the names of ns:
// filters are matched against the names that came or went, and clients
// whose filter now sees other names move to the group of those names. The
// move may pass maxGroups (a split of clients that saw the same names);
// groups come back under it as clients leave. r.mu is held; this runs on
// the collector, only when the set of names changed.
func (r *registry) renamed(ns *names, cur *frame) {
	old := r.names
	r.names = ns

	moved := false
	for _, fu := range r.filters {
		fu.sees = fu.f.update(fu.sees, old, ns)
		fu.at = ns
		if k := fu.sees.key(); k != fu.key {
			fu.key, moved = k, true
		}
	}
	if !moved {
		return
	}
	for c := range r.clients {
		if c.fu != nil && c.g != nil && c.g.setKey != c.fu.key {
			g := r.groupFor(c.fu, c.v2, cur, false)
			c.mu.Lock()
			r.leaveGroup(c)
			g.enter(c)
			c.q.gen++ // a message built for the old group must not be sent
			c.mu.Unlock()
		}
	}
}

// fanout publishes f to every group: it brings the groups up to date with
// f's names, encodes each group's delta (off the lock) and wakes every
// client. It returns the number of deltas encoded. Collector goroutine only.
func (r *registry) fanout(f *frame) int {
	r.mu.Lock()
	if f.names != r.names {
		r.renamed(f.names, f)
	}
	gs := r.scratch[:0]
	for _, g := range r.groups {
		gs = append(gs, g)
	}
	r.mu.Unlock()
	for _, g := range gs {
		d := newMsg(g.deltaHint, func(b []byte) []byte { return appendDelta(b, f, g.lens) })
		g.deltaHint = len(d.frame) + len(d.frame)/8
		g.cur.Store(newGroupTick(g, f, d))
	}
	r.mu.Lock()
	for _, g := range gs {
		for _, c := range g.members {
			c.wake()
		}
	}
	r.mu.Unlock()
	n := len(gs)
	clear(gs)
	r.scratch = gs[:0]
	return n
}
