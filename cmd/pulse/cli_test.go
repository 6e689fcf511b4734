package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-pulse/pulse"
	"github.com/stretchr/testify/require"
)

const sparkChars = "▁▂▃▄▅▆▇█"

// counterLine is the counter's row in a watch table: key, value, rate,
// unit, sparkline.
var counterLine = regexp.MustCompile(`(?m)^requests_total +(\d+) +([0-9.]+)([kMGT]?)/s +requests +([` + sparkChars + ` ]+)$`)

func TestGetText(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	rate := regexp.MustCompile(`(?m)^requests_total \d+ ([0-9.e+-]+)/s$`)
	var out string
	eventually(t, func() bool {
		ts.requests.Add(3)
		code, stdout, stderr := pulseCmd(t, "get", ts.httpURL("/ws/metrics"), "-o", "text")
		require.Equal(t, 0, code, stderr)
		require.Empty(t, stderr)
		out = stdout
		m := rate.FindStringSubmatch(out)
		return m != nil && m[1] != "0" && strings.Contains(out, "queue_depth 42\n")
	}, "a text snapshot with the gauges and a rate for the counter")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3, out)
	require.Equal(t, "heap_bytes 3145728", lines[0]) // sorted by key, exact values
	require.Equal(t, "queue_depth 42", lines[1])
	require.Regexp(t, rate, lines[2])
}

// Rates are estimates: get prints four significant digits (all the
// integer digits when there are more), values stay exact.
func TestGetRatePrecision(t *testing.T) {
	for v, want := range map[string]string{
		"3.3333333333333335":   "3.333",
		"149.99999999999997":   "150",
		"1234567.891":          "1234568",
		"0.016666666666666666": "0.01667",
		"-2.5":                 "-2.5",
		"12":                   "12",
		"0":                    "0",
		"1.2344e-12":           "1.234e-12",
		`"NaN"`:                "NaN",
		`"+Inf"`:               "+Inf",
	} {
		require.Equal(t, want, rateNumber(json.RawMessage(v)), v)
	}

	ts := startHub(t, pulse.Options{})
	rate := regexp.MustCompile(`(?m)^requests_total (\d+) ([0-9.]+)/s$`)
	eventually(t, func() bool {
		ts.requests.Add(1)
		code, stdout, stderr := pulseCmd(t, "get", ts.httpURL("/ws/metrics"), "-o", "text")
		require.Equal(t, 0, code, stderr)
		m := rate.FindStringSubmatch(stdout)
		if m == nil || m[2] == "0" {
			return false
		}
		digits := strings.TrimLeft(strings.ReplaceAll(m[2], ".", ""), "0")
		intPart, _, _ := strings.Cut(m[2], ".")
		require.LessOrEqual(t, len(digits), max(4, len(intPart)), "rate %s: too many digits", m[2])
		return true
	}, "a rate for the counter")
}

// A -match that matches nothing is said on stderr: an empty answer alone
// looks like a broken server.
func TestNoMatch(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	code, stdout, stderr := pulseCmd(t, "get", ts.httpURL("/ws/metrics"), "-o", "text", "-match", "nothing_*")
	require.Equal(t, 0, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, `no series matches "nothing_*" on `+ts.httpURL("/ws/metrics?match=nothing_*"))

	eventually(t, func() bool { // the first tick may not have run yet
		code, stdout, stderr = pulseCmd(t, "get", ts.httpURL("/ws/metrics"), "-o", "text", "-match", "queue_*")
		require.Equal(t, 0, code, stderr)
		return stdout != ""
	}, "queue_depth")
	require.Empty(t, stderr, "something matched: nothing to say")

	w := startWatch(t, ts.wsURL("/ws/metrics?match=nothing_*,nor_this"))
	w.waitTable(func(table string) bool { return strings.Contains(table, "no series") }, "an empty table")
	eventually(t, func() bool {
		return strings.Contains(w.errOut.String(), `pulse watch: no series matches "nothing_*,nor_this" on `)
	}, "the notice on stderr")
	require.Equal(t, 0, w.stop())
	require.Equal(t, 1, strings.Count(w.errOut.String(), "no series matches"), "said once")
}

