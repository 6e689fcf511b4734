package pulse

import "errors"

// Sentinel errors. Errors returned by pulse wrap these with %w, so test for
// them with errors.Is. Their text carries the "pulse:" prefix, once: the
// context an error adds comes before it (register: pulse: invalid metric:
// ...). "Recorded" errors are not returned: they are counted in Stats and
// logged to Options.Logger.
var (
	// ErrClosed is returned by Register and Publish once the Hub has been
	// shut down (Shutdown or Close).
	ErrClosed = errors.New("pulse: hub closed")

	// ErrInvalidMetric is wrapped by every error about a bad metric name,
	// label name, label value or kind.
	ErrInvalidMetric = errors.New("pulse: invalid metric")

	// ErrInvalidOptions is wrapped by every error NewHub or Register returns
	// for an option out of range.
	ErrInvalidOptions = errors.New("pulse: invalid options")

	// ErrInvalidPattern is wrapped by every error about a malformed
	// subscription pattern.
	ErrInvalidPattern = errors.New("pulse: invalid pattern")

	// ErrDuplicateSource is returned by Register when a source with the same
	// name is already registered.
	ErrDuplicateSource = errors.New("pulse: duplicate source name")

	// ErrSourcePanic is wrapped by the error recorded when a source's Collect
	// panics. The panic is recovered; the Hub keeps running.
	ErrSourcePanic = errors.New("pulse: source panicked")

	// ErrSourceTimeout is recorded when a source's Collect does not return
	// within its timeout, or keeps running past it (it ignores its context).
	ErrSourceTimeout = errors.New("pulse: source timed out")

	// ErrTooManySeries is recorded when a new series is refused because the
	// Hub already holds Options.MaxSeries series.
	ErrTooManySeries = errors.New("pulse: too many series")

	// ErrSeriesConflict is recorded when a source or Publish reports a series
	// that another source, or Publish, already owns. The first owner keeps
	// it.
	ErrSeriesConflict = errors.New("pulse: series owned by another source")
)
