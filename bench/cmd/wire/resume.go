package main

import (
	"context"
	"fmt"
	"time"
)

// measureResume connects a v2 client offering deflate, cuts it (closes its
// TCP connection without a close frame) for cut, then reconnects with the
// Hub's epoch and its last seq, and compares the bytes until it is live
// again (the merged delta included) with a fresh connect made at the same
// moment, up to and including its first delta.
func measureResume(ctx context.Context, wsURL string, cut time.Duration) string {
	o := dialOpts{v2: true, deflate: true}
	cl, err := dial(ctx, wsURL, o)
	if err != nil {
		return fmt.Sprintf("resume: %v", err)
	}
	if _, _, err := cl.connect(ctx); err != nil {
		return fmt.Sprintf("resume: %v", err)
	}
	if _, err := cl.deltas(ctx, 2); err != nil {
		return fmt.Sprintf("resume: %v", err)
	}
	cl.close()
	time.Sleep(cut) // the cut itself: what is measured is after it
	o.epoch, o.seq = cl.epoch, cl.seq
	re, err := dial(ctx, wsURL, o)
	if err != nil {
		return fmt.Sprintf("resume: %v", err)
	}
	defer re.close()
	fresh, err := dial(ctx, wsURL, dialOpts{v2: true, deflate: true})
	if err != nil {
		return fmt.Sprintf("resume: fresh: %v", err)
	}
	defer fresh.close()
	_, rmsgs, err := re.connect(ctx)
	if err != nil {
		return fmt.Sprintf("resume: %v", err)
	}
	_, fmsgs, err := fresh.connect(ctx)
	if err != nil {
		return fmt.Sprintf("resume: fresh: %v", err)
	}
	hello, last := rmsgs[0], rmsgs[len(rmsgs)-1]
	if hello.Resume == nil || *hello.Resume != o.seq || last.From == nil || *last.From != o.seq {
		return fmt.Sprintf("resume: NOT resumed (cut at seq %d): %+v", o.seq, rmsgs)
	}
	resumed, freshBytes := re.last, fresh.last
	s := fmt.Sprintf("### resume after a %v cut (v2, deflate)\n\n- cut at seq %d; the resumed connection got %d messages, the merged delta from %d to %d; messages: JSON, and the frame that carried it:\n",
		cut, o.seq, len(rmsgs), *last.From, last.Seq)
	for _, m := range rmsgs {
		s += fmt.Sprintf("  - %s: %d B of JSON, a %d B frame\n", m.Type, m.size, m.frame)
	}
	s += fmt.Sprintf("- until live again: resumed **%d** B, fresh connect %d B (%d messages): ratio **%.3f**\n",
		resumed, freshBytes, len(fmsgs), float64(resumed)/float64(freshBytes))
	return s
}
