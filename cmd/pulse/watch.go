package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/go-pulse/pulse/subscriber"
)

// watch shows the live table until ctx is cancelled.
func watch(ctx context.Context, c *config, client *http.Client, stdout, stderr io.Writer) int {
	fail := func(msg string) int {
		fmt.Fprintln(stderr, "pulse watch: "+msg)
		return exitFailure
	}

	// The first connection must succeed: its first failure ends watch at
	// once, whatever the subscriber would do (it retries network errors and
	// 503s; it gives up by itself on 401, 403, 404, 400). Later failures
	// are shown in the header while the subscriber reconnects.
	dialCtx, cancelDial := context.WithTimeout(ctx, c.timeout)
	defer cancelDial()
	var mu sync.Mutex
	var lastErr error
	failed := make(chan struct{}, 1) // a failure to show in the header
	opts := &subscriber.Options{
		Patterns:   c.match,
		HTTPHeader: c.header,
		HTTPClient: client,
		// Keep the points the sparklines draw, whatever the server's
		// history: a connection whose history message was dropped (a
		// "resync" snapshot) still builds one from its ticks.
		HistoryLimit: maxSparkline,
		OnError: func(err error) {
			var se *subscriber.ServerError
			if errors.As(err, &se) {
				return // a refused message; the connection goes on
			}
			mu.Lock()
			lastErr = err
			mu.Unlock()
			cancelDial() // ends Dial if it is still waiting; harmless after
			select {
			case failed <- struct{}{}:
			default:
			}
		},
	}
	sub, err := subscriber.Dial(dialCtx, c.url.String(), opts)
	if err != nil {
		mu.Lock()
		first := lastErr
		mu.Unlock()
		switch {
		case ctx.Err() != nil:
			return exitOK // interrupted while connecting
		case first != nil:
			return fail(explain(first, c))
		case errors.Is(err, context.DeadlineExceeded):
			return fail(fmt.Sprintf("no pulse snapshot from %s within %v (-timeout): is it a pulse endpoint?", c.where(), c.timeout))
		case errors.Is(err, subscriber.ErrInvalidPattern), errors.Is(err, subscriber.ErrInvalidOptions):
			fmt.Fprintln(stderr, "pulse watch: "+err.Error())
			return exitUsage
		}
		return fail(explain(err, c))
	}
	defer sub.Close()

	tty := !c.plain && isTerminal(stdout)
	sc := &screen{
		w:     stdout,
		tty:   tty,
		color: tty && os.Getenv("NO_COLOR") == "",
		size:  func() (int, int) { return screenSize(stdout, tty) },
	}
	defer sc.close()

	var at time.Time
	draw := func() error {
		mu.Lock()
		problem := lastErr
		mu.Unlock()
		s := view(sub, c, at)
		if !s.live && problem != nil {
			s.problem = shortError(problem)
		}
		return sc.draw(s)
	}
	// The first Update, the snapshot Dial waited for, is on its way: the
	// first table is drawn when it arrives.
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case <-failed:
			if err := draw(); err != nil {
				return fail("writing the output: " + err.Error())
			}
		case u, ok := <-sub.Updates():
			if !ok {
				return exitOK
			}
			if !u.Time.IsZero() {
				at = u.Time
			}
			if u.Type != subscriber.UpdateDisconnected {
				mu.Lock()
				lastErr = nil
				mu.Unlock()
			}
			if err := draw(); err != nil {
				return fail("writing the output: " + err.Error())
			}
		}
	}
}

// view reads the subscriber's state into the rows of the table.
func view(sub *subscriber.Subscriber, c *config, at time.Time) *state {
	s := &state{
		url:      c.where(),
		live:     sub.Connected(),
		seq:      sub.Seq(),
		at:       at,
		filtered: c.filter != "",
	}
	vals := sub.Values()
	s.total = len(vals)
	filter := strings.ToLower(c.filter)
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if filter != "" && !strings.Contains(strings.ToLower(k), filter) {
			continue
		}
		v := vals[k]
		class := classify(v.Unit, v.Name)
		r := row{key: k, value: formatValue(v.Value, class), unit: v.Unit}
		if v.Stale {
			r.value += " (stale)"
		}
		if v.Kind == subscriber.KindCounter {
			r.rate = "-"
			if v.HasRate {
				r.rate = formatRate(v.Rate, class)
			}
		}
		// The sparkline: a counter's rate (its value only ever grows), a
		// gauge's value.
		hist := sub.History(k)
		if len(hist) > maxSparkline {
			hist = hist[len(hist)-maxSparkline:]
		}
		r.points = make([]float64, 0, len(hist))
		for _, p := range hist {
			switch {
			case v.Kind != subscriber.KindCounter:
				r.points = append(r.points, p.Value)
			case p.HasRate:
				r.points = append(r.points, p.Rate)
			case len(r.points) > 0:
				r.points = append(r.points, math.NaN())
			}
		}
		s.rows = append(s.rows, r)
	}
	return s
}

// shortError is the reason for a reconnection, in a few words, for the
// header.
func shortError(err error) string {
	var se *subscriber.StatusError
	if errors.As(err, &se) {
		return fmt.Sprintf("%d %s", se.StatusCode, http.StatusText(se.StatusCode))
	}
	switch code := websocket.CloseStatus(err); code {
	case -1:
	case websocket.StatusGoingAway:
		return "the server is going away"
	default:
		return fmt.Sprintf("closed by the server: %d %v", int(code), code)
	}
	return innermost(err).Error()
}
