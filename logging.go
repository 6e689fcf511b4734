package pulse

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Logging. The Hub logs a condition that may repeat every tick (a source
// that keeps failing, metrics refused every tick) once when it starts, then
// at most once per logEvery with the number of occurrences since the last
// record, and once when it ends: a source that panics every 100 ms costs
// one record a minute, not ten stack traces a second.

// logEvery is the most often a lasting condition is logged again.
const logEvery = time.Minute

// condLog is the logging state of one lasting condition. It belongs to the
// goroutine that reports the condition (the collector, for every condition
// it has today).
type condLog struct {
	on    bool
	n     int       // occurrences since the last record
	total int       // occurrences since the condition began
	began time.Time // when it began
	last  time.Time // time of the last record
}

// occurred counts one occurrence at now and logs it if the condition is
// new or its last record is logEvery old. args describe this occurrence;
// the first record has them whole, a repeat has first lines only (a
// panic's stack is logged once).
func (h *Hub) occurred(c *condLog, now time.Time, msg string, args ...any) {
	c.n++
	c.total++
	switch {
	case !c.on:
		c.on, c.began, c.last = true, now, now
		c.n = 0
		h.logWarn(msg, args...)
	case now.Sub(c.last) >= logEvery:
		rec := append(firstLines(args), "repeated", c.n, "since", now.Sub(c.began).Round(time.Second).String())
		c.n, c.last = 0, now
		h.logWarn(msg+" (still)", rec...)
	}
}

// ended logs the end of c, if it was on.
func (h *Hub) ended(c *condLog, now time.Time, msg string, args ...any) {
	if !c.on {
		return
	}
	args = append(args, "occurrences", c.total, "lasted", now.Sub(c.began).Round(time.Second).String())
	*c = condLog{}
	h.logInfo(msg, args...)
}

// firstLines returns args with every error or string value cut at its first
// newline.
func firstLines(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case error:
			a = firstLine(v.Error())
		case string:
			a = firstLine(v)
		}
		out[i] = a
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (h *Hub) logWarn(msg string, args ...any) {
	if h.opts.Logger != nil {
		h.opts.Logger.Warn(msg, args...)
	}
}

func (h *Hub) logInfo(msg string, args ...any) {
	if h.opts.Logger != nil {
		h.opts.Logger.Info(msg, args...)
	}
}

func (h *Hub) logDebug(msg string, args ...any) {
	if h.opts.Logger != nil && h.opts.Logger.Enabled(context.Background(), slog.LevelDebug) {
		h.opts.Logger.Debug(msg, args...)
	}
}
