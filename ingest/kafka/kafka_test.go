package kafka

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fletchdb/fletch/query"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

const topic = "sensors"

type node struct {
	st  *storage.Engine
	q   *query.Engine
	mgr *Manager
}

func startNode(t *testing.T, dir string) *node {
	t.Helper()
	st, err := storage.Open(storage.DefaultOptions(dir))
	require.NoError(t, err)
	q, err := query.New(st)
	require.NoError(t, err)
	mgr := Start(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	q.SetSubscriptionStatus(mgr.Statuses)
	return &node{st: st, q: q, mgr: mgr}
}

func (n *node) stop(t *testing.T) {
	n.mgr.Close()
	n.q.Close()
	require.NoError(t, n.st.Close())
}

func (n *node) rows(t *testing.T, sql string) []string {
	t.Helper()
	res, err := n.q.Query(context.Background(), "db", sql)
	if err != nil {
		return nil // the table may not exist yet
	}
	defer res.Release()
	var out []string
	for res.Next() {
		rec := res.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var cells []string
			for j := 0; j < int(rec.NumCols()); j++ {
				cells = append(cells, strings.Clone(rec.Column(j).ValueStr(i))) // not the batch's memory, freed by Release
			}
			out = append(out, strings.Join(cells, "|"))
		}
	}
	require.NoError(t, res.Err())
	return out
}

func produce(t *testing.T, cl *kgo.Client, values ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(v)}
	}
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
}

func cluster(t *testing.T) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, topic))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return c, cl
}

func subscribe(t *testing.T, st *storage.Engine, brokers []string, s catalog.Subscription) {
	t.Helper()
	require.NoError(t, st.Catalog().CreateDatabase("db"))
	s.Brokers, s.Topic, s.Group, s.Start, s.Created = brokers, topic, "g-"+s.Name, "earliest", time.Now().UnixNano()
	require.NoError(t, st.Catalog().PutSubscription("db", s))
}

func waitRows(t *testing.T, n *node, sql, want string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got := n.rows(t, sql)
		return len(got) == 1 && got[0] == want
	}, 30*time.Second, 50*time.Millisecond, "%s never gave %s (last: %v)", sql, want, n.rows(t, sql))
}

// Line protocol messages written without timestamps (so a message stored
// twice would be two rows) arrive exactly once across restarts of the
// server while producing goes on; bad lines go to dead_letters with their
// offsets.
func TestSubscription_LineProtocol_ExactlyOnceAcrossRestarts(t *testing.T) {
	c, prod := cluster(t)
	dir := t.TempDir()
	n := startNode(t, dir)
	subscribe(t, n.st, c.ListenAddrs(), catalog.Subscription{Name: "s", Format: "line_protocol"})

	const rounds, per = 5, 400
	bad := 0
	for r := range rounds {
		var vals []string
		for i := range per {
			id := r*per + i
			if id%97 == 0 {
				vals = append(vals, fmt.Sprintf("m,id=%d v=oops", id)) // not a value
				bad++
				continue
			}
			vals = append(vals, fmt.Sprintf("m,id=%d v=%di", id, id))
		}
		produce(t, prod, vals...)
		if r%2 == 1 {
			n.stop(t)
			n = startNode(t, dir)
		}
	}
	good := rounds*per - bad
	waitRows(t, n, "SELECT count(*), count(DISTINCT id), sum(v) FROM m",
		fmt.Sprintf("%d|%d|%d", good, good, sumGood(rounds*per)))
	waitRows(t, n, "SELECT count(*), count(DISTINCT \"offset\"::VARCHAR || '/' || \"partition\"::VARCHAR), min(reason LIKE '%field value has unrecognized type%' AND message LIKE 'm,id=% v=oops') FROM dead_letters",
		fmt.Sprintf("%d|%d|true", bad, bad))
	st := n.rows(t, "SELECT state, partitions, lag, messages > 0, dead_letters >= 0, last_error IS NULL FROM system.subscriptions")
	require.Equal(t, []string{"running|6|0|true|true|true"}, st)
	n.stop(t)

	// After a clean restart with nothing new, nothing is read twice.
	n = startNode(t, dir)
	defer n.stop(t)
	time.Sleep(2 * time.Second)
	waitRows(t, n, "SELECT count(*), count(DISTINCT id) FROM m", fmt.Sprintf("%d|%d", good, good))
}

func sumGood(total int) int {
	s := 0
	for id := range total {
		if id%97 != 0 {
			s += id
		}
	}
	return s
}

