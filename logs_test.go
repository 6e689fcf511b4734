package pulse

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// logRecorder is a slog.Handler that keeps every record, at every level,
// for tests that check what the Hub logs and how often.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
}

// logRecord is one record kept by a logRecorder.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

func (r *logRecorder) logger() *slog.Logger { return slog.New(r) }

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	lr := logRecord{level: rec.Level, msg: rec.Message, attrs: make(map[string]slog.Value)}
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.Resolve()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, lr)
	r.mu.Unlock()
	return nil
}

// WithAttrs and WithGroup are not used by the Hub; the records of a derived
// handler are kept without them.
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// all returns a copy of the records kept so far.
func (r *logRecorder) all() []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logRecord(nil), r.records...)
}

// matching returns the records at level whose message contains msg.
func (r *logRecorder) matching(level slog.Level, msg string) []logRecord {
	var out []logRecord
	for _, rec := range r.all() {
		if rec.level == level && strings.Contains(rec.msg, msg) {
			out = append(out, rec)
		}
	}
	return out
}
