package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-pulse/pulse"
)

// serveConfig is a parsed pulse serve command line.
type serveConfig struct {
	addr          string
	scrape        []string
	job           string
	interval      time.Duration
	scrapeTimeout time.Duration
	token         string
	tokensFile    string
	public        []string
	origins       []string
	hosts         []string // -allow-host, defaulted by parseServe
	maxSeries     int
	maxPushBytes  int64
	history       int
	selfMetrics   bool
}

// Limits of pulse serve's HTTP server.
const (
	readHeaderTimeout = 10 * time.Second  // a client has this long to send its request's headers
	idleTimeout       = 120 * time.Second // an idle keep-alive connection is closed after this
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 10 * time.Second // for the Hub's clients and the server's requests to end
)

const serveHelp = `Usage: pulse serve [flags]

Run a pulse Hub of its own for an application in any language: it scrapes
Prometheus metrics endpoints and takes pushed metrics, and serves them live
exactly as a Go service that embeds pulse would:

  /ws/metrics      the stream: WebSocket, Server-Sent Events, or the current
                   snapshot as JSON on a plain GET (pulse watch, pulse get)
  /dashboard/      the dashboard (opened at /)
  /pulse.js        the browser client
  /api/v1/metrics  POST: push a JSON array of metrics (needs a token)

Flags:
  -addr host:port       where to listen (default localhost:8080; :8080 for
                        every interface)
  -scrape URL           a Prometheus or OpenMetrics text endpoint to scrape every
                        -interval, e.g. http://localhost:8000/metrics
                        (repeatable). Its series get the labels
                        instance="host:port" and job=-job; a target that fails
                        has its series marked stale until it answers again, and
                        pulse_scrape_up, pulse_scrape_errors_total,
                        pulse_scrape_duration_seconds and pulse_scrape_series
                        say how each target is doing
  -job name             the job label of the scraped series (default "app")
  -interval d           the Hub's tick and scrape interval (default 1s)
  -scrape-timeout d     bound on one scrape (default: the interval)
  -token secret         a token that may push and read every series, sent as
                        "Authorization: Bearer secret" (default $PULSE_TOKEN)
  -tokens file          tokens with the series they may push and read, a JSON
                        file: {"tokens": [{"name": "django", "token": "...",
                        "write": ["django_*"], "read": ["*"]}]}
  -public-read patterns series anyone may read without a token (comma-
                        separated, repeatable). Without tokens everyone reads
                        everything; with tokens, a request without one gets 401
                        unless its series are public
  -allow-origin origins browser origins, other than pulse serve's own, allowed to
                        open the stream and to read the snapshot, the SSE
                        stream and pulse.js (CORS), e.g. http://localhost:8000,
                        *.example.com, or * for any (comma-separated,
                        repeatable). Default: none, same origin only
  -allow-host hosts     the host names the stream may be asked for (its Host
                        header; comma-separated, repeatable, * wildcards), which
                        stops DNS rebinding: a hostile page whose name resolves to
                        this server. Default: localhost,127.0.0.1,::1 when -addr is
                        on loopback, else any host
  -max-series n         the most series the Hub holds (default 100000)
  -max-push-bytes n     the largest push body, in bytes (default 1048576)
  -history n            points kept per series for new clients' charts
                        (default 300; 0 or negative: none)
  -self-metrics         also serve the Hub's own figures as pulse_* series

A browser cannot set headers on a WebSocket or an EventSource: it may pass
its token as ?access_token=... on the stream's URL (which ends up in access
logs: give pages read-only tokens for the series they show, or make those
series public with -public-read), and /dashboard/?access_token=... sets it
as a cookie for the dashboard. SIGINT or SIGTERM shut down gracefully.
`

// parseServe reads the flags of pulse serve.
func parseServe(args []string, stdout, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	var scrape, public, origins, hosts listFlag
	fs := serveFlags(c, &scrape, &public, &origins, &hosts)
	fs.SetOutput(stderr)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, serveHelp)
		return nil, err
	}
	if err != nil {
		return nil, errors.New("") // the flag package has printed why
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: targets are given with -scrape URL", fs.Args())
	}
	c.scrape = scrape
	c.public, c.origins, c.hosts = splitList(public), splitList(origins), splitList(hosts)
	if len(hosts) == 0 && onLoopback(c.addr) {
		c.hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	switch {
	case c.interval < time.Millisecond:
		return nil, fmt.Errorf("-interval %v: at least 1ms", c.interval)
	case c.scrapeTimeout < 0:
		return nil, fmt.Errorf("-scrape-timeout %v: must be positive", c.scrapeTimeout)
	case c.maxSeries <= 0 || c.maxPushBytes <= 0:
		return nil, errors.New("-max-series and -max-push-bytes must be positive")
	case c.history == 0:
		c.history = -1 // pulse.Options: 0 means the default
	}
	if c.scrapeTimeout == 0 {
		c.scrapeTimeout = c.interval
	}
	for _, o := range c.origins {
		if _, err := path.Match(o, ""); err != nil {
			return nil, fmt.Errorf("-allow-origin %q: %w", o, err)
		}
	}
	for _, h := range c.hosts {
		if _, err := path.Match(h, ""); err != nil {
			return nil, fmt.Errorf("-allow-host %q: %w", h, err)
		}
	}
	return c, nil
}

