package pulse

import (
	"encoding/json"

	"github.com/coder/websocket"
)

// ProtocolVersion is the wire protocol version a client gets when it does
// not ask for one (no v query parameter), announced in its hello. The Hub
// also speaks version 2 (?v=2: series by id, resume after a cut,
// compression), which pulse.js, subscriber and the dashboard use. See
// PROTOCOL.md.
const ProtocolVersion = 1

// Close codes sent by the Hub, besides the standard ones it uses:
// websocket.StatusGoingAway (1001) on Shutdown, StatusPolicyViolation (1008)
// after Options.MaxClientErrors bad messages and StatusMessageTooBig (1009)
// for a message over Options.ReadLimit.
const (
	// StatusSlowClient closes a client that made no progress for
	// Options.WriteTimeout: none of the bytes sent to it were taken. A
	// client that is stalled completely never sees it (nothing reaches it
	// any more). A slow client that makes progress is not closed: it gets
	// updates less often (merged deltas).
	StatusSlowClient websocket.StatusCode = 4008
)

// Error codes carried by the protocol's "error" message. They are stable:
// clients may switch on them.
const (
	ErrCodeBadJSON         = "bad_json"          // not a JSON object of the expected shape
	ErrCodeUnknownType     = "unknown_type"      // "type" is missing or not one the server knows
	ErrCodeBadPattern      = "bad_pattern"       // a pattern is empty, too long or has a bad character
	ErrCodeTooManyPatterns = "too_many_patterns" // the connection would hold more than Options.MaxPatterns
	ErrCodeBinary          = "binary_unsupported"
	ErrCodeRateLimited     = "rate_limited"    // more than Options.MessageRate messages, or Options.AnswerRate bytes of answers, a second
	ErrCodeTooManyGroups   = "too_many_groups" // the subscription would make one distinct group more than Options.MaxGroups
	ErrCodeBadTier         = "bad_tier"        // a range request names no tier this Hub keeps (or history is off)
)

// clientMessage is what a client may send.
type clientMessage struct {
	Type     string   `json:"type"`
	Patterns []string `json:"patterns"`
	Tier     string   `json:"tier"` // range requests
}

func decodeClientMessage(data []byte) (clientMessage, error) {
	var m clientMessage
	err := json.Unmarshal(data, &m)
	return m, err
}