// JSON messages map by the subscription's options; what cannot be mapped
// is a dead letter, and the subscription goes on.
func TestSubscription_JSON(t *testing.T) {
	c, prod := cluster(t)
	n := startNode(t, t.TempDir())
	defer n.stop(t)
	subscribe(t, n.st, c.ListenAddrs(), catalog.Subscription{
		Name: "j", Format: "json", Table: "readings", TimeField: "ts", TimeUnit: "ms", Tags: []string{"sensor", "site"},
	})
	produce(t, prod,
		`{"ts": 1767225600000, "sensor": "a", "site": 1, "temp": 21.5, "ok": true, "note": "fine", "nested": {"x": 1}}`,
		`{"ts": "2026-01-01T00:00:01.5Z", "sensor": "a", "site": 1, "temp": 22}`,
		`{"ts": 1767225602000, "sensor": "b", "temp": -3}`,
		`not json`,
		`{"ts": 1767225603000, "sensor": "c"}`,
		`{"ts": "yesterday", "temp": 1}`,
	)
	waitRows(t, n, "SELECT count(*) FROM readings", "3")
	require.Equal(t, []string{
		"a|1|21.5|true|fine|2026-01-01T00:00:00Z",
		"a|1|22|(null)|(null)|2026-01-01T00:00:01.5Z",
		"b|(null)|-3|(null)|(null)|2026-01-01T00:00:02Z",
	}, n.rows(t, "SELECT sensor, site, temp, ok, note, time FROM readings ORDER BY time"))
	waitRows(t, n, "SELECT count(*) FROM dead_letters", "3")
	require.Equal(t, []string{
		"j|sensors|no field",
		"j|sensors|not a JSON object",
		"j|sensors|ts: time \"yesterday\" is not RFC 3339",
	}, n.rows(t, "SELECT subscription, topic, split_part(reason, ':', 1) || CASE WHEN reason LIKE 'ts:%' THEN ':' || split_part(reason, ':', 2) ELSE '' END FROM dead_letters ORDER BY 3"))
}

// A dropped subscription stops, and one created again with the same name
// starts over rather than resuming the old offsets.
func TestSubscription_DropAndRecreate(t *testing.T) {
	c, prod := cluster(t)
	n := startNode(t, t.TempDir())
	defer n.stop(t)
	subscribe(t, n.st, c.ListenAddrs(), catalog.Subscription{Name: "s", Format: "line_protocol"})
	produce(t, prod, "m,id=1 v=1i", "m,id=2 v=2i")
	waitRows(t, n, "SELECT count(*) FROM m", "2")
	_, err := n.q.Exec(context.Background(), "db", "DROP SUBSCRIPTION s")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(n.mgr.Statuses()) == 0 }, 10*time.Second, 50*time.Millisecond)
	produce(t, prod, "m,id=3 v=3i")
	time.Sleep(1500 * time.Millisecond)
	require.Equal(t, []string{"2"}, n.rows(t, "SELECT count(*) FROM m"))

	_, err = n.q.Exec(context.Background(), "db", fmt.Sprintf(
		"CREATE SUBSCRIPTION s FROM KAFKA '%s' TOPIC '%s' FORMAT line_protocol WITH (group = 'other')",
		strings.Join(c.ListenAddrs(), ","), topic))
	require.NoError(t, err)
	// From the earliest offset again: ids 1 and 2 a second time, and 3.
	waitRows(t, n, "SELECT count(*), count(DISTINCT id) FROM m", "5|3")
}

func TestBody_RecordOfLine(t *testing.T) {
	var b body
	r0, r1, r2 := &kgo.Record{Offset: 0}, &kgo.Record{Offset: 1}, &kgo.Record{Offset: 2}
	b.add(r0, []byte("a\nb"))   // lines 1-2
	b.add(r1, []byte("c\n"))    // line 3
	b.add(r2, []byte("d\ne\n")) // lines 4-5
	require.Equal(t, "a\nb\nc\nd\ne\n", string(b.lp))
	for line, want := range map[int]*kgo.Record{1: r0, 2: r0, 3: r1, 4: r2, 5: r2} {
		require.Same(t, want, b.recordOfLine(line), "line %d", line)
	}
}

// A line naming a materialized view, or dead_letters itself, is a dead
// letter; the other lines of the same message are stored.
func TestSubscription_RefusesViewsAndDeadLetters(t *testing.T) {
	c, prod := cluster(t)
	n := startNode(t, t.TempDir())
	defer n.stop(t)
	subscribe(t, n.st, c.ListenAddrs(), catalog.Subscription{Name: "s", Format: "line_protocol"})
	produce(t, prod, "m,id=1 v=1i 1767225600000000000")
	waitRows(t, n, "SELECT count(*) FROM m", "1")
	_, err := n.q.Exec(context.Background(), "db",
		"CREATE MATERIALIZED VIEW mv AS SELECT date_bin(INTERVAL '1 minute', time) AS time, id, max(v) AS v FROM m GROUP BY 1, 2")
	require.NoError(t, err)
	produce(t, prod,
		"mv,id=1 v=5i 1767225600000000000\nm,id=2 v=2i 1767225601000000000",
		"dead_letters,subscription=x reason=\"forged\" 1767225600000000000",
		`m\,x,id=3 v=3i 1767225602000000000`) // an escape takes the careful path, and is stored
	waitRows(t, n, "SELECT count(*) FROM dead_letters", "2")
	require.Equal(t, []string{
		`table "dead_letters" is not writable by a subscription|dead_letters,subscription=x reason="forged" 1767225600000000000`,
		`table "mv" is not writable by a subscription|mv,id=1 v=5i 1767225600000000000`,
	}, n.rows(t, "SELECT reason, message FROM dead_letters ORDER BY reason"))
	waitRows(t, n, "SELECT count(*), sum(v) FROM m", "2|3")
	waitRows(t, n, `SELECT count(*) FROM "m,x"`, "1")
}
