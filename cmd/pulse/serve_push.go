package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-pulse/pulse"
)

// pushPath is the route of the push API.
const pushPath = "/api/v1/metrics"

// pushReadTimeout bounds the reading of one push body.
const pushReadTimeout = 30 * time.Second

// pushMetric is one metric of a push batch: pulse.Metric in JSON.
type pushMetric struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Kind   string            `json:"kind"` // "gauge" (the default) or "counter"
	Value  *pushValue        `json:"value"`
	Unit   string            `json:"unit"`
	Help   string            `json:"help"`
}

// pushValue is a number, or one of the strings "NaN", "+Inf", "-Inf" (the
// wire protocol's spelling).
type pushValue float64

func (v *pushValue) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "NaN":
			*v = pushValue(math.NaN())
		case "+Inf":
			*v = pushValue(math.Inf(1))
		case "-Inf":
			*v = pushValue(math.Inf(-1))
		default:
			return fmt.Errorf("value %q: want a number, or \"NaN\", \"+Inf\", \"-Inf\"", s)
		}
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("value %s: want a number, or \"NaN\", \"+Inf\", \"-Inf\"", b)
	}
	*v = pushValue(f)
	return nil
}

// pusher serves POST /api/v1/metrics: a JSON array of metrics, published
// on the Hub as one batch, all or nothing. The token must come in the
// Authorization header (not a cookie or the query): a page on another
// site cannot set that header without a CORS preflight, which this route
// does not answer, so no cross-site request can push; the body's
// Content-Type is then not checked (curl -d works as is).
type pusher struct {
	hub      *pulse.Hub
	access   *access
	maxBytes int64
}

func (p *pusher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		pushError(w, http.StatusMethodNotAllowed, "use POST with a JSON array of metrics")
		return
	}
	g, err := p.access.writer(r)
	if err != nil {
		code, msg := asStatus(err)
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pulse"`)
		}
		pushError(w, code, msg)
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(pushReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.maxBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		pushError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the batch is larger than %d bytes (-max-push-bytes): send it in smaller batches", p.maxBytes))
		return
	case err != nil:
		pushError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	ms, err := decodeBatch(body)
	if err != nil {
		pushError(w, http.StatusBadRequest, err.Error())
		return
	}
	for i, m := range ms {
		if !g.mayWrite(m.Name) {
			pushError(w, http.StatusForbidden, fmt.Sprintf("metrics[%d]: token %q may not write %s (it may write %q)", i, g.Name, m.Name, g.Write))
			return
		}
	}
	if err := p.hub.Publish(ms...); err != nil {
		// Every metric was validated: what is left is a batch past the
		// Hub's MaxSeries, or a Hub that is shutting down.
		code := http.StatusServiceUnavailable
		if errors.Is(err, pulse.ErrTooManySeries) {
			code = http.StatusInsufficientStorage
		}
		pushError(w, code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"accepted\":%d}\n", len(ms))
}

// decodeBatch reads a batch: a JSON array of metrics, strictly (an unknown
// field, a missing value, a bad kind or an invalid name is an error that
// says which metric), validated as Hub.Publish would.
func decodeBatch(body []byte) ([]pulse.Metric, error) {
	var raw []json.RawMessage
	if err := strictJSON(body, &raw); err != nil {
		return nil, fmt.Errorf(`malformed batch: %v (want a JSON array: [{"name": "orders_total", "kind": "counter", "value": 42, "labels": {"shop": "eu"}}])`, err)
	}
	ms := make([]pulse.Metric, len(raw))
	for i, r := range raw {
		var pm pushMetric
		if err := strictJSON(r, &pm); err != nil {
			return nil, fmt.Errorf("metrics[%d]: %v", i, err)
		}
		m := pulse.Metric{Name: pm.Name, Labels: pm.Labels, Unit: pm.Unit, Help: pm.Help}
		switch pm.Kind {
		case "", "gauge":
		case "counter":
			m.Kind = pulse.KindCounter
		default:
			return nil, fmt.Errorf("metrics[%d] (%s): kind %q: want \"gauge\" or \"counter\"", i, pm.Name, pm.Kind)
		}
		if pm.Value == nil {
			return nil, fmt.Errorf("metrics[%d] (%s): no value", i, pm.Name)
		}
		m.Value = float64(*pm.Value)
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("metrics[%d]: %w", i, err)
		}
		ms[i] = m
	}
	return ms, nil
}

// strictJSON decodes b into v: an unknown field or anything after the
// value is an error.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// pushError answers a push with status code and a JSON body saying why.
func pushError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	_, _ = w.Write(append(b, '\n'))
}