// At 80 columns the header keeps the status, seq and series count, however
// long the URL; the URL gives way.
func TestWatchHeaderAt80Columns(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	t.Setenv("COLUMNS", "80")
	w := startWatch(t, ts.wsURL("/ws/metrics"), "-match", "queue_depth,heap_bytes,requests_total,some_other_family_*,and_one_more_*")
	table := w.waitTable(func(table string) bool { return strings.Contains(table, "queue_depth") }, "a table")
	header := strings.SplitN(table, "\n", 2)[0]
	require.LessOrEqual(t, runes(header), 80, header)
	require.Regexp(t, `^● live  seq \d+  3 series  `, header)
	require.Contains(t, header, "…", "the URL is shortened")
	require.Equal(t, 0, w.stop())
}

func TestGetJSON(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	var snap struct {
		Type   string             `json:"type"`
		Seq    uint64             `json:"seq"`
		Values map[string]float64 `json:"values"`
		Rates  map[string]float64 `json:"rates"`
	}
	var out string
	// A ws:// URL is fetched as http://.
	eventually(t, func() bool {
		code, stdout, stderr := pulseCmd(t, "get", ts.wsURL("/ws/metrics"))
		require.Equal(t, 0, code, stderr)
		out = stdout
		require.NoError(t, json.Unmarshal([]byte(out), &snap), out)
		return snap.Values["queue_depth"] == 42
	}, "the published values in the JSON snapshot")
	require.Equal(t, "snapshot", snap.Type)
	require.Equal(t, float64(3<<20), snap.Values["heap_bytes"])
	require.Contains(t, snap.Values, "requests_total")
	require.True(t, strings.HasPrefix(out, "{\n  \"type\": \"snapshot\","), "pretty-printed: %s", out)

	// -o raw: the server's bytes, one line; -match narrows the selection.
	code, stdout, stderr := pulseCmd(t, "get", "-o", "raw", "-match", "queue_*", ts.httpURL("/ws/metrics"))
	require.Equal(t, 0, code, stderr)
	require.Equal(t, 1, strings.Count(stdout, "\n"), stdout)
	require.True(t, strings.HasPrefix(stdout, `{"type":"snapshot",`), stdout)
	require.Contains(t, stdout, `"queue_depth":42`)
	require.NotContains(t, stdout, "heap_bytes")
}

func TestWatch(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	w := startWatch(t, ts.wsURL("/ws/metrics"))
	table := w.waitTable(func(table string) bool {
		ts.requests.Add(5) // a rate above zero
		m := counterLine.FindStringSubmatch(table)
		return m != nil && m[2] != "0" && strings.ContainsAny(m[4], sparkChars) &&
			containsAll(table, "queue_depth", "heap_bytes")
	}, "a table with every series, a rate for the counter and sparklines")

	lines := strings.Split(table, "\n")
	require.Len(t, lines, 5, table) // header, column titles, three series
	require.Regexp(t, `^● live  seq \d+  3 series  \d\d:\d\d:\d\d  `+regexp.QuoteMeta(ts.wsURL("/ws/metrics"))+`$`, lines[0])
	require.Regexp(t, `^KEY +VALUE +RATE +UNIT +HISTORY$`, lines[1])
	// Sorted by key, values formatted for their unit, sparklines drawn.
	require.Regexp(t, `^heap_bytes +3\.00 MiB +bytes +[`+sparkChars+`]+$`, lines[2])
	require.Regexp(t, `^queue_depth +42 +[`+sparkChars+`]+$`, lines[3])
	require.Regexp(t, counterLine, lines[4])
	require.NotContains(t, w.out.String(), "\x1b", "no escape sequences when stdout is not a terminal")

	require.Equal(t, 0, w.stop())
	require.Empty(t, w.errOut.String())
}

func TestWatchFilterAndMatch(t *testing.T) {
	ts := startHub(t, pulse.Options{})

	w := startWatch(t, ts.wsURL("/ws/metrics"), "-filter", "QUEUE")
	table := w.waitTable(func(table string) bool { return strings.Contains(table, "queue_depth") }, "queue_depth")
	require.Contains(t, table, "1 of 3 series")
	require.NotContains(t, table, "heap_bytes")
	require.NotContains(t, table, "requests_total")
	require.Equal(t, 0, w.stop())

	// -match goes to the server: the view holds nothing else.
	w = startWatch(t, "-match", "requests_*", ts.wsURL("/ws/metrics"))
	table = w.waitTable(func(table string) bool { return strings.Contains(table, "requests_total") }, "requests_total")
	require.Contains(t, table, "● live  seq ")
	require.Contains(t, table, "  1 series  ")
	require.Contains(t, table, "?match=requests_*")
	require.NotContains(t, table, "queue_depth")
	require.Equal(t, 0, w.stop())
}

