package subscriber

import (
	"context"
	"time"
)

// backoff computes the wait before reconnection attempt number attempt
// (0-based; reset to 0 after a connection that reached its first snapshot).
type backoff struct {
	min, max time.Duration
	jitter   float64        // fraction of each delay that is random, in [0, 1]
	rand     func() float64 // in [0, 1)
}

// delay is min·2^attempt capped at max, minus a random part of up to
// jitter of it: with jitter j the result lies in ((1-j)·d, d]. A server's
// Retry-After, when longer, wins, still capped at max.
func (b *backoff) delay(attempt int, retryAfter time.Duration) time.Duration {
	d := b.min
	for i := 0; i < attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if b.jitter > 0 {
		d -= time.Duration(b.jitter * b.rand() * float64(d))
	}
	if retryAfter > d {
		d = min(retryAfter, b.max)
	}
	return d
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
