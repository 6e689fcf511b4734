package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/go-pulse/pulse"
	clusternats "github.com/go-pulse/pulse/cluster/nats"
	"github.com/go-pulse/pulse/sources/active"
)

// pages are the pages of the simulated service.
var pages = []string{"/shop", "/blog", "/about"}

// visitorPool is the number of distinct simulated visitors. Every replica
// draws from the same pool, as a load balancer without sticky sessions
// would spread one visitor over several replicas: the sum of the replicas'
// active users counts such visitors more than once, the merged view once.
const visitorPool = 300

// rules say how the replicas' series merge: requests, requests in flight
// and active users are summed (active users as the union of the replicas'
// visitors) and also kept per replica; the latency is the slowest
// replica's; the uptime is per replica only.
var rules = []clusternats.Rule{
	{Pattern: "http_requests_total", PerNode: true},
	{Pattern: "http_requests_in_flight", PerNode: true},
	{Pattern: "active_users", PerNode: true},
	{Pattern: "http_request_duration_seconds", Merge: clusternats.MergeMax},
	{Pattern: "process_uptime_seconds", Merge: clusternats.MergePerNode},
}

// replica is one replica of the service: its Hubs, its NATS connection,
// its HTTP server and its simulated traffic.
type replica struct {
	node   string
	url    string
	local  *pulse.Hub // the replica's own metrics; not served
	public *pulse.Hub // the cluster's merged view, served at metricsPath
	nc     *nats.Conn
	cl     *clusternats.Cluster
	srv    *http.Server
	served chan error // Serve's result

	requests map[string]*pulse.Counter // per page
	inflight *pulse.Gauge
	latency  *pulse.Gauge
	users    *active.Tracker

	stopTraffic context.CancelFunc
	trafficDone chan struct{}
}

// startReplica starts replica number i (node "r<i+1>") on addr, joined to
// the cluster on the NATS server at natsURL. If its HTTP server fails
// later, the error is sent on failed.
func startReplica(i int, natsURL, addr string, cfg config, failed chan<- error) (_ *replica, err error) {
	r := &replica{node: "r" + strconv.Itoa(i+1), requests: make(map[string]*pulse.Counter)}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = r.shutdown(ctx)
		}
	}()

	if r.local, err = pulse.NewHub(pulse.Options{Interval: cfg.interval, History: -1}); err != nil {
		return nil, err
	}
	if r.public, err = pulse.NewHub(pulse.Options{Interval: cfg.interval}); err != nil {
		return nil, err
	}
	if err := r.register(); err != nil {
		return nil, err
	}

	if err := r.join(natsURL); err != nil {
		return nil, err
	}
	if err := r.serve(addr, cfg, failed); err != nil {
		return nil, err
	}
	r.startTraffic(float64(10 * (i + 1)))
	return r, nil
}

// join connects to the NATS server at natsURL and joins the cluster. The
// application owns the NATS connection and its reconnection policy: retry
// forever, so that the view heals whenever NATS is back.
func (r *replica) join(natsURL string) error {
	var err error
	r.nc, err = nats.Connect(natsURL,
		nats.Name("pulse-demo-"+r.node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
	)
	if err != nil {
		return fmt.Errorf("NATS: %w", err)
	}
	r.cl, err = clusternats.Join(r.nc, r.local, r.public, clusternats.Options{
		Cluster:     clusterName,
		Node:        r.node,
		Rules:       rules,
		ActiveUsers: []*active.Tracker{r.users},
	})
	return err
}

// serve starts the replica's HTTP server on addr: the public Hub, pulse.js,
// the page and /node. If it fails later, the error is sent on failed.
func (r *replica) serve(addr string, cfg config, failed chan<- error) error {
	mux := http.NewServeMux()
	mux.Handle(metricsPath, r.public)
	mux.Handle("GET /pulse.js", pulse.JS())
	mux.HandleFunc("GET /{$}", servePage)
	mux.HandleFunc("GET /node", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, r.node)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	r.url = publicURL(host, ln.Addr())
	// The timeouts net/http does not set by default; they do not cut the
	// Hub's streams (see newServer in examples/server for why).
	idle := cfg.idleTimeout
	if idle == 0 {
		idle = defaultIdleTimeout
	}
	r.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       idle,
	}
	r.served = make(chan error, 1)
	go func() {
		err := r.srv.Serve(ln)
		r.served <- err
		if !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("replica %s: %w", r.node, err)
		}
	}()
	return nil
}