func TestWatchReconnecting(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	w := startWatch(t, ts.wsURL("/ws/metrics"))
	w.waitTable(func(table string) bool { return containsAll(table, "● live", "queue_depth") }, "a live table")
	ts.stop() // the Hub closes the connection and answers 503 from now on
	table := w.waitTable(func(table string) bool {
		return strings.Contains(table, "○ reconnecting (503 Service Unavailable)")
	}, "the reconnecting status and why")
	require.Contains(t, table, "queue_depth", "the last state stays on screen")
	require.Equal(t, 0, w.stop())
}

func TestWatchWidth(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	t.Setenv("COLUMNS", "44")
	w := startWatch(t, ts.wsURL("/ws/metrics"))
	table := w.waitTable(func(table string) bool {
		return strings.Contains(table, "queue_depth") && strings.ContainsAny(table, sparkChars)
	}, "a table")
	for _, l := range strings.Split(table, "\n") {
		require.LessOrEqual(t, runes(l), 44, "%q", l)
	}
	require.Equal(t, 0, w.stop())
}

func TestWatchAllowedOrigin(t *testing.T) {
	ts := startHub(t, pulse.Options{OriginPatterns: []string{"good.example"}})
	w := startWatch(t, ts.wsURL("/ws/metrics"), "-origin", "https://good.example")
	w.waitTable(func(table string) bool { return strings.Contains(table, "queue_depth") }, "a table")
	require.Equal(t, 0, w.stop())
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in stderr, or in stdout when code is 0
	}{
		{nil, 2, "Usage:"},
		{[]string{"help"}, 0, "pulse watch URL"},
		{[]string{"get", "-h"}, 0, "-o format"},
		{[]string{"watch", "-help"}, 0, "-filter text"},
		{[]string{"frob"}, 2, `unknown command "frob"`},
		{[]string{"get"}, 2, "missing URL"},
		{[]string{"watch", "ws://a/ws", "ws://b/ws"}, 2, "one URL expected"},
		{[]string{"get", "ftp://localhost/ws/metrics"}, 2, `scheme "ftp" not supported: use ws://, wss://, http:// or https://`},
		{[]string{"watch", "ftp://localhost/ws/metrics"}, 2, `scheme "ftp" not supported`},
		{[]string{"watch", "localhost:8080/ws/metrics"}, 2, "has no scheme: did you mean ws://localhost:8080/ws/metrics"},
		{[]string{"get", "http://[::1/ws"}, 2, "invalid URL"},
		{[]string{"get", "http:///ws"}, 2, "has no host"},
		{[]string{"get", "-o", "yaml", "ws://localhost/ws"}, 2, `-o "yaml": want json, raw or text`},
		{[]string{"get", "ws://localhost/ws", "-H", "Authorization Bearer x"}, 2, `want "Name: value"`},
		{[]string{"watch", "ws://localhost/ws", "-match", "http-requests"}, 2, `character '-' not allowed`},
		{[]string{"get", "ws://localhost/ws?match=a%20b"}, 2, `character ' ' not allowed`},
		{[]string{"watch", "ws://localhost/ws", "-o", "text"}, 2, "-o: not a flag of watch"},
		{[]string{"get", "ws://localhost/ws", "-filter", "x"}, 2, "-filter: not a flag of get"},
		{[]string{"get", "ws://localhost/ws", "-nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"get", "ws://localhost/ws", "-timeout", "0s"}, 2, "must be positive"},
		{[]string{"watch", "ws://localhost/ws", "-origin", "evil.example"}, 2, "want scheme://host"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := pulseCmd(t, tc.args...)
			require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", stdout, stderr)
			if tc.code == 0 {
				require.Contains(t, stdout, tc.want)
			} else {
				require.Contains(t, stderr, tc.want)
			}
		})
	}
}

