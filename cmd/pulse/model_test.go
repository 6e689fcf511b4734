package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The watch model is tested the way a person uses it: key presses in,
// an 80×24 screen out.
const (
	screenW = 80
	screenH = 24
)

// testFrame makes a live frame of gauges named name0..name(n-1) whose
// value is their index, and counters whose rate is their index.
func testFrame(seq uint64, keys ...string) frame {
	f := frame{live: true, seq: seq, at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for i, k := range keys {
		name, _, _ := strings.Cut(k, "{")
		s := series{key: k, name: name, value: float64(i), rate: float64(len(keys) - i), hasRate: true}
		s.row = row{key: k, value: fmt.Sprint(i), rate: fmt.Sprintf("%d/s", len(keys)-i), points: []float64{1, 2, float64(i)}}
		f.series = append(f.series, s)
	}
	return f
}

func numbered(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("series_%03d", i)
	}
	return keys
}

// screenOf renders m at 80×24 and checks the screen's shape.
func screenOf(t *testing.T, m *model) view {
	t.Helper()
	v := m.render(screenW, screenH)
	require.LessOrEqual(t, len(v.lines), screenH)
	for _, l := range v.lines {
		require.LessOrEqual(t, runes(l), screenW, "%q", l)
	}
	return v
}

// selected is the text of the selected line.
func selected(t *testing.T, v view) string {
	t.Helper()
	require.GreaterOrEqual(t, v.cursor, 0, "no line selected:\n%s", strings.Join(v.lines, "\n"))
	return v.lines[v.cursor]
}

func press(m *model, keys ...key) {
	for _, k := range keys {
		m.press(k)
	}
}

func typed(s string) []key {
	var ks []key
	for _, r := range s {
		ks = append(ks, runeKey(r))
	}
	return ks
}

var (
	up    = key{code: keyUp}
	down  = key{code: keyDown}
	left  = key{code: keyLeft}
	right = key{code: keyRight}
	pgUp  = key{code: keyPgUp}
	pgDn  = key{code: keyPgDn}
	home  = key{code: keyHome}
	end   = key{code: keyEnd}
	enter = key{code: keyEnter}
	esc   = key{code: keyEsc}
	bksp  = key{code: keyBackspace}
)

func TestModelScroll(t *testing.T) {
	m := newModel("ws://h/ws", "", true)
	m.setFrame(testFrame(1, numbered(100)...))
	v := screenOf(t, m)
	require.Len(t, v.lines, screenH, "the screen is filled: header, titles, 21 lines, key help")
	require.Regexp(t, `^KEY +VALUE +RATE +HISTORY$`, v.lines[1])
	require.Contains(t, selected(t, v), "series_000")
	require.True(t, strings.HasPrefix(v.lines[screenH-1], "1-21/100  "), v.lines[screenH-1])

	press(m, down, runeKey('j'), runeKey('j'))
	require.Contains(t, selected(t, screenOf(t, m)), "series_003")
	press(m, up, runeKey('k'))
	require.Contains(t, selected(t, screenOf(t, m)), "series_001")

	// The window follows the cursor past its last line.
	for range 20 {
		press(m, down)
	}
	v = screenOf(t, m)
	require.Contains(t, selected(t, v), "series_021")
	require.Contains(t, v.lines[2], "series_001", "scrolled by one line")
	require.True(t, strings.HasPrefix(v.lines[screenH-1], "2-22/100  "), v.lines[screenH-1])

	press(m, pgDn)
	v = screenOf(t, m)
	require.Contains(t, selected(t, v), "series_042")
	require.Contains(t, v.lines[2], "series_022", "a page down moves the window by a page")
	press(m, pgUp, pgUp)
	require.Contains(t, selected(t, screenOf(t, m)), "series_000")

	press(m, end)
	v = screenOf(t, m)
	require.Contains(t, selected(t, v), "series_099")
	require.Contains(t, v.lines[screenH-2], "series_099", "the last line at the bottom")
	press(m, runeKey('g'))
	require.Contains(t, selected(t, screenOf(t, m)), "series_000")
	press(m, runeKey('G'), home)
	require.Contains(t, selected(t, screenOf(t, m)), "series_000")
	require.False(t, m.press(up), "nothing above the first line: no redraw")

	// A new frame keeps the cursor on its series.
	press(m, down, down)
	m.setFrame(testFrame(2, numbered(100)[1:]...))
	require.Contains(t, selected(t, screenOf(t, m)), "series_002")
}

