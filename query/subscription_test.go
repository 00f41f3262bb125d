package query

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

func TestParseDDL_Subscription(t *testing.T) {
	d, ok, err := parseDDL(`CREATE SUBSCRIPTION IF NOT EXISTS db.s FROM KAFKA 'k1:9092, k2:9092' TOPIC 'sen''sors'
		FORMAT json INTO TABLE Readings WITH (time_field = 'ts', time_unit = 's', tags = 'a, b', group = 'g', start = 'latest');`)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ddlCreateSubscription, d.kind)
	require.True(t, d.ifExists)
	require.Equal(t, "db", d.schema)
	require.Equal(t, catalog.Subscription{
		Name: "s", Brokers: []string{"k1:9092", "k2:9092"}, Topic: "sen'sors", Format: "json", Table: "readings",
		TimeField: "ts", TimeUnit: "s", Tags: []string{"a", "b"}, Group: "g", Start: "latest",
	}, d.sub)

	d, ok, err = parseDDL(`drop subscription if exists s`)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ddlDropSubscription, d.kind)
	require.True(t, d.ifExists)

	for stmt, want := range map[string]string{
		`CREATE SUBSCRIPTION s FROM KAFKA '' TOPIC 't' FORMAT json INTO TABLE x`:                         "names no broker",
		`CREATE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 't' FORMAT json`:                                   "needs INTO TABLE",
		`CREATE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 't' FORMAT csv`:                                    "line_protocol or json",
		`CREATE SUBSCRIPTION s FROM KAFKA 'k:1' FORMAT json`:                                             "expected TOPIC",
		`CREATE SUBSCRIPTION s TOPIC 't'`:                                                                "expected FROM KAFKA",
		`CREATE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 't' FORMAT line_protocol WITH (x='1')`:             "unknown subscription option",
		`CREATE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 't' FORMAT line_protocol WITH (tags='a')`:          "map JSON messages",
		`CREATE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 't' FORMAT json INTO TABLE x WITH (time_unit='h')`: "time_unit is s, ms, us or ns",
		`CREATE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 't' FORMAT line_protocol extra`:                    "unexpected",
		`CREATE OR REPLACE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 't' FORMAT line_protocol`:               "not supported",
	} {
		_, ok, err := parseDDL(stmt)
		require.True(t, ok, stmt)
		require.ErrorIs(t, err, ErrInvalid, stmt)
		require.ErrorContains(t, err, want, stmt)
	}
}

// Subscriptions are created and dropped with SQL, need admin rights like
// other DDL, and show in system.subscriptions (stopped when nothing runs
// them).
func TestSubscription_CreateDropAndSystemTable(t *testing.T) {
	q := newEngine(t)
	ctx := context.Background()
	st, err := q.Classify(`CREATE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 't' FORMAT line_protocol`)
	require.NoError(t, err)
	require.True(t, st.Update)
	require.False(t, st.DataOnly)
	require.Equal(t, "CREATE SUBSCRIPTION", st.Tag)

	_, err = q.Exec(ctx, "", `CREATE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 't' FORMAT line_protocol`)
	require.NoError(t, err)
	_, err = q.Exec(ctx, "", `CREATE SUBSCRIPTION s FROM KAFKA 'k:1' TOPIC 'u' FORMAT line_protocol`)
	require.ErrorIs(t, err, catalog.ErrExists)
	_, err = q.Exec(ctx, "", `CREATE SUBSCRIPTION IF NOT EXISTS s FROM KAFKA 'k:1' TOPIC 'u' FORMAT line_protocol`)
	require.NoError(t, err)
	require.Equal(t, []string{"default|s|t|line_protocol|(null)|k:1|stopped|(null)"},
		table(t, q, "SELECT database, name, topic, format, table_name, brokers, state, lag FROM system.subscriptions"))
	subs := q.st.Catalog().Subscriptions()
	require.Len(t, subs, 1)
	require.Equal(t, "fletch-default-s", subs[0].Group)
	require.Equal(t, "earliest", subs[0].Start)

	_, err = q.Exec(ctx, "", `DROP SUBSCRIPTION s`)
	require.NoError(t, err)
	_, err = q.Exec(ctx, "", `DROP SUBSCRIPTION s`)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = q.Exec(ctx, "", `DROP SUBSCRIPTION IF EXISTS s`)
	require.NoError(t, err)
	require.Empty(t, table(t, q, "SELECT * FROM system.subscriptions"))
}
