package main

import (
	"log/slog"
	"time"
)

// condLog logs a failing condition (a target that cannot be scraped) the
// way an operator wants to read it: once when it starts, then at most once
// per period with the number of failures since the last line, and once
// when it ends. It is not safe for concurrent use: each target has its
// own, used by its Collect only.
type condLog struct {
	log    *slog.Logger
	now    func() time.Time // time.Now; tests inject a clock
	period time.Duration    // at most one "still failing" line per period
	attrs  []any            // the condition's identity, on every line

	failing bool
	since   time.Time // the first failure
	logged  time.Time // the last line
	unsaid  int       // failures since the last line
	total   int       // failures since the condition started
}

func newCondLog(log *slog.Logger, period time.Duration, attrs ...any) *condLog {
	return &condLog{log: log, now: time.Now, period: period, attrs: attrs}
}

// fail records one failure.
func (c *condLog) fail(msg string, err error) {
	now := c.now()
	c.total++
	if !c.failing {
		c.failing, c.since, c.logged, c.unsaid = true, now, now, 0
		c.log.Warn(msg, append(c.attrs, "err", err)...)
		return
	}
	c.unsaid++
	if now.Sub(c.logged) < c.period {
		return
	}
	c.log.Warn(msg+" (still)", append(c.attrs, "err", err, "failures", c.unsaid, "since", c.since.Format(time.RFC3339))...)
	c.logged, c.unsaid = now, 0
}

// ok records a success: it ends the condition, if there was one.
func (c *condLog) ok(msg string) {
	if !c.failing {
		return
	}
	c.log.Info(msg, append(c.attrs, "failures", c.total, "down", c.now().Sub(c.since).Round(time.Millisecond))...)
	c.failing, c.total, c.unsaid = false, 0, 0
}
