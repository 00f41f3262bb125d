package server

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/query"
)

// Held results. A Flight SQL query is two RPCs: GetFlightInfo, which must
// answer with the result's schema, then DoGet with the ticket it gave. So
// that the statement is planned and executed once, GetFlightInfo runs it
// and holds the result under a random 128-bit id carried in the ticket;
// DoGet takes the result and streams it. A held result is bound to the
// token that ran it (DoGet by another token is refused) and kept at most
// DefaultResultHoldTTL; past that, or when more than heldMax wait, it is
// released and a DoGet with its ticket runs the statement again under the
// caller's own credentials. While held, a result keeps its DuckDB
// connection and its rows (DuckDB materializes a result in its own memory,
// within its memory limit) but not its query slot: --max-concurrent-queries
// bounds running queries, heldMax results waiting to be read.

// DefaultResultHoldTTL is how long a result waits for its DoGet. Clients
// call DoGet right after GetFlightInfo (ADBC, JDBC, Grafana, pyarrow
// within milliseconds); a longer wait is a client that went away.
const DefaultResultHoldTTL = 30 * time.Second

// heldMax bounds results waiting for their DoGet; the oldest is released
// first. Four times the default query slots: each client usually has one.
const heldMax = 64

var heldReleased = metrics.NewCounter("fletch_held_results_released_total",
	"Query results released unread: their DoGet came after the hold expired, or never.")

type heldResult struct {
	res     *query.Result
	tokenID string
	timer   *time.Timer
	seq     uint64
}

// heldResults holds query results between GetFlightInfo and DoGet.
type heldResults struct {
	mu  sync.Mutex
	m   map[string]*heldResult
	ttl time.Duration
	seq uint64
}

func newHeldResults(ttl time.Duration) *heldResults {
	if ttl <= 0 {
		ttl = DefaultResultHoldTTL
	}
	return &heldResults{m: map[string]*heldResult{}, ttl: ttl}
}

// hold keeps res for tokenID and returns its id. The store now owns res:
// it is released on expiry, on eviction, or by the caller of take.
func (h *heldResults) hold(res *query.Result, tokenID string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	res.Hold()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) >= heldMax {
		h.evictOldestLocked()
	}
	h.seq++
	e := &heldResult{res: res, tokenID: tokenID, seq: h.seq}
	e.timer = time.AfterFunc(h.ttl, func() { h.expire(id, e) })
	h.m[id] = e
	return id, nil
}

// take removes and returns the result held under id, if it is still held
// and was run by tokenID. ok is false when the id is unknown (expired,
// evicted, never held); owner is false when another token holds it.
func (h *heldResults) take(id, tokenID string) (res *query.Result, ok, owner bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, found := h.m[id]
	if !found {
		return nil, false, true
	}
	if e.tokenID != tokenID {
		return nil, false, false
	}
	delete(h.m, id)
	e.timer.Stop()
	return e.res, true, true
}

// release releases the result held under id for tokenID, if it is still
// held: one its client will not read.
func (h *heldResults) release(id, tokenID string) {
	if res, ok, _ := h.take(id, tokenID); ok {
		res.Release()
	}
}

func (h *heldResults) expire(id string, e *heldResult) {
	h.mu.Lock()
	cur, ok := h.m[id]
	if ok && cur == e {
		delete(h.m, id)
	}
	h.mu.Unlock()
	if ok && cur == e {
		e.res.Release()
		heldReleased.Inc()
	}
}

func (h *heldResults) evictOldestLocked() {
	var oldest string
	var min uint64
	for id, e := range h.m {
		if oldest == "" || e.seq < min {
			oldest, min = id, e.seq
		}
	}
	if e := h.m[oldest]; e != nil {
		delete(h.m, oldest)
		e.timer.Stop()
		go e.res.Release()
		heldReleased.Inc()
	}
}

// close releases every held result.
func (h *heldResults) close() {
	h.mu.Lock()
	m := h.m
	h.m = map[string]*heldResult{}
	h.mu.Unlock()
	for _, e := range m {
		e.timer.Stop()
		e.res.Release()
	}
}
