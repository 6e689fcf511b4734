package pulse

// clientQueue is what a client is still to be sent: the messages for it
// alone, in order (its hello, a snapshot and history that restart its
// stream, answers, errors), and its place in the stream of ticks, the seq
// of the last tick state it was given. What a tick adds is never queued:
// when the client's socket can take more, the writer asks the group for
// the message from that seq to the latest frame (a delta, or one merged
// delta for a client that is behind), so a slow client's queue never holds
// stale state and costs the same whatever it falls behind by. Guarded by
// client.mu.
type clientQueue struct {
	msgs    []msg // oldest first, from head
	head    int
	bytes   int
	sent    uint64 // seq of the last tick state given (by a snapshot in msgs, or a delta)
	ready   bool   // the stream may follow msgs: they hold the snapshot it starts from
	gen     uint64 // bumped when the stream restarts or changes group: a message built before is not sent
	started bool   // the first message (hello) has left
}

func (q *clientQueue) len() int { return len(q.msgs) - q.head }

// push appends m, or reports false when the queue already holds limit
// messages (Options.QueueSize; a restart needs 3: hello, snapshot,
// history, within minQueueSize).
func (q *clientQueue) push(m msg, limit int) bool {
	if q.len() >= limit {
		return false
	}
	if q.head > 0 && len(q.msgs) == cap(q.msgs) {
		n := copy(q.msgs, q.msgs[q.head:])
		clear(q.msgs[n:])
		q.msgs, q.head = q.msgs[:n], 0
	}
	q.msgs = append(q.msgs, m)
	q.bytes += len(m.frame)
	return true
}

// pop takes the first message.
func (q *clientQueue) pop() (msg, bool) {
	if q.head == len(q.msgs) {
		return msg{}, false
	}
	m := q.msgs[q.head]
	q.msgs[q.head] = msg{}
	q.head++
	if q.head == len(q.msgs) {
		q.msgs, q.head = q.msgs[:0], 0
	}
	q.bytes -= len(m.frame)
	q.started = true
	return m, true
}

// restart replaces everything queued (but a hello not yet sent: a client
// always gets its hello first) with ms, a snapshot at seq at and what goes
// with it, from which the stream continues. It returns the bytes of ms.
func (q *clientQueue) restart(at uint64, ms []msg) int {
	var hello msg
	if !q.started && q.len() > 0 {
		hello = q.msgs[q.head]
	}
	clear(q.msgs)
	q.msgs, q.head, q.bytes = q.msgs[:0], 0, 0
	if !hello.empty() && !isHello(ms) {
		q.push(hello, minQueueSize)
	}
	n := 0
	for _, m := range ms {
		q.push(m, minQueueSize)
		n += len(m.frame)
	}
	q.sent, q.ready = at, true
	q.gen++
	return n
}

// isHello reports whether ms starts with a hello: a restart that brings
// its own.
func isHello(ms []msg) bool {
	return len(ms) > 0 && len(ms[0].payload()) > 16 && string(ms[0].payload()[:16]) == `{"type":"hello",`
}

// due reports whether the stream has something for the client at gt's
// frame, and from which seq.
func (q *clientQueue) due(gt *groupTick) (from uint64, ok bool) {
	if !q.ready || gt == nil || gt.f.seq <= q.sent {
		return 0, false
	}
	return q.sent, true
}