// serveFlags defines the flags of pulse serve (serveHelp documents each).
func serveFlags(c *serveConfig, scrape, public, origins, hosts *listFlag) *flag.FlagSet {
	fs := flag.NewFlagSet("pulse serve", flag.ContinueOnError)
	fs.Usage = func() {}
	fs.StringVar(&c.addr, "addr", "localhost:8080", "")
	fs.Var(scrape, "scrape", "")
	fs.StringVar(&c.job, "job", "app", "")
	fs.DurationVar(&c.interval, "interval", time.Second, "")
	fs.DurationVar(&c.scrapeTimeout, "scrape-timeout", 0, "")
	fs.StringVar(&c.token, "token", os.Getenv("PULSE_TOKEN"), "")
	fs.StringVar(&c.tokensFile, "tokens", "", "")
	fs.Var(public, "public-read", "")
	fs.Var(origins, "allow-origin", "")
	fs.Var(hosts, "allow-host", "")
	fs.IntVar(&c.maxSeries, "max-series", 100000, "")
	fs.Int64Var(&c.maxPushBytes, "max-push-bytes", 1<<20, "")
	fs.IntVar(&c.history, "history", 300, "")
	fs.BoolVar(&c.selfMetrics, "self-metrics", false, "")
	return fs
}

// onLoopback reports whether addr's host is a loopback name or address.
func onLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// splitList splits comma-separated flag values.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// serve runs pulse serve until ctx is cancelled (SIGINT, SIGTERM).
func serve(ctx context.Context, c *serveConfig, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, "pulse serve: "+err.Error())
		return code
	}
	acc, err := newAccess(c.token, c.tokensFile, c.public)
	if err != nil {
		return fail(exitUsage, err)
	}
	hub, err := newServeHub(c, acc, log)
	if err != nil {
		return fail(exitUsage, err)
	}
	defer hub.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	if err := addTargets(hub, c, &http.Client{Transport: tr}, log); err != nil {
		return fail(exitUsage, err)
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fail(exitFailure, fmt.Errorf("listen: %w", err))
	}
	srv := &http.Server{
		Handler:           serveMux(hub, acc, c),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	log.Info("pulse serve: listening", "dashboard", base+"/dashboard/", "stream", base+"/ws/metrics",
		"push", base+pushPath, "targets", len(c.scrape), "tokens", len(acc.grants), "origins", c.origins)

	select {
	case <-ctx.Done():
	case err := <-served:
		return fail(exitFailure, err)
	}
	log.Info("pulse serve: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// The Hub first: http.Server.Shutdown does not track WebSocket
	// connections, and waits for the SSE streams the Hub ends.
	errHub := hub.Shutdown(sctx)
	errSrv := srv.Shutdown(sctx)
	if err := errors.Join(errHub, errSrv); err != nil {
		return fail(exitFailure, fmt.Errorf("shutdown: %w", err))
	}
	return exitOK
}

// newServeHub makes the Hub of pulse serve.
func newServeHub(c *serveConfig, acc *access, log *slog.Logger) (*pulse.Hub, error) {
	opts := pulse.Options{
		Interval:       c.interval,
		MaxSeries:      c.maxSeries,
		History:        c.history,
		OriginPatterns: c.origins,
		AllowedHosts:   c.hosts,
		SelfMetrics:    c.selfMetrics,
		// Scrape failures are logged by the targets, with the target's
		// URL, instance and job: the Hub's own lines about its sources
		// (all of them targets) would say the same again.
		Logger: slog.New(dropRecords{Handler: log.Handler(), msgs: hubSourceLines}),
	}
	if acc.enabled() || len(acc.public) > 0 {
		opts.Authorize = acc.authorize
	}
	return pulse.NewHub(opts)
}

// addTargets registers a source per -scrape URL.
func addTargets(hub *pulse.Hub, c *serveConfig, client *http.Client, log *slog.Logger) error {
	seen := map[string]string{}
	for _, raw := range c.scrape {
		t, err := newTarget(raw, c.job, client, hub, log)
		if err != nil {
			return err
		}
		if other, dup := seen[t.instance]; dup {
			return fmt.Errorf("-scrape %s and %s: both are instance %q: their series would collide", other, raw, t.instance)
		}
		seen[t.instance] = raw
		err = hub.Register(t, pulse.SourceOptions{
			Name:       "scrape " + t.instance,
			Interval:   c.interval,
			Timeout:    c.scrapeTimeout,
			StaleAfter: 1, // a failed scrape: the values are no longer current
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// hubSourceLines are the Hub's log messages about a failing source.
var hubSourceLines = []string{"pulse: source failed", "pulse: source failed (still)", "pulse: source recovered"}

// dropRecords is a slog.Handler that drops the records whose message is
// one of msgs.
type dropRecords struct {
	slog.Handler
	msgs []string
}

func (d dropRecords) Handle(ctx context.Context, r slog.Record) error {
	if slices.Contains(d.msgs, r.Message) {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

func (d dropRecords) WithAttrs(as []slog.Attr) slog.Handler {
	return dropRecords{Handler: d.Handler.WithAttrs(as), msgs: d.msgs}
}

func (d dropRecords) WithGroup(name string) slog.Handler {
	return dropRecords{Handler: d.Handler.WithGroup(name), msgs: d.msgs}
}