// both runs get and watch against the same server with the same extra
// flags and requires that both fail with exit status 1 and messages
// containing want.
func both(t *testing.T, ts *testServer, path string, flags []string, want ...string) {
	t.Helper()
	for _, cmd := range []string{"get", "watch"} {
		u := ts.httpURL(path)
		if cmd == "watch" {
			u = ts.wsURL(path)
		}
		code, stdout, stderr := pulseCmd(t, append([]string{cmd, u}, flags...)...)
		require.Equal(t, 1, code, "%s: stdout: %s\nstderr: %s", cmd, stdout, stderr)
		require.Empty(t, stdout, cmd)
		require.True(t, strings.HasPrefix(stderr, "pulse "+cmd+": "), stderr)
		for _, w := range want {
			require.Contains(t, stderr, w, cmd)
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	addr := closedAddr(t)
	for _, args := range [][]string{
		{"get", "http://" + addr + "/ws/metrics"},
		{"watch", "ws://" + addr + "/ws/metrics"},
	} {
		code, _, stderr := pulseCmd(t, args...)
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, "cannot reach "+args[1]+": connection refused")
	}
}

func TestTimeout(t *testing.T) {
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, args := range [][]string{
		{"get", "http://" + ln.Addr().String() + "/ws/metrics", "-timeout", "50ms"},
		{"watch", "ws://" + ln.Addr().String() + "/ws/metrics", "-timeout", "50ms"},
	} {
		code, _, stderr := pulseCmd(t, args...)
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, "within 50ms (-timeout)")
	}
}

func TestAuthorizeRejected(t *testing.T) {
	ts := startHub(t, pulse.Options{Authorize: func(r *http.Request) (pulse.Access, error) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			return pulse.Access{}, errors.New("no token")
		}
		return pulse.Access{}, nil
	}})
	both(t, ts, "/ws/metrics", nil, "authorization rejected", "403 Forbidden", `-H "Authorization: Bearer <token>"`)
	both(t, ts, "/ws/metrics", []string{"-H", "Authorization: Bearer wrong"}, "authorization rejected", "the credentials given with -H were not accepted")

	// With the right header, both work.
	code, stdout, stderr := pulseCmd(t, "get", ts.httpURL("/ws/metrics"), "-H", "Authorization: Bearer s3cret")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, `"type": "snapshot"`)
	w := startWatch(t, ts.wsURL("/ws/metrics"), "-H", "Authorization: Bearer s3cret")
	w.waitTable(func(table string) bool { return strings.Contains(table, "● live") }, "a live table")
	require.Equal(t, 0, w.stop())
}

type statusError int

func (e statusError) Error() string   { return http.StatusText(int(e)) }
func (e statusError) StatusCode() int { return int(e) }

func TestAuthorizeUnauthorized(t *testing.T) {
	ts := startHub(t, pulse.Options{Authorize: func(*http.Request) (pulse.Access, error) {
		return pulse.Access{}, statusError(http.StatusUnauthorized)
	}})
	both(t, ts, "/ws/metrics", nil, "authorization required", "401 Unauthorized", `-H "Authorization: Bearer <token>"`)
}

func TestOriginRefused(t *testing.T) {
	ts := startHub(t, pulse.Options{OriginPatterns: []string{"good.example"}})
	code, _, stderr := pulseCmd(t, "watch", ts.wsURL("/ws/metrics"), "-origin", "https://evil.example")
	require.Equal(t, 1, code, stderr)
	for _, want := range []string{"origin refused", "403 Forbidden", "OriginPatterns", `"Origin: https://evil.example" (-origin)`, "Without -origin the CLI sends no Origin header"} {
		require.Contains(t, stderr, want)
	}
}

func TestNotFound(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	both(t, ts, "/nope", nil, "not a pulse endpoint", "404 Not Found", "/ws/metrics")
}

func TestNotPulse(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	code, _, stderr := pulseCmd(t, "get", ts.httpURL("/not-pulse"))
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, `not a pulse endpoint: `+ts.httpURL("/not-pulse")+` answered with JSON without "type":"snapshot"`)
	code, _, stderr = pulseCmd(t, "watch", ts.wsURL("/not-pulse"))
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "not a pulse endpoint: "+ts.wsURL("/not-pulse")+" answered the WebSocket handshake with 200 OK")
}

// A middleware that hides http.Hijacker makes the upgrade answer 501:
// watch says why and how to fix it, and does not retry.
func TestWatchHijackerHidden(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	code, _, stderr := pulseCmd(t, "watch", ts.wsURL("/behind-recorder"))
	require.Equal(t, 1, code, stderr)
	for _, want := range []string{"501 Not Implemented", "http.Hijacker", "Unwrap() http.ResponseWriter", "http.TimeoutHandler"} {
		require.Contains(t, stderr, want)
	}
	// A plain GET through the same middleware works.
	code, stdout, stderr := pulseCmd(t, "get", ts.httpURL("/behind-recorder"), "-o", "text")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "queue_depth 42")
}

