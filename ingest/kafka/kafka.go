// Package kafka runs subscriptions: each reads a Kafka topic (franz-go, a
// consumer group) into a database, exactly once. The rows of a poll and
// the offsets they reach go into one WAL record (storage.WriteSubscribed),
// and a partition's consumption starts from the offsets storage holds, so
// after a crash nothing stored is read again and nothing unstored is
// skipped. Offsets are also committed to the group afterwards, for Kafka's
// own lag tools; Fletch never reads them back while it has its own.
//
// Messages are line protocol (one or more lines each) or JSON objects
// (catalog.Subscription says how keys map). A line or message that cannot
// be stored goes to the database's dead_letters table with the reason and
// its partition and offset; the subscription keeps running. When the
// buffer is full the poll's write is retried, and nothing more is fetched,
// until it succeeds: nothing is dropped.
package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fletchdb/fletch/ingest/lineprotocol"
	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/query"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// PollRecords is the most messages one poll (and so one WAL record) takes.
const PollRecords = 10_000

// Manager starts and stops a runner per subscription in the catalog,
// checking it every second.
type Manager struct {
	st   *storage.Engine
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	runners map[string]*runner // by subscription key
}

// Start forgets the offsets of subscriptions that no longer exist (dropped
// before a crash) and starts the catalog's subscriptions. Close stops them.
func Start(st *storage.Engine, log *slog.Logger) *Manager {
	m := &Manager{st: st, log: log, stop: make(chan struct{}), done: make(chan struct{}), runners: map[string]*runner{}}
	live := map[string]bool{}
	for _, s := range st.Catalog().Subscriptions() {
		live[s.Key(s.DB)] = true
	}
	for _, k := range st.SubscriptionKeys() {
		if !live[k] {
			st.ForgetSubscription(k)
		}
	}
	m.reconcile()
	go m.loop()
	return m
}

func (m *Manager) loop() {
	defer close(m.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.reconcile()
		}
	}
}

// reconcile starts new subscriptions and stops dropped ones.
func (m *Manager) reconcile() {
	want := map[string]catalog.DBSubscription{}
	for _, s := range m.st.Catalog().Subscriptions() {
		want[s.Key(s.DB)] = s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, r := range m.runners {
		if _, ok := want[key]; !ok {
			r.close()
			delete(m.runners, key)
			m.st.ForgetSubscription(key)
			m.log.Info("subscription stopped", "database", r.db, "subscription", r.sub.Name)
		}
	}
	for key, s := range want {
		if m.runners[key] == nil {
			m.runners[key] = startRunner(m.st, m.log, s.DB, s.Subscription)
			m.log.Info("subscription started", "database", s.DB, "subscription", s.Name, "topic", s.Topic,
				"brokers", strings.Join(s.Brokers, ","), "format", s.Format)
		}
	}
}

// Close stops every runner (a poll being written finishes first).
func (m *Manager) Close() {
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, r := range m.runners {
		r.close()
		delete(m.runners, key)
	}
}

// Status is one subscription's state: a row of system.subscriptions.
// State is "starting", "running" or "retrying" (LastError says why);
// Partitions is how many partitions this server reads, Lag the messages
// behind their high watermarks (-1 before the first fetch); Messages, Rows
// and DeadLetters count since the server started; Rate is messages/s over
// the last 10 s.
type Status = query.SubscriptionStatus

// Statuses returns every running subscription's status, by database and
// name.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	rs := make([]*runner, 0, len(m.runners))
	for _, r := range m.runners {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.status())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Database != out[j].Database {
			return out[i].Database < out[j].Database
		}
		return out[i].Name < out[j].Name
	})
	return out
}

type runner struct {
	st     *storage.Engine
	log    *slog.Logger
	db     string
	sub    catalog.Subscription
	key    string
	cancel context.CancelFunc
	done   chan struct{}

	messages, rows, dead atomic.Int64

	mu       sync.Mutex
	state    string
	lastErr  string
	lastMsg  time.Time
	next     storage.Offsets // next offset to store per partition
	hwm      map[int32]int64 // high watermarks seen in fetches
	assigned map[int32]bool
	samples  []sample // for Rate
}

