package pulse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Reading from WebSocket clients: each connection's reader (a waiter and
// readMessage taking turns, readwait.go) reads the client's messages
// (subscriptions, snapshot requests) and control frames, and enforces
// what a client may send (SECURITY.md): ReadRate bytes a second (wsconn.go's
// meteredConn), ReadLimit bytes a message, MessageRate messages a second,
// MaxClientErrors bad messages, and AnswerRate bytes a second of answers.

// Reasons sent with the Hub's close frames.
const (
	reasonGoingAway  = "server shutting down"
	reasonBadMsgs    = "too many bad messages"
	reasonNotUTF8    = "text message is not UTF-8"
	reasonBudget     = "inbound budget exceeded"
	reasonBadControl = "invalid control frame"
	reasonSlow       = "slow client"
	reasonNoGroup    = "too many distinct subscriptions"
)

// readMessage reads and handles one client message (all of them while
// closing, or when there is no waiter), then hands the connection back to
// awaitInput (readwait.go).
func (c *client) readMessage() {
	for {
		typ, data, err := c.conn.Read(context.Background())
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				c.h.stats.clientErrors.Add(1)
			}
			c.endRead()
			return
		}
		if c.closeCode.Load() == 0 {
			if typ == websocket.MessageText && !utf8.Valid(data) {
				// RFC 6455 section 8.1: a text message must be UTF-8.
				c.h.stats.clientErrors.Add(1)
				c.startClose(websocket.StatusInvalidFramePayloadData, reasonNotUTF8)
			} else {
				c.handle(typ, data)
			}
		}
		if c.rw != nil && c.closeCode.Load() == 0 {
			go c.awaitInput()
			return
		}
		// Closing (drain until the peer's close frame), or no waiter: here.
	}
}

// endRead ends the connection once its reads are over: it leaves the Hub,
// lets a write in progress finish, and releases the client's slot.
func (c *client) endRead() {
	h := c.h
	h.detach(c)
	c.finish()
	_ = c.conn.CloseNow()
	h.clientTasks.done()
	h.nclients.Add(-1)
}

// overBudget closes a client that sent more than Options.ReadRate, on its
// reader goroutine, before the reads end with an error, so the client is
// told why (closeAndWait).
func (c *client) overBudget() {
	h := c.h
	h.stats.budgetCloses.Add(1)
	h.logDebug("pulse: client exceeded its inbound budget", "read_rate", h.opts.ReadRate)
	c.closeAndWait(websocket.StatusPolicyViolation, reasonBudget)
}

// closeAndWait starts c's close, on its reader goroutine, and waits (a
// second at most) for the close frame to be handed to the socket: the
// reads that follow end the connection, and the client must be told why
// first. It does nothing when a close has begun.
func (c *client) closeAndWait(code websocket.StatusCode, reason string) {
	if c.closeCode.Load() != 0 {
		return // closing already
	}
	out := make(chan struct{})
	c.mu.Lock()
	c.closeOut = out
	c.mu.Unlock()
	c.startClose(code, reason)
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-out:
	case <-t.C:
	}
}

// closeFrameOut reports that a close frame was handed to the socket. c.mu
// is held.
func (c *client) closeFrameOut() {
	close(c.closeOut)
	c.closeOut = nil
}

