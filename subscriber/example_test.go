package subscriber_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/go-pulse/pulse/subscriber"
)

// Follow a Hub's request rate from another Go program. (This example needs
// a running Hub, so it is compiled but not run.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := subscriber.Dial(ctx, "ws://localhost:8080/ws/metrics", subscriber.Options{
		Patterns:   []string{"http_*"},
		HTTPHeader: http.Header{"Authorization": {"Bearer " + "token"}},
	})
	switch {
	case errors.Is(err, subscriber.ErrUnauthorized), errors.Is(err, subscriber.ErrForbidden):
		log.Fatal("not allowed: ", err) // retrying will not help
	case err != nil:
		log.Fatal(err) // e.g. no server within 10 s
	}
	defer sub.Close()

	// Updates never holds the Subscriber up: a slow reader sees the latest
	// change. It is closed by Close.
	for u := range sub.Updates() {
		if u.Type == subscriber.UpdateDisconnected {
			fmt.Println("reconnecting...")
			continue
		}
		if s, ok := sub.Value("http_requests_total"); ok && s.HasRate {
			fmt.Printf("seq %d: %.1f requests/s\n", u.Seq, s.Rate)
		}
	}
}

// Print a Hub's request rate as it changes. (It needs a running Hub, so it
// is compiled but not run.)
func ExampleDial() {
	ctx := context.Background()

	sub, err := subscriber.Dial(ctx, "ws://localhost:8080/ws/metrics?match=http_*", subscriber.Options{}) // reconnects by itself
	if err != nil {
		log.Fatal(err) // errors.Is(err, subscriber.ErrUnauthorized), ErrForbidden, ErrBadRequest
	}
	defer sub.Close()
	for range sub.Updates() { // latest update wins: a slow reader never holds the connection up
		if s, ok := sub.Value("http_requests_total"); ok && s.HasRate {
			fmt.Printf("%.0f total, %.1f/s\n", s.Value, s.Rate)
		}
	}
}

// Change the subscription on the fly; the change survives reconnections.
func ExampleSubscriber_Subscribe() {
	sub, err := subscriber.Dial(context.Background(), "ws://localhost:8080/ws/metrics?match=http_*", subscriber.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.Subscribe(ctx, "go_*"); err != nil { // returns once the view has the go_* series
		log.Fatal(err)
	}
	for key, s := range sub.Values() {
		fmt.Println(key, s.Value, s.Unit)
	}
	for _, p := range sub.History("go_goroutines") { // backfilled from the server's history
		fmt.Println(p.Time.Format(time.TimeOnly), p.Value)
	}
}