type sample struct {
	at       time.Time
	messages int64
}

func startRunner(st *storage.Engine, log *slog.Logger, db string, sub catalog.Subscription) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{
		st: st, log: log.With("database", db, "subscription", sub.Name), db: db, sub: sub, key: sub.Key(db),
		cancel: cancel, done: make(chan struct{}), state: "starting",
		next: st.SubscriptionOffsets(sub.Key(db)), hwm: map[int32]int64{}, assigned: map[int32]bool{},
	}
	if r.next == nil {
		r.next = storage.Offsets{}
	}
	go r.run(ctx)
	return r
}

func (r *runner) close() {
	r.cancel()
	<-r.done
}

func (r *runner) run(ctx context.Context) {
	defer close(r.done)
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := r.consume(ctx)
		if errors.Is(err, errDropped) {
			<-ctx.Done() // the manager stops this runner within a second
		}
		if ctx.Err() != nil {
			return
		}
		r.setErr(err)
		r.log.Warn("subscription retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (r *runner) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.state, r.lastErr = "running", ""
		return
	}
	r.state, r.lastErr = "retrying", err.Error()
}

// consume reads the topic until ctx ends or the client fails.
func (r *runner) consume(ctx context.Context) error {
	start := kgo.NewOffset().AtStart()
	if r.sub.Start == "latest" {
		start = kgo.NewOffset().AtEnd()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(r.sub.Brokers...),
		kgo.ConsumerGroup(r.sub.Group),
		// A static member: after a crash the restarted server takes its
		// partitions back at once instead of waiting out the dead member's
		// session.
		kgo.InstanceID(r.instanceID()),
		kgo.SessionTimeout(10*time.Second),
		kgo.ConsumeTopics(r.sub.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(start),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.AdjustFetchOffsetsFn(r.adjust),
		kgo.OnPartitionsRevoked(r.unassign),
		kgo.OnPartitionsLost(r.unassign),
	)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	// A poll ends with AllowRebalance; leaving the group (Close) waits for it.
	defer func() {
		cl.AllowRebalance()
		cl.Close()
	}()
	ends, stopEnds := context.WithCancel(ctx)
	defer stopEnds()
	go r.watchEnds(ends, kadm.NewClient(cl))
	for {
		fetches := cl.PollRecords(ctx, PollRecords)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fetches.IsClientClosed() {
			return errors.New("kafka client closed")
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				fetchErr = fmt.Errorf("fetch %s[%d]: %w", topic, p, err)
			}
		})
		r.mu.Lock()
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.HighWatermark > r.hwm[p.Partition] {
				r.hwm[p.Partition] = p.HighWatermark
			}
		})
		r.mu.Unlock()
		recs := fetches.Records()
		if len(recs) > 0 {
			if err := r.store(ctx, recs); err != nil {
				return err // ctx ended, or the subscription was dropped
			}
			cl.MarkCommitRecords(recs...)
			if err := cl.CommitMarkedOffsets(ctx); err != nil && ctx.Err() == nil {
				r.log.Debug("commit offsets to the group", "err", err)
			}
		}
		cl.AllowRebalance()
		if fetchErr != nil {
			r.setErr(fetchErr)
		} else if len(recs) > 0 || r.currentState() == "starting" {
			r.setErr(nil)
		}
	}
}

// errDropped stops a runner whose subscription left the catalog.
var errDropped = errors.New("kafka: subscription dropped")

// live reports whether the catalog still has this subscription.
func (r *runner) live() bool {
	for _, s := range r.st.Catalog().Subscriptions() {
		if s.DB == r.db && s.Name == r.sub.Name && s.Created == r.sub.Created {
			return true
		}
	}
	return false
}