// allow takes a token from the client's message bucket: MessageRate a
// second, bursts of twice that.
func (c *client) allow() bool {
	h := c.h
	now := h.since()
	burst := 2 * h.opts.MessageRate
	if c.tokensAt == 0 {
		c.tokens = burst
	} else {
		c.tokens = min(burst, c.tokens+float64(now-c.tokensAt)/float64(time.Second)*h.opts.MessageRate)
	}
	c.tokensAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// answerAllowed reports whether c may be sent an answer now: its bucket of
// AnswerRate bytes a second (bursts of answerBurst) is not empty. The
// answer's size is taken afterwards (spend), so a bucket may go into debt
// by one answer, which later answers wait out.
func (c *client) answerAllowed() bool {
	h := c.h
	now := h.since()
	rate := float64(h.opts.AnswerRate)
	burst := max(2*rate, answerBurst)
	if c.answerAt == 0 {
		c.answers = burst
	} else {
		c.answers = min(burst, c.answers+float64(now-c.answerAt)/float64(time.Second)*rate)
	}
	c.answerAt = now
	return c.answers > 0
}

func (c *client) spend(n int) { c.answers -= float64(n) }

// answerBurst is the least an answer bucket holds when full: room for a
// full snapshot and history of a large Hub.
const answerBurst = 1 << 20

func (c *client) handle(typ websocket.MessageType, data []byte) {
	h := c.h
	if !c.allow() {
		c.strike(ErrCodeRateLimited, fmt.Sprintf("more than %g messages a second", h.opts.MessageRate))
		return
	}
	r := interpret(typ == websocket.MessageText, data, c.subs, h.opts.MaxPatterns)
	switch {
	case r.code != "":
		c.strike(r.code, r.msg)
		return
	case !c.answerAllowed():
		c.strike(ErrCodeRateLimited, fmt.Sprintf("answers of more than %d bytes a second", h.opts.AnswerRate))
		return
	case r.resend:
		c.spend(c.restart(reasonRequest, false))
		return
	case r.tier != "":
		c.answerRange(r.tier)
		return
	}
	fu := h.reg.use(newFilter(r.subs, c.allowed))
	if !h.move(c, fu) {
		c.strike(ErrCodeTooManyGroups, fmt.Sprintf("the Hub serves at most %d distinct subscriptions; subscribe to patterns another client uses", h.opts.MaxGroups))
		return
	}
	c.subs = r.subs
	c.spend(c.restart(reasonSubscribe, false))
}

// request is what a client message asks for, decided by interpret.
type request struct {
	subs      []string // the new subscription, when neither code nor resend is set
	resend    bool     // a snapshot request
	tier      string   // a range request for this tier (ranges.go)
	code, msg string   // an error to answer with
}

// interpret decodes one client message against the connection's current
// subscription. It is pure, so it can be fuzzed: whatever the input, it
// returns either an error code or a valid subscription of at most
// maxPatterns patterns.
func interpret(text bool, data []byte, subs []string, maxPatterns int) request {
	if !text {
		return request{code: ErrCodeBinary, msg: "binary messages are not supported; send JSON text"}
	}
	m, err := decodeClientMessage(data)
	if err != nil {
		return request{code: ErrCodeBadJSON, msg: "message is not a JSON object of the form {\"type\":...}"}
	}
	switch m.Type {
	case "subscribe", "unsubscribe":
		return interpretSubscription(m, subs, maxPatterns)
	case "snapshot":
		return request{resend: true}
	case "range":
		if !wellFormedTier(m.Tier) {
			return request{code: ErrCodeBadTier, msg: fmt.Sprintf("tier %.16q: want %s or a tier the hello lists", m.Tier, TierTick)}
		}
		return request{tier: m.Tier}
	}
	t := m.Type
	if len(t) > 32 {
		t = t[:32] + "..."
	}
	return request{code: ErrCodeUnknownType, msg: fmt.Sprintf("unknown message type %q; want subscribe, unsubscribe, snapshot or range", t)}
}

func interpretSubscription(m clientMessage, subs []string, maxPatterns int) request {
	tooMany := request{code: ErrCodeTooManyPatterns, msg: fmt.Sprintf("a connection may hold at most %d patterns", maxPatterns)}
	if len(m.Patterns) == 0 {
		return request{code: ErrCodeBadPattern, msg: "patterns is missing or empty"}
	}
	if len(m.Patterns) > maxPatterns {
		return tooMany
	}
	for _, p := range m.Patterns {
		if err := validPattern(p); err != nil {
			return request{code: ErrCodeBadPattern, msg: err.Error()}
		}
	}
	var next []string
	if m.Type == "subscribe" {
		next = canonPatterns(append(slices.Clone(subs), m.Patterns...))
	} else {
		next = slices.DeleteFunc(slices.Clone(subs), func(p string) bool { return slices.Contains(m.Patterns, p) })
	}
	if len(next) > maxPatterns {
		return tooMany
	}
	return request{subs: next}
}

// strike answers a bad message with an error and closes the connection
// with StatusPolicyViolation after Options.MaxClientErrors of them.
func (c *client) strike(code, text string) {
	h := c.h
	h.stats.clientErrors.Add(1)
	c.strikes++
	if c.strikes > h.opts.MaxClientErrors {
		h.stats.policyCloses.Add(1)
		c.startClose(websocket.StatusPolicyViolation, reasonBadMsgs)
		return
	}
	c.reply(errorMsg(code, text))
}
