package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-pulse/pulse/internal/pattern"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // a runtime error: unreachable server, refused request...
	exitUsage   = 2 // a usage error: bad command, flag, URL, header or pattern
)

const defaultTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `pulse: watch, query and serve live metrics with pulse.

Usage:
  pulse watch URL [flags]   a live table of the series, redrawn on every tick
  pulse get URL [flags]     print the current snapshot once
  pulse serve [flags]       a pulse Hub for an app in any language: scrapes its
                            Prometheus metrics, takes pushed ones, serves them
                            live with the dashboard and pulse.js
  pulse version             the command's version, its pulse library's and Go's
  pulse help                this text

URL is the route where the server mounts its Hub, e.g.
ws://localhost:8080/ws/metrics (ws, wss, http and https are accepted).

Run 'pulse watch -h', 'pulse get -h' or 'pulse serve -h' for the flags.
Exit status: 0 ok, 1 runtime error, 2 usage error.
`

// run is the whole program: it parses args (without the program name),
// runs the command until it ends or ctx is cancelled, and returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	case "version", "-version", "--version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "pulse version: takes no arguments, got %q\n", args[1:])
			return exitUsage
		}
		return version(stdout)
	case "serve":
		c, err := parseServe(args[1:], stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		if err != nil {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(stderr, "pulse serve: "+msg)
			}
			fmt.Fprintln(stderr, "Run 'pulse serve -h' for usage.")
			return exitUsage
		}
		return serve(ctx, c, stderr)
	case "watch", "get":
	default:
		fmt.Fprintf(stderr, "pulse: unknown command %q\n\n%s", args[0], usageText)
		return exitUsage
	}
	cfg, err := parse(args[0], args[1:], stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "pulse "+args[0]+": "+msg)
		}
		fmt.Fprintf(stderr, "Run 'pulse %s -h' for usage.\n", args[0])
		return exitUsage
	}
	// Every request goes through a transport of this run's own, whose idle
	// connections are closed on the way out.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	if cfg.cmd == "get" {
		return get(ctx, cfg, client, stdout, stderr)
	}
	return watch(ctx, cfg, client, stdout, stderr)
}

// config is a parsed command line.
type config struct {
	cmd     string
	url     *url.URL // the Hub's URL, scheme ws/wss for watch and http/https for get, with match applied
	match   []string // -match patterns; nil: the URL's own (or every series)
	header  http.Header
	origin  string
	timeout time.Duration
	output  string // get: json, raw or text
	filter  string // watch: client-side substring filter
	plain   bool   // watch: no escape sequences even on a terminal
}

// where is the URL for messages and the header: without a password, its
// query unescaped (match=http_* rather than match=http_%2A).
func (c *config) where() string {
	u := *c.url
	if q, err := url.QueryUnescape(u.RawQuery); err == nil {
		u.RawQuery = q
	}
	return u.Redacted()
}

