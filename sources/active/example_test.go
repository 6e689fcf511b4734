package active_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"

	"github.com/axiomhq/hyperloglog"

	"github.com/go-pulse/pulse"
	"github.com/go-pulse/pulse/sources/active"
)

// A site counts its visitors per page and shows them live on the Hub.
func Example() {
	hub, err := pulse.NewHub(pulse.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "home") })
	pages.HandleFunc("GET /about", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "about") })
	mux := http.NewServeMux()
	mux.Handle("/ws/metrics", hub) // not counted: only the pages are behind the middleware

	users, err := active.New(active.Options{
		Label:     "page",
		LabelFunc: func(r *http.Request) string { return r.URL.Path },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := hub.Register(users, pulse.SourceOptions{Name: "active_users"}); err != nil {
		log.Fatal(err)
	}
	mux.Handle("/", users.Middleware(pages)) // visitors: an HttpOnly, SameSite cookie, or Options.IdentifyFunc
	// Serve mux with an http.Server that has timeouts (see the pulse
	// package's Example).
	// The Hub now reports active_users, active_users{page="/"} and
	// active_users{page="/about"}.
}

func ExampleTracker_Seen() {
	users, err := active.New(active.Options{})
	if err != nil {
		log.Fatal(err)
	}
	users.Seen("alice")
	users.Seen("bob")
	users.Seen("alice") // the same visitor again
	fmt.Println(users.Count(), users.Approximate())
	// Output: 2 false
}

func ExampleTracker_SeenOn() {
	users, err := active.New(active.Options{Label: "page", MaxLabelValues: 2})
	if err != nil {
		log.Fatal(err)
	}
	users.SeenOn("alice", "/")
	users.SeenOn("alice", "/pricing")
	users.SeenOn("bob", "/")
	users.SeenOn("carol", "/blog") // both slots are taken: counted under "other"
	total, byPage := users.Counts()
	fmt.Println("total", total)
	pages := make([]string, 0, len(byPage))
	for p := range byPage {
		pages = append(pages, p)
	}
	sort.Strings(pages)
	for _, p := range pages {
		fmt.Println(p, byPage[p])
	}
	// Output:
	// total 3
	// / 2
	// /pricing 1
	// other 1
}

func ExampleTracker_Middleware() {
	users, err := active.New(active.Options{
		// A logged-in user is counted by user ID; others by cookie.
		IdentifyFunc: func(r *http.Request) string { return r.Header.Get("X-User-ID") },
	})
	if err != nil {
		log.Fatal(err)
	}
	site := users.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))

	// A first visit gets a cookie...
	first := httptest.NewRecorder()
	site.ServeHTTP(first, httptest.NewRequest("GET", "/", nil))
	cookie := first.Result().Cookies()[0]
	fmt.Println(cookie.Name, len(cookie.Value), cookie.HttpOnly, cookie.SameSite == http.SameSiteLaxMode)

	// ...which identifies the visitor on the next one.
	next := httptest.NewRequest("GET", "/about", nil)
	next.AddCookie(cookie)
	site.ServeHTTP(httptest.NewRecorder(), next)

	// A logged-in user.
	user := httptest.NewRequest("GET", "/", nil)
	user.Header.Set("X-User-ID", "42")
	site.ServeHTTP(httptest.NewRecorder(), user)

	fmt.Println(users.Count())
	// Output:
	// pulse_visitor 32 true true
	// 2
}

// Replicas of a service each count their own visitors; their sketches merge
// into the count of distinct visitors across all of them.
func ExampleTracker_Sketches() {
	replica1, _ := active.New(active.Options{})
	replica2, _ := active.New(active.Options{})
	replica1.Seen("alice")
	replica1.Seen("bob")
	replica2.Seen("bob") // bob was served by both
	replica2.Seen("carol")

	all, _ := replica1.Sketches()
	s2, _ := replica2.Sketches()
	data, _ := s2.MarshalBinary() // as a replica would send it
	var received hyperloglog.Sketch
	if err := received.UnmarshalBinary(data); err != nil {
		log.Fatal(err)
	}
	if err := all.Merge(&received); err != nil {
		log.Fatal(err)
	}
	fmt.Println(replica1.Count()+replica2.Count(), all.Estimate())
	// Output: 4 3
}
