package query

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Query limits. A client query (everything Query runs but a materialized
// view's refresh) first takes one of Limits.MaxConcurrent slots, waiting up
// to Limits.QueueTimeout for one, and then runs under a context that ends
// after Limits.Timeout. DuckDB checks for interruption while it runs (the
// driver calls duckdb_interrupt when the context ends), so a query whose
// client went away (its HTTP request or gRPC stream context is cancelled)
// or whose time is up stops and frees its slot. The slot is held until the
// Result is released: DuckDB's result stays in memory until then.

var (
	// ErrTimeout marks a query stopped by Limits.Timeout.
	ErrTimeout = errors.New("query: timed out")
	// ErrBusy marks a query refused because MaxConcurrent queries ran for
	// all of QueueTimeout.
	ErrBusy = errors.New("query: too many queries running")
	// ErrOutOfMemory marks a query DuckDB stopped because its memory
	// limit (--query-memory-bytes, shared with writes, persists and the hot
	// tier) was full. Nothing else failed; retry, or raise the limit.
	ErrOutOfMemory = errors.New("query: out of memory")
	// ErrCanceled marks a query stopped because its client went away (or
	// its client's own deadline passed).
	ErrCanceled = errors.New("query: canceled")
)

// Limits bound client queries.
type Limits struct {
	// Timeout stops a query that runs longer, including the time its
	// result takes to stream. Zero means no limit. The default is 5 minutes.
	Timeout time.Duration
	// MaxConcurrent is how many queries run at once. Zero means no cap. The
	// default is 16: DuckDB already spreads one query over every core, so
	// more at once mostly adds memory.
	MaxConcurrent int
	// QueueTimeout is how long a query waits for a slot before ErrBusy.
	// Zero means it is refused at once when every slot is taken. The
	// default is 10 seconds (the wait of a write under back-pressure).
	QueueTimeout time.Duration
}

// DefaultLimits returns the defaults documented on Limits.
func DefaultLimits() Limits {
	return Limits{Timeout: 5 * time.Minute, MaxConcurrent: 16, QueueTimeout: 10 * time.Second}
}

// Validate rejects negative values.
func (l Limits) Validate() error {
	switch {
	case l.Timeout < 0:
		return fmt.Errorf("query: timeout %s is negative", l.Timeout)
	case l.MaxConcurrent < 0:
		return fmt.Errorf("query: max concurrent queries %d is negative", l.MaxConcurrent)
	case l.QueueTimeout < 0:
		return fmt.Errorf("query: queue timeout %s is negative", l.QueueTimeout)
	}
	return nil
}

// SetLimits sets the limits of queries started afterwards. Call it before
// serving; the Engine starts with no limits.
func (q *Engine) SetLimits(l Limits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	q.limits = l
	q.slots = nil
	if l.MaxConcurrent > 0 {
		q.slots = make(chan struct{}, l.MaxConcurrent)
	}
	return nil
}

// errTimeoutCause is the cause of a context ended by Limits.Timeout, to
// tell it from a client's own deadline.
var errTimeoutCause = errors.New("query timeout")

// admit takes a slot and returns the context the query runs under, the
// function that ends it and frees the slot, and one that only frees the
// slot (for a result held after it ran; see Result.Hold). Both are safe
// to call more than once.
func (q *Engine) admit(ctx context.Context) (context.Context, func(), func(), error) {
	if q.slots != nil {
		select {
		case q.slots <- struct{}{}:
		default:
			timer := time.NewTimer(q.limits.QueueTimeout)
			select {
			case q.slots <- struct{}{}:
				timer.Stop()
			case <-timer.C:
				return nil, nil, nil, fmt.Errorf("%w: the server runs at most %d queries at once and none finished within %s; retry later",
					ErrBusy, q.limits.MaxConcurrent, q.limits.QueueTimeout)
			case <-ctx.Done():
				timer.Stop()
				return nil, nil, nil, fmt.Errorf("%w while waiting for a query slot: %w", ErrCanceled, ctx.Err())
			}
		}
	}
	cancel := context.CancelFunc(func() {})
	if q.limits.Timeout > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, q.limits.Timeout, errTimeoutCause)
	}
	var once sync.Once
	free := func() {
		once.Do(func() {
			if q.slots != nil {
				<-q.slots
			}
		})
	}
	return ctx, func() { cancel(); free() }, free, nil
}

// ctxErr returns the error for a query whose context ended, or nil if it
// hasn't: ErrTimeout when Limits.Timeout ended it, else ErrCanceled.
func (q *Engine) ctxErr(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errTimeoutCause) {
		return fmt.Errorf("%w: the query ran longer than the server's query timeout (%s) and was stopped; narrow it (a shorter time range, fewer series) or ask the operator for a longer query timeout",
			ErrTimeout, q.limits.Timeout)
	}
	return fmt.Errorf("%w: %w", ErrCanceled, context.Cause(ctx))
}