func (r *runner) currentState() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// watchEnds reads the topic's end offsets every 2 s, so the lag stays
// known while nothing arrives (a poll returns only with messages).
func (r *runner) watchEnds(ctx context.Context, adm *kadm.Client) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if ends, err := adm.ListEndOffsets(ctx, r.sub.Topic); err == nil {
			r.mu.Lock()
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil && o.Offset > r.hwm[o.Partition] {
					r.hwm[o.Partition] = o.Offset
				}
			})
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// instanceID is the group's static member id for this server and
// subscription: the host name and the subscription's key.
func (r *runner) instanceID() string {
	host, _ := os.Hostname()
	return "fletch-" + host + "-" + r.key
}

// adjust starts each assigned partition where storage says the next
// message to store is; partitions with nothing stored start from the
// group's committed offset, or Start.
func (r *runner) adjust(_ context.Context, m map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == "starting" {
		r.state = "running"
	}
	for p := range m[r.sub.Topic] {
		r.assigned[p] = true
		if next, ok := r.next[p]; ok {
			m[r.sub.Topic][p] = kgo.NewOffset().At(next).WithEpoch(-1)
		}
	}
	return m, nil
}

func (r *runner) unassign(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range m[r.sub.Topic] {
		delete(r.assigned, p)
	}
}

