package clusternats_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/go-pulse/pulse"
	clusternats "github.com/go-pulse/pulse/cluster/nats"
	"github.com/go-pulse/pulse/sources/active"
)

// One replica of a service: the application counts on its local Hub, and
// dashboards connect to the public Hub, which shows every replica's
// requests summed (and each replica's share), the slowest replica's
// latency, and the distinct active users of all replicas. Run the same
// code on every replica, with the same Cluster name.
func Example() {
	url := nats.DefaultURL
	requests := pulse.NewCounter("http_requests_total", pulse.WithHelp("Requests served"))
	latency := pulse.NewGauge("http_request_duration_seconds", pulse.WithUnit("seconds"))
	users, err := active.New(active.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()

	local, err := pulse.NewHub(pulse.Options{}) // register the application's sources here; not served
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	public, err := pulse.NewHub(pulse.Options{}) // the merged view; mount it for the dashboards
	if err != nil {
		log.Fatal(err)
	}
	defer public.Close()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1)) // the application's connection and reconnect policy
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close() // after the Cluster
	cl, err := clusternats.Join(nc, local, public, clusternats.Options{
		Cluster: "shop", // subject pulse.shop.samples
		Rules: []clusternats.Rule{
			{Pattern: "http_requests_total", PerNode: true},              // the sum, and each replica's
			{Pattern: "*_duration_seconds", Merge: clusternats.MergeMax}, // the slowest replica
			{Pattern: "process_*", Merge: clusternats.MergePerNode},      // each replica's only
		},
		ActiveUsers: []*active.Tracker{users}, // a visitor of two replicas counts once
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	mux.Handle("/ws/metrics", public)

	for _, src := range []pulse.MetricSource{requests, latency, users} {
		if err := local.Register(src, pulse.SourceOptions{}); err != nil {
			log.Fatal(err)
		}
	}
	mux.Handle("/", users.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Inc()
		w.Write([]byte("hello"))
	})))
	srv := &http.Server{
		Addr:              ":8080",
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go srv.ListenAndServe()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	log.Printf("cluster link: %+v", cl.Stats())
	srv.Shutdown(context.Background())
}
