// Package clusternats gives the replicas of a service one cluster-wide view
// of their metrics, over NATS: a dashboard connected to any replica sees the
// requests per second of all replicas together, the active users of all of
// them counted once, and per-replica figures where wanted.
//
// Each replica runs two Hubs: a local one, on which the application
// registers its sources as usual and which is not served, and a public one,
// served to clients. [Join] registers on the public Hub a source that, at
// each of its ticks, publishes the local Hub's last snapshot on the NATS
// subject pulse.<cluster>.samples and reports the merged view of the latest
// samples of every live replica, this one included:
//
//	local, err := pulse.NewHub(pulse.Options{}) // the application's sources
//	if err != nil { ... }
//	public, err := pulse.NewHub(pulse.Options{}) // served to dashboards
//	if err != nil { ... }
//	if err := local.Register(requests, pulse.SourceOptions{}); err != nil { ... }
//	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
//	if err != nil { ... }
//	cl, err := clusternats.Join(nc, local, public, clusternats.Options{Cluster: "shop"})
//	if err != nil { ... }
//	defer cl.Close()
//	mux.Handle("/ws/metrics", public)
//
// There is no leader and no election: every replica subscribes to the
// subject and computes the same view, at most about one tick behind the
// replicas' own Hubs. Without Join nothing changes: a Hub alone serves its
// own metrics and costs nothing more.
//
// # Merging
//
// Series with the same key (name and labels) on several replicas become one
// series. By default counters are summed and so are gauges (requests in
// flight, queue lengths); [Options.Gauges] changes the default of gauges
// and [Options.Rules] set the merge per series name pattern (* and ?): sum,
// max, min, mean, or per node (each replica's series kept apart, with an
// extra label "node" holding its node id). A rule may also ask for the
// per-node series next to the merged one ([Rule.PerNode]).
//
// A merged counter stays monotonic, so the public Hub's rate of it is the
// cluster's rate: the merged value is the sum, over every replica ever
// heard, of the increases of its counter. When a replica's counter goes
// down (it restarted its process, or a replica reappears under the same
// node id with a new instance), its new value is counted as an increase
// from zero. When a replica leaves the view, its last value stays in the
// sum (for at least 5 minutes it is remembered, so that it can come back
// after a network partition without being counted twice). So counter rates
// agree on every replica, while counter values agree between replicas that
// have heard the same history: a replica started later does not know the
// totals of replicas that left before it joined.
//
// The merged series has the description (help, unit, kind) of the replica
// with the smallest node id; a replica reporting the key with another kind
// is left out of it.
//
// A gauge counts only the live replicas: a replica silent for
// [Options.PeerTimeout] (default three of its ticks, at least 250ms, or 3s
// before it announced its tick) leaves the view, and its gauges stop
// counting.
//
// For its first half PeerTimeout after Join, a replica reports only its
// pulse_cluster_* series: it first listens until every live peer has been
// heard, so that a counter does not show its peers' whole totals as one
// burst of rate at startup.
//
// # Active users
//
// Summing the active users of several replicas counts twice a visitor
// served by two of them. With [Options.ActiveUsers], a replica ships its
// trackers' HyperLogLog sketches of the window ([active.Tracker.Sketches])
// in its message, and the merged view reports, for each tracker's series,
// the distinct visitors of the union of the live replicas' sketches: exact
// in practice for small counts, about 0.8% standard error (1.6% per
// breakdown value) beyond.
//
// # Stale series
//
// A replica ships the stale flag of its series; a merged series is stale
// when every contributor's sample is. The public Hub, whose sources can
// only mark their series stale all together, does not show the flag:
// [Cluster.View] returns the merged view with it, and
// pulse_cluster_stale_series counts the stale series.
//
// # Losing NATS
//
// Losing NATS never stops a Hub from serving: publishes that fail are
// counted (nothing is published while the connection is down, so that
// peers do not receive a backlog of old samples when it comes back), peers
// leave the view as their timeouts pass, so the view falls back to this
// replica alone, with the counters of the others kept in the sums. nats.go
// reconnects by itself (the application configures that on its connection)
// and the view heals as the peers are heard again.
//
// # Messages
//
// A message is a compact binary encoding (see wire.go), versioned, naming
// its cluster and node: each series' labels, stale flag and value, each
// name once, and each unit and help text in full in one message out of ten
// (by an 8-byte hash in the others, which receivers resolve from the texts
// they have seen). A message that cannot be decoded or
// carries invalid series is counted as malformed, one of another version or
// cluster (or from another replica using this replica's node id) as
// foreign, and both are ignored. See README.md in this directory for its
// size and the cost per tick for 3, 10 and 50 replicas.
//
// # Own metrics
//
// [Cluster.Stats] returns the counters of the link (peers, messages and
// bytes in and out, malformed and foreign messages, publish errors, last
// error), also reported on the public Hub as the pulse_cluster_* series:
// pulse_cluster_peers, pulse_cluster_messages_in_total,
// pulse_cluster_bytes_out_total and so on. They describe this replica and
// are not merged. Enable pulse.Options.SelfMetrics on the public Hub, not
// on the local one: the local Hub's pulse_* series would be merged into the
// public Hub, where its own pulse_* series already have those keys.
//
// The collection runs as a source of the public Hub, on one of its worker
// goroutines, bounded by the source's timeout (one tick): its cost,
// measured in README.md (about 2 ms per tick for 10 replicas of 135
// series), must stay well below the Interval.
//
// # Concurrency
//
// Every method of [Cluster] is safe for concurrent use. A Cluster starts no
// goroutine of its own: the public Hub's source worker runs the merge, and
// the NATS subscription's goroutine decodes the peers' messages.
// [Cluster.Close] unsubscribes and unregisters the source; then close the
// Hubs and the NATS connection, which the application owns.
package clusternats