func TestShuttingDown(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	ts.stop()
	both(t, ts, "/ws/metrics", nil, "server unavailable", "503 Service Unavailable", "shutting down", "retry in 5s")
}

func TestParseInterspersed(t *testing.T) {
	c, err := parse("get", []string{"-match", "a_*", "ws://h/ws", "-o", "text", "-match", "b,c", "-H", "X-A: 1", "-H", "X-A: 2"}, nil, nil)
	require.NoError(t, err)
	require.Equal(t, "http://h/ws?match=a_%2A%2Cb%2Cc", c.url.String())
	require.Equal(t, "http://h/ws?match=a_*,b,c", c.where())
	require.Equal(t, []string{"a_*", "b", "c"}, c.match)
	require.Equal(t, "text", c.output)
	require.Equal(t, []string{"1", "2"}, c.header.Values("X-A"))

	c, err = parse("watch", []string{"https://u:pw@h/ws?match=x_*", "-origin", "https://o.example", "--", "-not-a-flag"}, nil, nil)
	require.Error(t, err) // two positional arguments
	c, err = parse("watch", []string{"-origin", "https://o.example", "--", "https://u:pw@h/ws?match=x_*"}, nil, nil)
	require.NoError(t, err)
	require.Equal(t, "wss://u:xxxxx@h/ws?match=x_*", c.where())
	require.Nil(t, c.match)
	require.Equal(t, "https://o.example", c.header.Get("Origin"))
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v     float64
		class unitClass
		want  string
	}{
		{0, plainUnit, "0"},
		{42, plainUnit, "42"},
		{-7, plainUnit, "-7"},
		{999999, plainUnit, "999999"},
		{1234567, plainUnit, "1.23M"},
		{2.5e9, plainUnit, "2.50G"},
		{123.456, plainUnit, "123.5"},
		{3.14159, plainUnit, "3.14"},
		{0.01234, plainUnit, "0.0123"},
		{0.00001234, plainUnit, "1.23e-05"},
		{12, percentUnit, "12%"},
		{512, bytesUnit, "512 B"},
		{1536, bytesUnit, "1.50 KiB"},
		{3 << 20, bytesUnit, "3.00 MiB"},
		{1023.999 * 1024, bytesUnit, "1.00 MiB"},
		{5.5 * (1 << 30), bytesUnit, "5.50 GiB"},
		{0, secondsUnit, "0 s"},
		{2.5e-8, secondsUnit, "25.0 ns"},
		{0.000123, secondsUnit, "123 µs"},
		{0.0202, secondsUnit, "20.2 ms"},
		{1.5, secondsUnit, "1.50 s"},
		{125, secondsUnit, "2m 5s"},
		{7322, secondsUnit, "2h 2m"},
		{200000, secondsUnit, "2d 7h"},
	} {
		require.Equal(t, tc.want, formatValue(tc.v, tc.class), "%v %v", tc.v, tc.class)
	}
	require.Equal(t, "NaN", formatValue(nan(), bytesUnit))
	require.Equal(t, "+Inf", formatValue(inf(1), plainUnit))
	require.Equal(t, "-Inf", formatValue(inf(-1), secondsUnit))
	require.Equal(t, "1.50 KiB/s", formatRate(1536, bytesUnit))
	require.Equal(t, "12.50/s", formatRate(12.5, percentUnit))

	require.Equal(t, bytesUnit, classify("bytes", "x"))
	require.Equal(t, bytesUnit, classify("", "go_gc_heap_allocs_bytes_total"))
	require.Equal(t, secondsUnit, classify("", "http_request_duration_seconds_sum"))
	require.Equal(t, plainUnit, classify("", "http_request_duration_seconds_count"))
	require.Equal(t, plainUnit, classify("requests", "x_bytes"))
}

func TestSparkline(t *testing.T) {
	require.Equal(t, "▁▂▃▄▅▆▇█", sparkline([]float64{0, 1, 2, 3, 4, 5, 6, 7}, 8))
	require.Equal(t, "▁█", sparkline([]float64{0, 1, 2, 3, 4, 5, 6, 7}, 2), "the last points")
	require.Equal(t, "▁▁▁", sparkline([]float64{5, 5, 5}, 10), "flat")
	require.Equal(t, "▁ █", sparkline([]float64{1, nan(), 3}, 10))
	require.Equal(t, "", sparkline(nil, 10))
	require.Equal(t, "", sparkline([]float64{1, 2}, 0))
}