// patterns are the match patterns the server is asked for: -match, else
// the URL's; none means every series.
func (c *config) patterns() []string {
	var ps []string
	for _, v := range c.url.Query()["match"] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const flagsText = `
Flags may come before or after the URL:
  -match patterns   series to ask the server for, sent as ?match= (metric names
                    with the wildcards * and ?; comma-separated, repeatable);
                    they replace any match in the URL. Default: every series.
  -H "Name: value"  an HTTP header for every request, e.g.
                    -H "Authorization: Bearer $TOKEN" (repeatable)
  -origin origin    send this Origin header; by default none is sent, and a
                    pulse Hub always accepts a request without one
  -timeout d        %s (default 10s)
`

const watchHelp = `Usage: pulse watch URL [flags]

A live table of the series (key, value, rate of counters, unit, sparkline of
the recent history), redrawn on every update. A metric's series are grouped
under a family line (a histogram's _count, _sum and quantiles too). The
header keeps the status, seq and series count in view at any width.

On a terminal the screen is repainted in place and keys work, as in htop:
  ↑ ↓ or k j        move the selection      PgUp PgDn   a page
  Home End or g G   first, last line        /           filter as you type
                                                        (Enter keeps, Esc clears)
  s                 sort: name, value (largest first), rate (largest first)
  p                 pause the table (the connection goes on), again to resume
  Enter, ← →        fold, unfold the selected family;  c e  fold, unfold all
  q                 quit (Ctrl-C too)
Otherwise (or with -plain) a plain table is printed each time it changes. The
width is $COLUMNS, else the terminal's, else 100. Once connected, watch
reconnects by itself.
` + flagsText + `  -filter text      start with this filter: keys containing text (case-insensitive)
  -plain            plain tables, without escape sequences or keys, even on a terminal
`

const getHelp = `Usage: pulse get URL [flags]

Print the current snapshot, fetched with a plain HTTP GET of the URL (ws:// is
fetched as http://, wss:// as https://).
` + flagsText + `  -o format         json (the server's snapshot, pretty-printed; the default),
                    raw (as the server sent it) or text (lines "key value
                    [rate/s]", sorted by key)
`

// parse reads the flags and the URL of cmd.
func parse(cmd string, args []string, stdout, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("pulse "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr) // for the flag package's own error messages
	fs.Usage = func() {}
	var match, headers listFlag
	fs.Var(&match, "match", "")
	fs.Var(&headers, "H", "")
	origin := fs.String("origin", "", "")
	timeout := fs.Duration("timeout", defaultTimeout, "")
	output := fs.String("o", "json", "")
	filter := fs.String("filter", "", "")
	plain := fs.Bool("plain", false, "")
	help := fmt.Sprintf(watchHelp, "bound on the first connection")
	if cmd == "get" {
		help = fmt.Sprintf(getHelp, "bound on the whole request")
	}

	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, help)
		return nil, err
	}
	if err != nil {
		return nil, errors.New("") // the flag package has printed why
	}
	if err := checkCommandFlags(fs, cmd, pos); err != nil {
		return nil, err
	}
	c := &config{cmd: cmd, origin: *origin, timeout: *timeout, output: *output, filter: *filter, plain: *plain}
	if err := c.checkValues(match); err != nil {
		return nil, err
	}
	if c.header, err = parseHeaders(headers); err != nil {
		return nil, err
	}
	if c.origin != "" {
		if u, err := url.Parse(c.origin); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("-origin %q: want scheme://host, e.g. https://app.example.com", c.origin)
		}
		c.header.Set("Origin", c.origin)
	}
	if c.url, err = parseURL(pos[0], cmd); err != nil {
		return nil, err
	}
	if err := c.setPatterns(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkCommandFlags refuses the flags of the other command (rather than
// ignoring them) and wants exactly one positional argument, the URL.
func checkCommandFlags(fs *flag.FlagSet, cmd string, pos []string) error {
	var wrong []string
	fs.Visit(func(f *flag.Flag) {
		if cmd == "get" && (f.Name == "filter" || f.Name == "plain") || cmd == "watch" && f.Name == "o" {
			wrong = append(wrong, "-"+f.Name)
		}
	})
	if len(wrong) > 0 {
		return fmt.Errorf("%s: not a flag of %s", strings.Join(wrong, ", "), cmd)
	}
	switch len(pos) {
	case 0:
		return errors.New("missing URL, e.g. ws://localhost:8080/ws/metrics")
	case 1:
		return nil
	default:
		return fmt.Errorf("one URL expected, got %d arguments: %q", len(pos), pos)
	}
}

// checkValues checks -timeout and -o, and collects the -match flags (each
// a comma-separated list) into c.match.
func (c *config) checkValues(match []string) error {
	if c.timeout <= 0 {
		return fmt.Errorf("-timeout %v: must be positive", c.timeout)
	}
	switch c.output {
	case "json", "raw", "text":
	default:
		return fmt.Errorf("-o %q: want json, raw or text", c.output)
	}
	for _, m := range match {
		c.match = append(c.match, splitPatterns(m)...)
	}
	if len(match) > 0 && len(c.match) == 0 {
		return errors.New("-match: no pattern given")
	}
	return nil
}

// setPatterns puts -match, if given, into c.url's query in place of the
// URL's own patterns, and checks the patterns the server will get, so that
// a typo is a usage error rather than a 400 from the server.
func (c *config) setPatterns() error {
	q := c.url.Query()
	if len(c.match) > 0 {
		q.Set("match", strings.Join(c.match, ","))
	}
	for _, v := range q["match"] {
		for _, p := range splitPatterns(v) {
			if err := checkPattern(p); err != nil {
				return err
			}
		}
	}
	if len(c.match) > 0 {
		c.url.RawQuery = q.Encode()
	}
	return nil
}

// splitPatterns splits a comma-separated list of patterns, dropping the
// empty ones.
func splitPatterns(list string) []string {
	var ps []string
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			ps = append(ps, p)
		}
	}
	return ps
}

// parseInterspersed parses flags placed before, between and after the
// positional arguments, which it returns. Everything after "--" is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseHeaders reads -H values of the form "Name: value".
func parseHeaders(hs []string) (http.Header, error) {
	h := http.Header{}
	for _, s := range hs {
		name, value, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf(`-H %q: want "Name: value", e.g. -H "Authorization: Bearer $TOKEN"`, s)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

// parseURL checks the Hub's URL and gives it the scheme cmd speaks: ws or
// wss for watch, http or https for get.
func parseURL(raw, cmd string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("URL %q has no scheme: did you mean ws://%s ?", raw, strings.TrimPrefix(raw, "//"))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %v", raw, unwrapURLError(err))
	}
	secure := false
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, fmt.Errorf("URL %q: scheme %q not supported: use ws://, wss://, http:// or https://, e.g. ws://localhost:8080/ws/metrics", raw, u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q has no host, e.g. ws://localhost:8080/ws/metrics", raw)
	}
	switch {
	case cmd == "get" && secure:
		u.Scheme = "https"
	case cmd == "get":
		u.Scheme = "http"
	case secure:
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Fragment = ""
	return u, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkPattern applies the server's rules for a match pattern (the
// grammar of internal/pattern).
func checkPattern(p string) error {
	if err := pattern.Validate(p); err != nil {
		return fmt.Errorf("-match: %w; patterns are metric names with the wildcards * and ?, comma-separated", err)
	}
	return nil
}
