package pulse

import (
	"context"
	"sync/atomic"
	"time"
)

// hubStats are the Hub's counters, updated atomically wherever the events
// happen.
type hubStats struct {
	connects, rejected                 atomic.Uint64
	unhijackable                       atomic.Uint64 // also in rejected
	sent, bytes                        atomic.Uint64
	resyncs, merged, slow, pingTimeout atomic.Uint64
	ranges                             atomic.Uint64 // range answers (ranges.go)
	clientErrors, policyCloses         atomic.Uint64
	budgetCloses, controlDropped       atomic.Uint64
	groupsRefused                      atomic.Uint64
	sourceErrors, sourcePanics         atomic.Uint64
	sourceTimeouts, seriesRefused      atomic.Uint64
	ticks, lastTickNanos, maxTickNanos atomic.Int64
	series, degraded                   atomic.Int64
	encodes                            atomic.Uint64 // delta encodes; tests check one per group per tick
	compressions, resumes, wireBytes   atomic.Uint64
	sseBounded                         atomic.Uint64 // SSE streams with a bounded send queue (conncontext.go)
}

// Stats is a point-in-time report of a Hub's activity. Counters count from
// NewHub.
type Stats struct {
	Clients         int           // clients connected now, WebSocket and Server-Sent Events
	Connects        uint64        // clients accepted, WebSocket and Server-Sent Events
	Rejected        uint64        // requests refused: closed Hub, bad method, AllowedHosts, Authorize, bad query, MaxClients, origin or handshake
	Unhijackable    uint64        // upgrades answered 501: a middleware hides http.Hijacker (see ServeHTTP); also in Rejected
	MessagesSent    uint64        // messages written to clients
	BytesSent       uint64        // payload bytes written to clients (uncompressed)
	WireBytes       uint64        // bytes of the WebSocket frames queued for clients: headers and payloads, compressed where they were
	Compressions    uint64        // messages compressed (once per group message, whatever the number of clients that get it)
	Resumes         uint64        // v2 reconnects that resumed where they left off (a merged delta instead of catalogue, snapshot and history)
	Resyncs         uint64        // full snapshots sent to clients too far behind for a merged delta (the removals since their seq are no longer kept)
	Ranges          uint64        // history ranges answered to WebSocket clients ({"type":"range"}; see Hub.History)
	MergedDeltas    uint64        // merged deltas sent: one update covering several ticks, to a client whose link could not take every tick
	Degraded        int           // clients now updated less often than every tick (their last update was a merged delta)
	SSEBounded      uint64        // Server-Sent Events streams whose unsent bytes the kernel was told to hold to about MaxInFlight (ConnContext installed, HTTP/1.x, Linux)
	Groups          int           // distinct groups of clients now (clients whose filters see the same series share one)
	GroupsRefused   uint64        // connections and subscriptions refused past Options.MaxGroups
	SlowDisconnects uint64        // clients closed for making no progress for WriteTimeout
	PingTimeouts    uint64        // clients closed because a ping went unanswered
	ClientErrors    uint64        // bad messages received from clients
	PolicyCloses    uint64        // clients closed after too many bad messages
	BudgetCloses    uint64        // clients closed for sending more than Options.ReadRate
	ControlDropped  uint64        // pongs not sent to a client that had a full control budget pending (see SECURITY.md)
	SourceErrors    uint64        // failed collections (errors, panics, timeouts) and refused metrics
	SourcePanics    uint64        // collections that panicked
	SourceTimeouts  uint64        // collections that passed their timeout
	SeriesRefused   uint64        // new series refused past MaxSeries
	Series          int           // series held
	Seq             uint64        // sequence number of the last tick
	Ticks           uint64        // ticks completed since NewHub (the first runs at once); each advances Seq by one
	LastTick        time.Duration // duration of the last tick (collect, diff, encode, fan-out)
	MaxTick         time.Duration // longest tick so far
}

// Stats returns the Hub's current figures. It is safe to call concurrently
// and cheap, though it briefly takes the lock connects and the fan-out take.
func (h *Hub) Stats() Stats {
	h.reg.mu.Lock()
	n, groups := len(h.reg.clients), len(h.reg.groups)
	h.reg.mu.Unlock()
	s := &h.stats
	return Stats{
		Clients:         n,
		Connects:        s.connects.Load(),
		Rejected:        s.rejected.Load(),
		Unhijackable:    s.unhijackable.Load(),
		MessagesSent:    s.sent.Load(),
		BytesSent:       s.bytes.Load(),
		WireBytes:       s.wireBytes.Load(),
		Compressions:    s.compressions.Load(),
		Resumes:         s.resumes.Load(),
		Resyncs:         s.resyncs.Load(),
		Ranges:          s.ranges.Load(),
		MergedDeltas:    s.merged.Load(),
		Degraded:        int(s.degraded.Load()),
		SSEBounded:      s.sseBounded.Load(),
		Groups:          groups,
		GroupsRefused:   s.groupsRefused.Load(),
		SlowDisconnects: s.slow.Load(),
		PingTimeouts:    s.pingTimeout.Load(),
		ClientErrors:    s.clientErrors.Load(),
		PolicyCloses:    s.policyCloses.Load(),
		BudgetCloses:    s.budgetCloses.Load(),
		ControlDropped:  s.controlDropped.Load(),
		SourceErrors:    s.sourceErrors.Load(),
		SourcePanics:    s.sourcePanics.Load(),
		SourceTimeouts:  s.sourceTimeouts.Load(),
		SeriesRefused:   s.seriesRefused.Load(),
		Series:          int(s.series.Load()),
		Seq:             h.frame.Load().seq,
		Ticks:           uint64(s.ticks.Load()),
		LastTick:        time.Duration(s.lastTickNanos.Load()),
		MaxTick:         time.Duration(s.maxTickNanos.Load()),
	}
}

func (h *Hub) selfMetrics(context.Context) ([]Metric, error) {
	s := h.Stats()
	g := func(name, help, unit string, v float64) Metric {
		return Metric{Name: name, Kind: KindGauge, Value: v, Help: help, Unit: unit}
	}
	c := func(name, help, unit string, v uint64) Metric {
		return Metric{Name: name, Kind: KindCounter, Value: float64(v), Help: help, Unit: unit}
	}
	return []Metric{
		g("pulse_clients", "Clients connected (WebSocket and Server-Sent Events)", "clients", float64(s.Clients)),
		c("pulse_messages_sent_total", "Messages written to clients", "messages", s.MessagesSent),
		c("pulse_bytes_sent_total", "Payload bytes written to clients", "bytes", s.BytesSent),
		c("pulse_resyncs_total", "Full snapshots sent to clients too far behind", "resyncs", s.Resyncs),
		c("pulse_merged_deltas_total", "Updates covering several ticks, sent to slow links", "messages", s.MergedDeltas),
		g("pulse_degraded_clients", "Clients updated less often than every tick", "clients", float64(s.Degraded)),
		c("pulse_slow_disconnects_total", "Clients closed for a blocked write", "clients", s.SlowDisconnects),
		c("pulse_rejected_total", "Requests refused before upgrade", "requests", s.Rejected),
		c("pulse_client_errors_total", "Bad messages received from clients", "messages", s.ClientErrors),
		c("pulse_source_errors_total", "Failed source collections", "errors", s.SourceErrors),
		g("pulse_series", "Series held by the hub", "series", float64(s.Series)),
		g("pulse_tick_seconds", "Duration of the last tick", "seconds", s.LastTick.Seconds()),
	}, nil
}
