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
	local, err := pulse.NewHub(pulse.Options{}) // the application's sources; not served
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	public, err := pulse.NewHub(pulse.Options{}) // the merged view; served
	if err != nil {
		log.Fatal(err)
	}
	defer public.Close()

	requests := pulse.NewCounter("http_requests_total", pulse.Help("Requests served"))
	latency := pulse.NewGauge("http_request_duration_seconds", pulse.Unit("seconds"))
	users, err := active.New(active.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, src := range []pulse.MetricSource{requests, latency, users} {
		if err := local.Register(src, nil); err != nil {
			log.Fatal(err)
		}
	}

	// The NATS connection is the application's: it chooses how to
	// reconnect, and closes it after the Cluster.
	nc, err := nats.Connect(nats.DefaultURL, nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

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

	mux := http.NewServeMux()
	mux.Handle("/ws/metrics", public)
	mux.Handle("/", users.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Inc()
		w.Write([]byte("hello"))
	})))
	srv := &http.Server{Addr: ":8080", Handler: mux}
	go srv.ListenAndServe()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	log.Printf("cluster link: %+v", cl.Stats())
	srv.Shutdown(context.Background())
}