// store writes one poll's messages with the offsets they reach, retrying
// until it succeeds or ctx ends. Messages below a partition's stored
// offset (already stored) are skipped.
func (r *runner) store(ctx context.Context, all []*kgo.Record) error {
	r.mu.Lock()
	recs := all[:0:0]
	offsets := storage.Offsets{}
	for _, rec := range all {
		if next, ok := r.next[rec.Partition]; ok && rec.Offset < next {
			continue
		}
		recs = append(recs, rec)
		if rec.Offset+1 > offsets[rec.Partition] {
			offsets[rec.Partition] = rec.Offset + 1
		}
	}
	r.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	batches, rows, dead := r.convert(recs)
	defer func() {
		for _, b := range batches {
			b.Record.Release()
		}
	}()
	wait := 100 * time.Millisecond
	for {
		// A subscription dropped meanwhile (or its database) stores nothing
		// more: a write would create the database again.
		if !r.live() {
			return errDropped
		}
		err := r.st.WriteSubscribed(ctx, r.db, r.key, batches, offsets)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.setErr(fmt.Errorf("write: %w", err))
		r.log.Warn("subscription write failed; retrying the same messages", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
	r.messages.Add(int64(len(recs)))
	r.rows.Add(rows)
	r.dead.Add(int64(dead))
	metrics.RowsWritten.WithLabelValues("kafka").Add(float64(rows))
	now := time.Now()
	r.mu.Lock()
	for p, o := range offsets {
		r.next[p] = o
	}
	r.lastMsg = now
	r.samples = append(r.samples, sample{now, r.messages.Load()})
	for len(r.samples) > 1 && now.Sub(r.samples[0].at) > 10*time.Second {
		r.samples = r.samples[1:]
	}
	r.mu.Unlock()
	return nil
}

// convert parses a poll's messages into table batches (the caller releases
// them): rows stored, and dead letters for what could not be.
func (r *runner) convert(recs []*kgo.Record) (batches []storage.TableBatch, rows int64, dead int) {
	cat := r.st.Catalog()
	forbidden := [][]byte{[]byte(DeadLetterTable)}
	for _, v := range cat.MatViews(r.db) {
		forbidden = append(forbidden, []byte(v.Name))
	}
	var letters []deadLetter
	var b body
	for _, rec := range recs {
		switch r.sub.Format {
		case "json":
			line, err := jsonLine(r.sub, rec.Value, rec.Timestamp)
			if err != nil {
				letters = append(letters, deadLetter{rec.Partition, rec.Offset, err.Error(), rec.Value})
				continue
			}
			b.add(rec, line)
		default:
			if !mayName(rec.Value, forbidden) {
				b.add(rec, rec.Value) // the common case: nothing to check line by line
				continue
			}
			var keep [][]byte
			for _, line := range bytes.Split(rec.Value, []byte{'\n'}) {
				if t := measurement(bytes.TrimLeft(line, " \t")); t != "" && !strings.HasPrefix(t, "#") {
					if _, ok := cat.MatView(r.db, t); ok || t == DeadLetterTable {
						letters = append(letters, deadLetter{rec.Partition, rec.Offset,
							fmt.Sprintf("table %q is not writable by a subscription", t), line})
						continue
					}
				}
				keep = append(keep, line)
			}
			b.add(rec, bytes.Join(keep, []byte{'\n'}))
		}
	}
	lookup := func(table, column string) (catalog.ColumnType, bool) { return cat.ColumnType(r.db, table, column) }
	if len(b.lp) > 0 {
		res, err := lineprotocol.Parse(b.lp, lineprotocol.Options{
			Precision: lineprotocol.PrecisionNanosecond, Now: time.Now(), Lookup: lookup,
		})
		if err != nil {
			// The body as a whole was refused (too large): every message.
			for _, rec := range b.recs {
				letters = append(letters, deadLetter{rec.Partition, rec.Offset, err.Error(), rec.Value})
			}
		} else {
			for _, le := range res.Errors {
				rec := b.recordOfLine(le.Line)
				letters = append(letters, deadLetter{rec.Partition, rec.Offset, le.Message, []byte(le.Original)})
			}
			for _, tb := range res.Batches {
				batches = append(batches, storage.TableBatch{Table: tb.Table, Record: tb.Record})
				rows += tb.Record.NumRows()
			}
		}
	}
	if len(letters) > 0 {
		res, err := lineprotocol.Parse(deadLetterLines(r.sub, letters, time.Now()), lineprotocol.Options{
			Precision: lineprotocol.PrecisionNanosecond, Lookup: lookup,
		})
		switch {
		case err != nil:
			r.log.Error("dead letters not stored", "count", len(letters), "err", err)
		case len(res.Errors) > 0:
			r.log.Error("dead letters not stored", "count", len(res.Errors), "err", res.Errors[0].Message)
		}
		if err == nil {
			for _, tb := range res.Batches {
				batches = append(batches, storage.TableBatch{Table: tb.Table, Record: tb.Record})
			}
		}
		r.log.Debug("messages to dead letters", "count", len(letters), "first", letters[0].reason)
	}
	return batches, rows, len(letters)
}

// mayName reports whether line protocol might name one of the tables: it
// holds one of their names, or an escape that could spell one.
func mayName(lp []byte, tables [][]byte) bool {
	if bytes.IndexByte(lp, '\\') >= 0 {
		return true
	}
	for _, t := range tables {
		if bytes.Contains(lp, t) {
			return true
		}
	}
	return false
}

func (r *runner) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Status{
		Database: r.db, Name: r.sub.Name, Topic: r.sub.Topic, Format: r.sub.Format, Table: r.sub.Table,
		Brokers: strings.Join(r.sub.Brokers, ","), State: r.state, Partitions: len(r.assigned), Lag: -1,
		Messages: r.messages.Load(), Rows: r.rows.Load(), DeadLetters: r.dead.Load(),
		LastError: r.lastErr, LastMessage: r.lastMsg,
	}
	if len(r.hwm) > 0 {
		s.Lag = 0
		for p, h := range r.hwm {
			if !r.assigned[p] {
				continue
			}
			if next, ok := r.next[p]; ok && h > next {
				s.Lag += h - next
			} else if !ok {
				s.Lag += h
			}
		}
	}
	if n := len(r.samples); n > 1 {
		first, last := r.samples[0], r.samples[n-1]
		if d := last.at.Sub(first.at).Seconds(); d > 0 {
			s.Rate = float64(last.messages-first.messages) / d
		}
	}
	return s
}
