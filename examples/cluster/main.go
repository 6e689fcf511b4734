// Command cluster is a self-contained demo of a cluster-wide view over NATS
// (package github.com/go-pulse/pulse/cluster/nats): three replicas of a
// small service, each with its own Hubs, and one view of all of them on
// whichever replica a dashboard connects to.
//
// One process starts an embedded NATS server (in memory, on a free port)
// and three replicas on three HTTP ports. Each replica has a local Hub,
// where its simulated traffic is counted (requests per page, requests in
// flight, latency, active users per page, uptime), and a public Hub joined
// to the cluster "demo", served at /ws/metrics, with the browser client at
// /pulse.js and a page at / that shows the merged figures (requests per
// second and active users of all replicas, a visitor served by two replicas
// counted once) and each replica's share.
//
//	go run ./examples/cluster
//	go run ./examples/cluster -ports 9001,9002,9003,9004 -interval 500ms
//	go run ./examples/cluster -nats nats://127.0.0.1:4222
//
// Stop it with Ctrl-C: the replicas leave the cluster, their servers and
// Hubs shut down, then the NATS server.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// shutdownTimeout bounds a clean shutdown.
const shutdownTimeout = 5 * time.Second

// metricsPath is where each replica's public Hub is mounted.
const metricsPath = "/ws/metrics"

// clusterName is the cluster the replicas join: they exchange their
// samples on the NATS subject pulse.demo.samples.
const clusterName = "demo"

//go:embed web
var webFS embed.FS

// config is what the flags set.
type config struct {
	host     string        // the replicas listen on host:port
	ports    []int         // one replica per port; 0 picks a free one
	interval time.Duration // the Hubs' tick
	natsURL  string        // a NATS server to use; "" starts one in-process
	natsPort int           // the in-process server's port; -1 picks a free one
	// idleTimeout closes the replicas' idle keep-alive connections; 0
	// means defaultIdleTimeout.
	idleTimeout time.Duration
}

// defaultIdleTimeout is the default of -idle-timeout.
const defaultIdleTimeout = 2 * time.Minute

func main() {
	host := flag.String("host", "localhost", "host the replicas listen on")
	ports := flag.String("ports", "8081,8082,8083", "the replicas' HTTP ports, comma-separated: one replica per port (0 picks a free one)")
	interval := flag.Duration("interval", time.Second, "metrics tick of every Hub")
	natsURL := flag.String("nats", "", "URL of a NATS server to use instead of the embedded one")
	natsPort := flag.Int("nats-port", -1, "port of the embedded NATS server (-1 picks a free one)")
	idleTimeout := flag.Duration("idle-timeout", defaultIdleTimeout, "close keep-alive connections idle this long")
	flag.Parse()

	cfg := config{host: *host, interval: *interval, natsURL: *natsURL, natsPort: *natsPort, idleTimeout: *idleTimeout}
	for _, p := range strings.Split(*ports, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 || n > 65535 {
			fmt.Fprintf(os.Stderr, "pulse cluster demo: bad port %q\n", p)
			os.Exit(2)
		}
		cfg.ports = append(cfg.ports, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, cfg, func(urls []string, natsURL string) {
		fmt.Printf("pulse cluster demo: %d replicas of one service, cluster %q on NATS %s\n", len(urls), clusterName, natsURL)
		for i, u := range urls {
			fmt.Printf("  replica r%d: open %s (merged metrics at %s)\n", i+1, u, "ws"+strings.TrimPrefix(u, "http")+strings.TrimPrefix(metricsPath, "/"))
		}
		fmt.Println("Every page shows the whole cluster. Ctrl-C stops.")
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pulse cluster demo:", err)
		os.Exit(1)
	}
}

// run starts the NATS server (unless cfg.natsURL is set) and the replicas,
// calls ready, if not nil, with the replicas' page URLs and the NATS URL,
// serves until ctx is cancelled, then shuts everything down and returns nil,
// or the first error that stopped it.
func run(ctx context.Context, cfg config, ready func(urls []string, natsURL string)) (err error) {
	if len(cfg.ports) == 0 {
		return errors.New("no replica: give at least one port")
	}
	natsURL := cfg.natsURL
	if natsURL == "" {
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: cfg.natsPort, NoLog: true, NoSigs: true})
		if err != nil {
			return fmt.Errorf("NATS server: %w", err)
		}
		ns.Start()
		defer func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		}()
		if !ns.ReadyForConnections(10 * time.Second) {
			return errors.New("NATS server: not ready after 10s")
		}
		natsURL = ns.ClientURL()
	}

	var replicas []*replica
	failed := make(chan error, len(cfg.ports))
	defer func() {
		// Replicas leave in reverse order; the NATS server stops last.
		shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		var errs []error
		for i := len(replicas) - 1; i >= 0; i-- {
			errs = append(errs, replicas[i].shutdown(shutCtx))
		}
		err = errors.Join(append([]error{err}, errs...)...)
	}()
	for i, port := range cfg.ports {
		r, err := startReplica(i, natsURL, net.JoinHostPort(cfg.host, strconv.Itoa(port)), cfg, failed)
		if err != nil {
			return fmt.Errorf("replica r%d: %w", i+1, err)
		}
		replicas = append(replicas, r)
	}
	if ready != nil {
		urls := make([]string, len(replicas))
		for i, r := range replicas {
			urls[i] = r.url
		}
		ready(urls, natsURL)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

// publicURL is the page URL to print: the host asked for (localhost when it
// was empty or a wildcard) with the port actually bound.
func publicURL(host string, bound net.Addr) string {
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(bound.String())
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// serveFile serves the embedded page.
func servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeFileFS(w, r, webFS, "web/index.html")
}