func TestModelFilter(t *testing.T) {
	m := newModel("ws://h/ws", "", true)
	m.setFrame(testFrame(1, "http_requests_total", "go_goroutines", "go_gc_cycles_total", "active_users"))
	press(m, runeKey('/'))
	require.Equal(t, "/█   Enter: keep  Esc: clear", screenOf(t, m).lines[screenH-1])
	press(m, typed("go_")...)
	v := screenOf(t, m)
	require.Contains(t, v.lines[0], "2 of 4 series")
	require.Equal(t, "/go_█   Enter: keep  Esc: clear", v.lines[screenH-1])
	list := strings.Join(v.lines[2:4], "\n")
	require.Contains(t, list, "go_gc_cycles_total")
	require.Contains(t, list, "go_goroutines")
	require.NotContains(t, strings.Join(v.lines, "\n"), "active_users")

	// Letters are text while typing: j and q do not move or quit.
	press(m, typed("GOR")...)
	require.False(t, m.quit)
	require.Contains(t, screenOf(t, m).lines[0], "1 of 4 series", "case-insensitive")
	press(m, bksp, bksp, bksp, enter)
	v = screenOf(t, m)
	require.Contains(t, v.lines[0], "2 of 4 series")
	require.Contains(t, v.lines[screenH-1], `filter "go_"`)

	press(m, typed("/x")...)
	v = screenOf(t, m)
	require.Contains(t, v.lines[1], `no series matches the filter "go_x"`)
	press(m, esc)
	v = screenOf(t, m)
	require.Contains(t, v.lines[0], "  4 series")
	require.NotContains(t, v.lines[screenH-1], "filter \"")

	// Esc outside the filter clears it too.
	press(m, typed("/users")...)
	press(m, enter, esc)
	require.Contains(t, screenOf(t, m).lines[0], "  4 series")
}

func TestModelSort(t *testing.T) {
	m := newModel("ws://h/ws", "", true)
	// testFrame: values ascend with the key, rates descend.
	m.setFrame(testFrame(1, "a", "b", "c"))
	order := func() string {
		v := screenOf(t, m)
		var keys []string
		for _, l := range v.lines[2:5] {
			keys = append(keys, strings.Fields(l)[0])
		}
		return strings.Join(keys, " ")
	}
	require.Equal(t, "a b c", order())
	require.Contains(t, screenOf(t, m).lines[screenH-1], "s sort:name")
	press(m, runeKey('s'))
	require.Equal(t, "c b a", order(), "by value, largest first")
	require.Contains(t, screenOf(t, m).lines[screenH-1], "s sort:value")
	press(m, runeKey('s'))
	require.Equal(t, "a b c", order(), "by rate, largest first")
	require.Contains(t, screenOf(t, m).lines[screenH-1], "s sort:rate")
	press(m, runeKey('s'))
	require.Contains(t, screenOf(t, m).lines[screenH-1], "s sort:name")
}

func TestModelPauseAndQuit(t *testing.T) {
	m := newModel("ws://h/ws", "", true)
	m.setFrame(testFrame(1, "a"))
	press(m, runeKey('p'))
	m.setFrame(testFrame(2, "a", "b"))
	v := screenOf(t, m)
	require.Contains(t, v.lines[0], "seq 1  1 series  ⏸ paused")
	require.NotContains(t, strings.Join(v.lines, "\n"), "b ")

	// The connection's state is shown even while paused.
	f := testFrame(3, "a", "b", "c")
	f.live, f.problem = false, "connection refused"
	m.setFrame(f)
	require.Contains(t, screenOf(t, m).lines[0], "○ reconnecting (connection refused)  seq 1")

	press(m, runeKey('p'))
	v = screenOf(t, m)
	require.Contains(t, v.lines[0], "seq 3  3 series")
	require.NotContains(t, v.lines[0], "paused")

	require.False(t, m.quit)
	press(m, runeKey('q'))
	require.True(t, m.quit)
	m = newModel("ws://h/ws", "", true)
	press(m, key{code: keyCtrlC})
	require.True(t, m.quit)
}

func TestModelFamilies(t *testing.T) {
	m := newModel("ws://h/ws", "", true)
	m.setFrame(testFrame(1,
		`http_request_duration_seconds{quantile="0.5"}`,
		`http_request_duration_seconds{quantile="0.99"}`,
		"http_request_duration_seconds_count",
		"http_request_duration_seconds_sum",
		`http_requests_total{path="/"}`,
		`http_requests_total{path="/about"}`,
		"up",
	))
	v := screenOf(t, m)
	want := []string{
		"▾ http_request_duration_seconds (4)",
		"  _count",
		"  _sum",
		`  {quantile="0.5"}`,
		`  {quantile="0.99"}`,
		"▾ http_requests_total (2)",
		`  {path="/"}`,
		`  {path="/about"}`,
		"up",
	}
	for i, w := range want {
		require.True(t, strings.HasPrefix(v.lines[2+i], w), "line %d: %q, want %q", 2+i, v.lines[2+i], w)
	}

	// Enter on a header folds its family; from one of its series, ← folds
	// it and selects the header.
	press(m, enter)
	v = screenOf(t, m)
	require.Equal(t, "▸ http_request_duration_seconds (4)", selected(t, v))
	require.True(t, strings.HasPrefix(v.lines[3], "▾ http_requests_total (2)"), v.lines[3])
	press(m, down, down, left)
	v = screenOf(t, m)
	require.Equal(t, "▸ http_requests_total (2)", selected(t, v))
	require.True(t, strings.HasPrefix(v.lines[4], "up "), v.lines[4])
	press(m, right)
	require.Contains(t, screenOf(t, m).lines[4], `{path="/"}`)

	press(m, runeKey('c'))
	v = screenOf(t, m)
	require.Equal(t, "▸ http_request_duration_seconds (4)", v.lines[2])
	require.Equal(t, "▸ http_requests_total (2)", v.lines[3])
	press(m, runeKey('e'))
	require.Len(t, m.lines, len(want))

	// A filter shows the series it keeps under their header.
	press(m, typed("/about")...)
	v = screenOf(t, m)
	require.Equal(t, "▾ http_requests_total (1 of 2)", v.lines[2])
	require.True(t, strings.HasPrefix(v.lines[3], `  {path="/about"}`), v.lines[3])
}

