package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxSnapshot bounds the response get reads.
const maxSnapshot = 64 << 20

// snapshotMsg is the part of a "snapshot" message get reads. Values and
// rates stay raw so that text output prints them exactly as sent.
type snapshotMsg struct {
	Type   string                     `json:"type"`
	Seq    uint64                     `json:"seq"`
	Values map[string]json.RawMessage `json:"values"`
	Rates  map[string]json.RawMessage `json:"rates"`
}

// get prints the Hub's current snapshot, fetched with a plain GET.
func get(ctx context.Context, c *config, client *http.Client, stdout, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "pulse get: "+format+"\n", args...)
		return exitFailure
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url.String(), nil)
	if err != nil {
		return fail("%s: %v", c.where(), err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return fail("interrupted")
		}
		return fail("%s", explain(err, c))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSnapshot+1))
	if err != nil {
		return fail("%s", explain(fmt.Errorf("reading the response: %w", err), c))
	}
	if resp.StatusCode != http.StatusOK {
		var ra time.Duration
		if n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && n > 0 {
			ra = time.Duration(n) * time.Second
		}
		return fail("%s", explainRefusal(refusal{status: resp.StatusCode, body: string(body[:min(len(body), 512)]), retryAfter: ra}, c))
	}
	if len(body) > maxSnapshot {
		return fail("%s: the response is larger than %d MiB: narrow the selection with -match", c.where(), maxSnapshot>>20)
	}
	var snap snapshotMsg
	if err := json.Unmarshal(body, &snap); err != nil {
		ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if ct == "" {
			ct = "none"
		}
		return fail("not a pulse endpoint: %s answered 200 OK with something that is not JSON (Content-Type %s): a pulse Hub answers a GET with its snapshot as JSON. Check the path: it is the route where the server mounts its Hub, e.g. /ws/metrics", c.where(), ct)
	}
	if snap.Type != "snapshot" {
		return fail(`not a pulse endpoint: %s answered with JSON without "type":"snapshot" (a pulse Hub answers a GET with its snapshot message). Check the path: it is the route where the server mounts its Hub, e.g. /ws/metrics`, c.where())
	}

	var out bytes.Buffer
	switch c.output {
	case "raw":
		out.Write(body)
		if !bytes.HasSuffix(body, []byte("\n")) {
			out.WriteByte('\n')
		}
	case "json":
		if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
			return fail("%s: %v", c.where(), err)
		}
		out.WriteByte('\n')
	case "text":
		writeText(&out, &snap)
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		return fail("writing the output: %v", err)
	}
	if len(snap.Values) == 0 && len(c.patterns()) > 0 {
		fmt.Fprintln(stderr, "pulse get: "+noMatch(c))
	}
	return exitOK
}

// writeText writes one line per series of snap, sorted by key: "key
// value", and " rate/s" after the value of a counter that has a rate.
func writeText(out *bytes.Buffer, snap *snapshotMsg) {
	for _, k := range slices.Sorted(maps.Keys(snap.Values)) {
		out.WriteString(k)
		out.WriteByte(' ')
		out.WriteString(exactNumber(snap.Values[k]))
		if r, ok := snap.Rates[k]; ok {
			out.WriteByte(' ')
			out.WriteString(rateNumber(r))
			out.WriteString("/s")
		}
		out.WriteByte('\n')
	}
}

// rateNumber is a rate as text: four significant digits, or all the
// digits of its integer part when it has more (1234567/s, 3.333/s,
// 0.01667/s), NaN, +Inf or -Inf. A rate is an estimate from two samples:
// the digits past these say nothing.
func rateNumber(b json.RawMessage) string { return protocolNumber(b, roundRate) }

// exactNumber is a protocol value as text: NaN, +Inf, -Inf, or the
// shortest decimal that reads back as the same float64, without an
// exponent unless the number is huge or tiny.
func exactNumber(b json.RawMessage) string { return protocolNumber(b, exactFloat) }

// protocolNumber is a number of the protocol (a JSON number, or one of
// the strings "NaN", "+Inf", "-Inf") as text, written by format.
func protocolNumber(b json.RawMessage, format func(float64) string) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return string(b)
	}
	if s, ok := nonFinite(v); ok {
		return s
	}
	return format(v)
}

func roundRate(v float64) string {
	if v == 0 {
		return "0"
	}
	decimals := 3 - int(math.Floor(math.Log10(math.Abs(v))))
	if decimals > 9 {
		return strconv.FormatFloat(v, 'g', 4, 64) // tiny: 1.234e-12
	}
	s := strconv.FormatFloat(v, 'f', max(decimals, 0), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func exactFloat(v float64) string {
	if a := math.Abs(v); a != 0 && (a >= 1e21 || a < 1e-9) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