// startTraffic starts the simulated traffic, rps requests a second; shutdown
// stops it.
func (r *replica) startTraffic(rps float64) {
	ctx, cancel := context.WithCancel(context.Background())
	r.stopTraffic = cancel
	r.trafficDone = make(chan struct{})
	go func() {
		defer close(r.trafficDone)
		r.simulate(ctx, rps)
	}()
}

// register creates the replica's metrics on its local Hub.
func (r *replica) register() error {
	for _, p := range pages {
		c := pulse.NewCounter("http_requests_total", pulse.WithLabels(pulse.Labels{"page": p}),
			pulse.WithHelp("Requests served"), pulse.WithUnit("requests"))
		if err := r.local.Register(c, pulse.SourceOptions{}); err != nil {
			return err
		}
		r.requests[p] = c
	}
	r.inflight = pulse.NewGauge("http_requests_in_flight", pulse.WithHelp("Requests being served"), pulse.WithUnit("requests"))
	r.latency = pulse.NewGauge("http_request_duration_seconds", pulse.WithHelp("Latency of the last requests, 90th percentile"), pulse.WithUnit("seconds"))
	started := time.Now()
	uptime := pulse.GaugeFunc("process_uptime_seconds", func() float64 { return time.Since(started).Seconds() },
		pulse.WithHelp("Time since the replica started"), pulse.WithUnit("seconds"))
	for _, s := range []pulse.MetricSource{r.inflight, r.latency, uptime} {
		if err := r.local.Register(s, pulse.SourceOptions{}); err != nil {
			return err
		}
	}
	var err error
	r.users, err = active.New(active.Options{Label: "page", Window: time.Minute})
	if err != nil {
		return err
	}
	return r.local.Register(r.users, pulse.SourceOptions{Name: "active_users"})
}

// simulate sends the replica about rate requests per second from random
// visitors of the shared pool until ctx is done.
func (r *replica) simulate(ctx context.Context, rate float64) {
	step := 20 * time.Millisecond
	t := time.NewTicker(step)
	defer t.Stop()
	due := 0.0
	base := 0.01 + 0.01*rand.Float64() // each replica has its own latency
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Bursts: the rate drifts between half and one and a half times.
		due += rate * step.Seconds() * (0.5 + rand.Float64())
		for ; due >= 1; due-- {
			page := pages[rand.IntN(len(pages))]
			r.users.SeenOn("visitor-"+strconv.Itoa(rand.IntN(visitorPool)), page)
			r.requests[page].Inc()
		}
		r.inflight.Set(float64(rand.IntN(int(rate/5) + 1)))
		r.latency.Set(base * (1 + rand.Float64()))
	}
}

// shutdown stops the traffic, leaves the cluster, stops the HTTP server and
// the Hubs (which close their WebSocket connections) and closes the NATS
// connection. It is safe on a partly started replica.
func (r *replica) shutdown(ctx context.Context) error {
	var errs []error
	if r.stopTraffic != nil {
		r.stopTraffic()
		<-r.trafficDone
	}
	if r.cl != nil {
		errs = append(errs, r.cl.Close())
	}
	if r.public != nil {
		errs = append(errs, r.public.Shutdown(ctx))
	}
	if r.srv != nil {
		if err := r.srv.Shutdown(ctx); err != nil {
			_ = r.srv.Close() // browsers' idle spare connections
		}
		if err := <-r.served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if r.local != nil {
		errs = append(errs, r.local.Shutdown(ctx))
	}
	if r.nc != nil {
		r.nc.Close()
	}
	return errors.Join(errs...)
}
