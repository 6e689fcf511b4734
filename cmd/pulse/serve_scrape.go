package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/go-pulse/pulse"
	promsource "github.com/go-pulse/pulse/sources/prometheus"
)

// scrapeAccept is the Accept header of a scrape: the protobuf format
// first (the cheapest to parse; client_golang serves it), then the
// Prometheus text format 0.0.4, which every client library serves. An
// OpenMetrics answer is read by the same text parser, which takes its
// common subset.
const scrapeAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7," +
	"text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// maxScrapeBytes bounds what one scrape reads: a target that sends more is
// failing.
const maxScrapeBytes = 64 << 20

// logPeriod is how often a target that keeps failing is logged again.
const logPeriod = time.Minute

// Health series, one of each per target, labelled with its instance and
// job: published with Hub.Publish, so they stay current while the
// target's own series are stale.
const (
	upName       = "pulse_scrape_up"
	errorsName   = "pulse_scrape_errors_total"
	durationName = "pulse_scrape_duration_seconds"
	seriesName   = "pulse_scrape_series"
)

// target is one -scrape URL: a pulse.MetricSource whose Collect scrapes
// it, parses the exposition with the Prometheus project's own parser
// (expfmt) and converts the metric families with the Prometheus adapter
// (sources/prometheus), so histograms, summaries, counters and untyped
// metrics look exactly as they do in a Go service that registers the
// adapter. Every series gets the target's instance and job labels.
//
// Collect is called by the Hub at most once at a time; the fields below
// the line belong to it.
type target struct {
	url      string
	instance string
	job      string
	client   *http.Client
	hub      *pulse.Hub
	labels   pulse.Labels // instance and job, for the health series

	log      *condLog // the target's failures
	errors   float64  // failed scrapes, for pulse_scrape_errors_total
	skipLogs *condLog // series the adapter skips (names pulse refuses)
}

// newTarget checks a -scrape URL and makes its target. The instance is the
// URL's host:port, as Prometheus names it.
func newTarget(raw, job string, client *http.Client, hub *pulse.Hub, log *slog.Logger) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-scrape %q: %v", raw, unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("-scrape %q: want an http:// or https:// URL, e.g. http://localhost:8000/metrics", raw)
	}
	t := &target{url: u.String(), instance: u.Host, job: job, client: client, hub: hub}
	t.labels = pulse.Labels{"instance": t.instance, "job": job}
	t.log = newCondLog(log, logPeriod, "target", u.Redacted(), "instance", t.instance, "job", job)
	t.skipLogs = newCondLog(log, logPeriod, "target", u.Redacted(), "instance", t.instance, "job", job)
	return t, nil
}

// Collect scrapes the target once. On failure it returns the error, so
// that the Hub keeps the target's last values and marks them stale (the
// target is registered with StaleAfter 1); the health series say why.
func (t *target) Collect(ctx context.Context) ([]pulse.Metric, error) {
	start := time.Now()
	ms, err := t.scrape(ctx)
	took := time.Since(start)
	up := 1.0
	if err != nil {
		up = 0
		t.errors++
		t.log.fail("pulse serve: scrape failed", err)
	} else {
		t.log.ok("pulse serve: scrape recovered")
	}
	t.publishHealth(up, took, len(ms))
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// scrape fetches, parses and converts the target's metrics.
func (t *target) scrape(ctx context.Context) ([]pulse.Metric, error) {
	mfs, err := t.fetch(ctx)
	if err != nil {
		return nil, err
	}
	mfs = dropCreated(mfs)
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			m.Label = withTargetLabels(m.Label, t.instance, t.job)
		}
	}
	skipped := false
	conv, err := promsource.New(
		promsource.WithGatherer(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil })),
		promsource.WithErrorHandler(func(err error) {
			skipped = true
			t.skipLogs.fail("pulse serve: series skipped", err)
		}),
	)
	if err != nil {
		return nil, err // cannot happen: the options are valid
	}
	ms, err := conv.Collect(ctx)
	if !skipped {
		t.skipLogs.ok("pulse serve: no series skipped any more")
	}
	return ms, err
}