// At 80 columns the header keeps the status, the seq and the series
// count whatever the URL's length; the URL gives way, shortened in the
// middle.
func TestModelHeaderAt80Columns(t *testing.T) {
	url := "wss://metrics.internal.example.com:8443/ws/metrics?match=" + strings.Repeat("http_requests_*,", 8)
	m := newModel(url, "", true)
	m.setFrame(testFrame(123456, numbered(3)...))
	v := screenOf(t, m)
	require.True(t, strings.HasPrefix(v.lines[0], "● live  seq 123456  3 series  "), v.lines[0])
	require.Contains(t, v.lines[0], "…")
	require.Contains(t, v.lines[0], "wss://metrics")
	require.Equal(t, "● live", v.status)

	f := testFrame(123457, numbered(3)...)
	f.live, f.problem = false, strings.Repeat("dial tcp: lookup metrics.internal.example.com: no such host ", 3)
	m.setFrame(f)
	v = screenOf(t, m)
	require.Regexp(t, `^○ reconnecting \(dial tcp: .*…\)  seq 123457  3 series`, v.lines[0])
	require.Contains(t, v.lines[0], v.status)
}

// A link that cannot carry every tick gets merged deltas: the header says
// how often updates come, and stops saying it once every tick arrives.
func TestModelHeaderShowsUpdateInterval(t *testing.T) {
	url := "wss://metrics.internal.example.com:8443/ws/metrics?match=" + strings.Repeat("http_requests_*,", 8)
	m := newModel(url, "", true)
	for _, c := range []struct {
		every  time.Duration
		status string
	}{
		{4 * time.Second, "● live, updates every 4.0 s"},
		{1200 * time.Millisecond, "● live"}, // smoothed jitter: about every tick
		{16 * time.Second, "● live, updates every 16 s"},
		{0, "● live"}, // no hello yet
		{time.Second, "● live"},
	} {
		f := testFrame(123456, numbered(3)...)
		f.tick, f.every = time.Second, c.every
		m.setFrame(f)
		v := screenOf(t, m)
		require.Equal(t, c.status, v.status, "every %v", c.every)
		require.True(t, strings.HasPrefix(v.lines[0], c.status+"  seq 123456  3 series  "), v.lines[0])
		require.LessOrEqual(t, runes(v.lines[0]), 80)
	}

	// Paused: the frame is held, the link's state is shown as it is.
	press(m, typed("p")...)
	f := testFrame(123457, numbered(3)...)
	f.tick, f.every = time.Second, 8*time.Second
	m.setFrame(f)
	v := screenOf(t, m)
	require.True(t, strings.HasPrefix(v.lines[0], "● live, updates every 8.0 s  seq 123456  3 series  ⏸ paused"), v.lines[0])
}

func TestDecodeKeys(t *testing.T) {
	in := "\x1b[A\x1b[B\x1bOC\x1b[D\x1b[5~\x1b[6~\x1b[H\x1b[4~jk/é\x7f\r\x03\x1b[15~x\x1b"
	want := []key{up, down, right, left, pgUp, pgDn, home, end,
		runeKey('j'), runeKey('k'), runeKey('/'), runeKey('é'), bksp, enter, {code: keyCtrlC},
		runeKey('x'), esc} // F5 (ESC [15~) is skipped whole
	require.Equal(t, want, decodeKeys([]byte(in)))
	require.Equal(t, []key{esc, esc}, decodeKeys([]byte("\x1b\x1b")))
	require.Empty(t, decodeKeys([]byte("\x1b[1;")), "a sequence cut short")
}

func TestReadKeys(t *testing.T) {
	r, w := io.Pipe()
	out := make(chan key, 16)
	done := make(chan struct{})
	ended := make(chan error, 1)
	go func() { ended <- readKeys(r, false, out, done) }()
	_, err := w.Write([]byte("q\x1b[B"))
	require.NoError(t, err)
	require.Equal(t, runeKey('q'), <-out)
	require.Equal(t, down, <-out)
	require.NoError(t, w.Close())
	require.ErrorIs(t, <-ended, io.EOF, "the end of the input ends the reader")
	close(done)
}