func TestTableLayout(t *testing.T) {
	rows := []row{
		{key: `http_request_duration_seconds{page="about",quantile="0.99"}`, value: "38.0 ms", points: []float64{1, 2, 3}},
		{key: "requests_total", value: "1212", rate: "12.00/s", unit: "requests", points: make([]float64, 100)},
	}
	wide := table(rows, 200)
	require.Len(t, wide, 3)
	require.Regexp(t, `^KEY +VALUE +RATE +UNIT +HISTORY$`, wide[0])
	require.Contains(t, wide[1], rows[0].key)
	require.Equal(t, maxSparkline, strings.Count(wide[2], "▁"))

	// Short keys leave the sparkline what room there is.
	short := []row{{key: "requests_total", value: "3.00 MiB", rate: "0/s", unit: "requests", points: make([]float64, 100)}}
	require.Regexp(t, `^requests_total  3\.00 MiB   0/s  requests  ▁▁$`, table(short, 44)[1])

	for _, width := range []int{100, 80, 40, 20} {
		lines := table(rows, width)
		for _, l := range lines {
			require.LessOrEqual(t, runes(l), width, "%q", l)
		}
		if width == 80 {
			// The key is shortened in the middle; the sparkline keeps its
			// minimum.
			require.Contains(t, lines[1], "…")
			require.Contains(t, lines[1], `quantile="0.99"}`)
			require.Equal(t, minSparkline, strings.Count(lines[2], "▁"))
		}
	}
}

func TestScreenTerminal(t *testing.T) {
	var b strings.Builder
	sc := &screen{w: &b, tty: true, color: true, size: func() (int, int) { return 80, 6 }}
	m := newModel("ws://h/ws", "", false)
	f := frame{live: true, seq: 7}
	for i := range 5 {
		f.series = append(f.series, series{key: "k" + strconv.Itoa(i), name: "k" + strconv.Itoa(i), row: row{key: "k" + strconv.Itoa(i), value: strconv.Itoa(i)}})
	}
	m.setFrame(f)
	require.NoError(t, sc.draw(m))
	first := b.String()
	require.True(t, strings.HasPrefix(first, csiHideCursor+csiClear+csiHome), "%q", first)
	require.Contains(t, first, sgrGreen+"● live"+sgrReset)
	require.Contains(t, first, "k1")
	require.NotContains(t, first, "k2")
	require.Contains(t, first, "... 3 more lines")
	require.True(t, strings.HasSuffix(first, csiClearBelow), "%q", first)

	b.Reset()
	f.live, f.problem = false, "connection refused"
	m.setFrame(f)
	require.NoError(t, sc.draw(m))
	require.True(t, strings.HasPrefix(b.String(), csiHome), "later redraws only move the cursor home: %q", b.String())
	require.Contains(t, b.String(), sgrYellow+"○ reconnecting (connection refused)"+sgrReset)
	b.Reset()
	sc.close()
	require.Equal(t, csiShowCursor+"\n", b.String())
}

func TestScreenPlain(t *testing.T) {
	var b strings.Builder
	sc := &screen{w: &b, size: func() (int, int) { return 80, 0 }}
	m := newModel("ws://h/ws", "", false)
	f := frame{live: true, seq: 7, series: []series{{key: "k", name: "k", row: row{key: "k", value: "1"}}}}
	m.setFrame(f)
	require.NoError(t, sc.draw(m))
	f.seq = 8
	m.setFrame(f)
	require.NoError(t, sc.draw(m)) // same table: not printed again
	require.Equal(t, "● live  seq 7  1 series  ws://h/ws\nKEY  VALUE\nk        1\n\n", b.String())
	f.series[0].row.value = "2"
	m.setFrame(f)
	require.NoError(t, sc.draw(m))
	require.True(t, strings.HasSuffix(b.String(), "seq 8  1 series  ws://h/ws\nKEY  VALUE\nk        2\n\n"), b.String())
}

func nan() float64         { return math.NaN() }
func inf(sign int) float64 { return math.Inf(sign) }

func TestInterrupted(t *testing.T) {
	ts := startHub(t, pulse.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before anything happened
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(ctx, []string{"watch", ts.wsURL("/ws/metrics")}, &out, &errOut), errOut.String())
	require.Empty(t, out.String())
	require.Equal(t, 1, run(ctx, []string{"get", ts.httpURL("/ws/metrics")}, &out, &errOut))
	require.Equal(t, "pulse get: interrupted\n", errOut.String())
}