// fetch GETs the target and decodes the exposition it answers.
func (t *target) fetch(ctx context.Context) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", scrapeAccept)
	req.Header.Set("User-Agent", "pulse-serve")
	if d, ok := ctx.Deadline(); ok {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(time.Until(d).Seconds(), 'f', 3, 64))
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("%s answered %s", t.url, resp.Status)
	}
	body := &limitedReader{r: resp.Body, n: maxScrapeBytes}
	dec := expfmt.NewDecoder(body, expfmt.ResponseFormat(resp.Header))
	var mfs []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return mfs, nil
		}
		if err != nil {
			if body.over {
				return nil, fmt.Errorf("%s: the exposition is larger than %d MiB", t.url, maxScrapeBytes>>20)
			}
			return nil, fmt.Errorf("%s: parsing the exposition (Content-Type %q): %w", t.url, resp.Header.Get("Content-Type"), err)
		}
		mfs = append(mfs, mf)
	}
}

// publishHealth publishes the target's health series.
func (t *target) publishHealth(up float64, took time.Duration, series int) {
	_ = t.hub.Publish( // fails only once the Hub is shut down
		pulse.Metric{Name: upName, Labels: t.labels, Value: up, Help: "1 if the last scrape of the target succeeded, else 0"},
		pulse.Metric{Name: errorsName, Labels: t.labels, Kind: pulse.KindCounter, Value: t.errors, Help: "Failed scrapes of the target"},
		pulse.Metric{Name: durationName, Labels: t.labels, Value: took.Seconds(), Unit: "seconds", Help: "How long the last scrape took"},
		pulse.Metric{Name: seriesName, Labels: t.labels, Value: float64(series), Help: "Series the last scrape returned"},
	)
}

// dropCreated removes the _created series that Python's prometheus_client
// (and other OpenMetrics-minded clients) write next to each counter,
// histogram and summary in the text format, as gauge families of their
// own: the time the series was created, which nobody wants to watch live.
// A gauge family B_created goes when a counter B_total or B, or a
// histogram or summary B, is in the same exposition.
func dropCreated(mfs []*dto.MetricFamily) []*dto.MetricFamily {
	types := make(map[string]dto.MetricType, len(mfs))
	for _, mf := range mfs {
		types[mf.GetName()] = mf.GetType()
	}
	owned := func(base string) bool {
		t, ok := types[base]
		if ok && t != dto.MetricType_GAUGE && t != dto.MetricType_UNTYPED {
			return true
		}
		t, ok = types[base+"_total"]
		return ok && t == dto.MetricType_COUNTER
	}
	return slices.DeleteFunc(mfs, func(mf *dto.MetricFamily) bool {
		base, ok := strings.CutSuffix(mf.GetName(), "_created")
		return ok && mf.GetType() == dto.MetricType_GAUGE && owned(base)
	})
}

// withTargetLabels returns a metric's labels with instance and job added.
// Labels of those names the target exposes itself are kept as
// exported_instance and exported_job, as Prometheus does (honor_labels:
// false). lps is not modified: a registry's label pairs may be shared.
func withTargetLabels(lps []*dto.LabelPair, instance, job string) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(lps)+2)
	for _, lp := range lps {
		switch lp.GetName() {
		case "instance", "job":
			lp = &dto.LabelPair{Name: ptr("exported_" + lp.GetName()), Value: lp.Value}
		}
		out = append(out, lp)
	}
	return append(out,
		&dto.LabelPair{Name: ptr("instance"), Value: ptr(instance)},
		&dto.LabelPair{Name: ptr("job"), Value: ptr(job)})
}

func ptr(s string) *string { return &s }

// limitedReader is io.LimitReader that says when the limit was reached.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		l.over = true
		return 0, fmt.Errorf("more than %d bytes", maxScrapeBytes)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
