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
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/go-pulse/pulse/subscriber"
)

// watch shows the live table until ctx is cancelled or q is pressed.
func watch(ctx context.Context, c *config, client *http.Client, stdout, stderr io.Writer) int {
	fail := func(msg string) int {
		fmt.Fprintln(stderr, "pulse watch: "+msg)
		return exitFailure
	}

	// The first connection must succeed: its first failure ends watch at
	// once, whatever the subscriber would do (it retries network errors and
	// 503s; it gives up by itself on 401, 403, 404, 400, 501). Later
	// failures are shown in the header while the subscriber reconnects.
	dialCtx, cancelDial := context.WithTimeout(ctx, c.timeout)
	defer cancelDial()
	cs := &connState{failed: make(chan struct{}, 1)}
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
			cs.set(err)
			cancelDial() // ends Dial if it is still waiting; harmless after
		},
	}
	sub, err := subscriber.Dial(dialCtx, c.url.String(), *opts)
	if err != nil {
		switch first := cs.get(); {
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
	var keys <-chan key
	if tty {
		var stop func()
		keys, stop = startKeys(os.Stdin)
		defer stop()
	}
	return show(ctx, sub, cs, sc, keys, newWatchUI(c, keys != nil, stderr))
}

// connState is the last connection failure, set by the subscriber's
// OnError and shown in the header until the next update.
type connState struct {
	mu     sync.Mutex
	err    error
	failed chan struct{} // capacity 1: a failure to show
}

func (cs *connState) set(err error) {
	cs.mu.Lock()
	cs.err = err
	cs.mu.Unlock()
	if err != nil {
		select {
		case cs.failed <- struct{}{}:
		default:
		}
	}
}

func (cs *connState) get() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.err
}

// watchUI is the model of one watch and what it tells on stderr.
type watchUI struct {
	m     *model
	empty emptyNotice
}

func newWatchUI(c *config, interactive bool, stderr io.Writer) *watchUI {
	return &watchUI{m: newModel(c.where(), c.filter, interactive), empty: emptyNotice{c: c, w: stderr}}
}

// show draws the subscriber's view on sc until ctx is cancelled, the
// subscriber closes or q is pressed; keys is nil when none are read.
func show(ctx context.Context, sub *subscriber.Subscriber, cs *connState, sc *screen, keys <-chan key, ui *watchUI) int {
	resized := make(chan os.Signal, 1)
	if sc.tty && len(resizeSignals) > 0 {
		signal.Notify(resized, resizeSignals...)
		defer signal.Stop(resized)
	}
	var at time.Time
	update := func() {
		f := frameOf(sub, at)
		if err := cs.get(); !f.live && err != nil {
			f.problem = shortError(err)
		}
		ui.m.setFrame(f)
		ui.empty.check(f)
	}
	// The first Update, the snapshot Dial waited for, is on its way: the
	// first table is drawn when it arrives.
	for {
		redraw := true
		select {
		case <-ctx.Done():
			return exitOK
		case <-cs.failed:
			update()
		case <-resized:
		case k := <-keys:
			redraw = ui.m.press(k)
		case u, ok := <-sub.Updates():
			if !ok {
				return exitOK
			}
			if !u.Time.IsZero() {
				at = u.Time
			}
			if u.Type != subscriber.UpdateDisconnected {
				cs.set(nil)
			}
			update()
		}
		if ui.m.quit {
			return exitOK
		}
		if !redraw {
			continue
		}
		if err := sc.draw(ui.m); err != nil {
			fmt.Fprintln(ui.empty.w, "pulse watch: writing the output: "+err.Error())
			return exitFailure
		}
	}
}

// frameOf reads the subscriber's state into a frame.
func frameOf(sub *subscriber.Subscriber, at time.Time) frame {
	f := frame{live: sub.Connected(), seq: sub.Seq(), at: at, tick: sub.Interval(), every: sub.UpdateInterval()}
	vals := sub.Values()
	f.series = make([]series, 0, len(vals))
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		v := vals[k]
		class := classify(v.Unit, v.Name)
		s := series{key: k, name: v.Name, value: v.Value, rate: v.Rate, hasRate: v.HasRate}
		s.row = row{key: k, value: formatValue(v.Value, class), unit: v.Unit}
		if v.Stale {
			s.row.value += " (stale)"
		}
		if v.Kind == subscriber.KindCounter {
			s.row.rate = "-"
			if v.HasRate {
				s.row.rate = formatRate(v.Rate, class)
			}
		}
		s.row.points = sparkPoints(sub.History(k), v.Kind)
		f.series = append(f.series, s)
	}
	return f
}

// sparkPoints is what a sparkline draws: a counter's rate (its value only
// ever grows), a gauge's value; the last maxSparkline points.
func sparkPoints(hist []subscriber.Point, kind subscriber.Kind) []float64 {
	if len(hist) > maxSparkline {
		hist = hist[len(hist)-maxSparkline:]
	}
	points := make([]float64, 0, len(hist))
	for _, p := range hist {
		switch {
		case kind != subscriber.KindCounter:
			points = append(points, p.Value)
		case p.HasRate:
			points = append(points, p.Rate)
		case len(points) > 0:
			points = append(points, math.NaN())
		}
	}
	return points
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

// startKeys reads key presses from the terminal f in cbreak mode. It
// returns a nil channel, and reads nothing, when f is not a terminal or
// its mode cannot be set (then watch only repaints). stop ends the reader
// and restores the terminal.
func startKeys(f *os.File) (keys <-chan key, stop func()) {
	if !isTerminal(f) {
		return nil, func() {}
	}
	restore, err := cbreak(f)
	if err != nil {
		return nil, func() {}
	}
	ch := make(chan key, 16)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_ = readKeys(f, true, ch, done) // a failed read only ends the keys
	}()
	return ch, func() {
		close(done)
		<-ended // at most a read timeout (0.1 s) away
		_ = restore()
	}
}

// emptyNotice says on stderr, once each time it happens, that the server
// has no series for the -match patterns: an empty table alone looks like
// a hang.
type emptyNotice struct {
	c    *config
	w    io.Writer
	said bool
}

func (e *emptyNotice) check(f frame) {
	switch {
	case !f.live || len(e.c.patterns()) == 0:
	case len(f.series) > 0:
		e.said = false
	case !e.said:
		e.said = true
		fmt.Fprintln(e.w, "pulse watch: "+noMatch(e.c)+"; waiting for one to appear")
	}
}

// noMatch says that nothing matches the patterns of c.
func noMatch(c *config) string {
	return fmt.Sprintf("no series matches %q on %s (names are case-sensitive; -match '*' shows every series)", strings.Join(c.patterns(), ","), c.where())
}
