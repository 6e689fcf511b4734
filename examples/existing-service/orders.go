package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-pulse/pulse"
)

// dbPool stands for the service's database connection pool: a *sql.DB in a
// real service, whose DB.Stats gives the same figures. Every query holds a
// connection for its duration; at most max are open, and idle ones are kept.
type dbPool struct {
	slots   chan struct{}
	inUse   atomic.Int64
	open    atomic.Int64
	queries *pulse.Counter // db_queries_total
	waits   *pulse.Counter // db_pool_waits_total
}

func newDBPool(maxOpen int) *dbPool {
	return &dbPool{
		slots: make(chan struct{}, maxOpen),
		queries: pulse.NewCounter("db_queries_total",
			pulse.WithHelp("Queries sent to the database"), pulse.WithUnit("queries")),
		waits: pulse.NewCounter("db_pool_waits_total",
			pulse.WithHelp("Queries that waited for a free connection"), pulse.WithUnit("waits")),
	}
}

// acquire takes a connection, waiting for one while ctx allows, and returns
// the function that gives it back.
func (p *dbPool) acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
	default:
		p.waits.Inc()
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	n := p.inUse.Add(1)
	for {
		if o := p.open.Load(); n <= o || p.open.CompareAndSwap(o, n) {
			break
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			p.inUse.Add(-1)
			<-p.slots
		})
	}, nil
}

// query runs fn as one database query: it holds a connection for a
// simulated round trip of 1–4 ms, then calls fn.
func (p *dbPool) query(ctx context.Context, fn func()) error {
	release, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	p.queries.Inc()
	t := time.NewTimer(time.Millisecond + rand.N(3*time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	fn()
	return nil
}

// Order statuses.
const (
	statusPlaced    = "placed"
	statusShipped   = "shipped"
	statusDelivered = "delivered"
)

var orderStatuses = []string{statusPlaced, statusShipped, statusDelivered}

type order struct {
	ID       int       `json:"id"`
	Item     string    `json:"item"`
	Quantity int       `json:"quantity"`
	Status   string    `json:"status"`
	PlacedBy string    `json:"placed_by"`
	PlacedAt time.Time `json:"placed_at"`
}

// orderStore is the service's orders table, behind the database pool.
type orderStore struct {
	pool   *dbPool
	placed *pulse.Counter // orders_placed_total

	mu     sync.Mutex
	orders []order
}

func newOrderStore(pool *dbPool) *orderStore {
	now := time.Now().UTC().Truncate(time.Second)
	return &orderStore{
		pool: pool,
		placed: pulse.NewCounter("orders_placed_total",
			pulse.WithHelp("Orders placed through the API"), pulse.WithUnit("orders")),
		orders: []order{
			{ID: 1, Item: "hand-knitted mug", Quantity: 1, Status: statusDelivered, PlacedBy: "admin", PlacedAt: now.Add(-72 * time.Hour)},
			{ID: 2, Item: "fine socks", Quantity: 3, Status: statusShipped, PlacedBy: "viewer", PlacedAt: now.Add(-26 * time.Hour)},
			{ID: 3, Item: "rubber duck", Quantity: 2, Status: statusPlaced, PlacedBy: "viewer", PlacedAt: now.Add(-2 * time.Hour)},
		},
	}
}

// countByStatus is the orders_by_status source: SELECT status, count(*)
// FROM orders GROUP BY status, once per tick, through the same pool as the
// API (so the Hub's collection shows in db_queries_total too).
func (s *orderStore) countByStatus(ctx context.Context) ([]pulse.Metric, error) {
	counts := make(map[string]int, len(orderStatuses))
	err := s.pool.query(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, o := range s.orders {
			counts[o.Status]++
		}
	})
	if err != nil {
		return nil, err
	}
	ms := make([]pulse.Metric, 0, len(orderStatuses))
	for _, st := range orderStatuses {
		ms = append(ms, pulse.Metric{
			Name:   "orders_by_status",
			Labels: pulse.Labels{"status": st},
			Value:  float64(counts[st]),
			Unit:   "orders",
			Help:   "Orders in the store, by status",
		})
	}
	return ms, nil
}

// list is GET /api/orders.
func (s *orderStore) list(w http.ResponseWriter, r *http.Request) {
	var out []order
	err := s.pool.query(r.Context(), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		out = append([]order(nil), s.orders...)
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string][]order{"orders": out})
}

// get is GET /api/orders/{id}.
func (s *orderStore) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad order id"})
		return
	}
	var (
		found order
		ok    bool
	)
	err = s.pool.query(r.Context(), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, o := range s.orders {
			if o.ID == id {
				found, ok = o, true
				return
			}
		}
	})
	switch {
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
	case !ok:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such order"})
	default:
		writeJSON(w, http.StatusOK, found)
	}
}

// newOrder is the body of POST /api/orders.
type newOrder struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

// create is POST /api/orders. It takes JSON only: a cross-site form cannot
// send that without a CORS preflight, which this service never grants.
func (s *orderStore) create(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send application/json"})
		return
	}
	var in newOrder
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON: " + err.Error()})
		return
	}
	if n := utf8.RuneCountInString(in.Item); n == 0 || n > 100 || !utf8.ValidString(in.Item) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "item: 1 to 100 characters"})
		return
	}
	if in.Quantity < 1 || in.Quantity > 1000 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "quantity: 1 to 1000"})
		return
	}
	o := order{
		Item:     in.Item,
		Quantity: in.Quantity,
		Status:   statusPlaced,
		PlacedBy: userFrom(r.Context()).Name,
		PlacedAt: time.Now().UTC().Truncate(time.Second),
	}
	err := s.pool.query(r.Context(), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		o.ID = len(s.orders) + 1
		s.orders = append(s.orders, o)
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	s.placed.Inc()
	w.Header().Set("Location", "/api/orders/"+strconv.Itoa(o.ID))
	writeJSON(w, http.StatusCreated, o)
}
