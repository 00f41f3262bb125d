package query

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Statements that change schema. Fletch owns its catalog, so client DDL is
// not handed to DuckDB as written: the few statements Fletch supports are
// recognized here, applied to the catalog (saved atomically before the call
// returns) and mirrored into DuckDB.
//
//	CREATE [OR REPLACE] VIEW [db.]name AS <SELECT>
//	DROP VIEW [IF EXISTS] [db.]name
//	DROP TABLE [IF EXISTS] [db.]name    (its buffer, Parquet files and schema)
//	CREATE MATERIALIZED VIEW [db.]name AS <SELECT date_bin(...) AS time, ...>
//	DROP MATERIALIZED VIEW [IF EXISTS] [db.]name
//	CREATE DATABASE [IF NOT EXISTS] name [WITH (retention = '30d')]
//	DELETE FROM [db.]table [WHERE <predicate over tags and time>]
//	ALTER {DATABASE|TABLE|MATERIALIZED VIEW} name SET (retention = '7d')
//	CREATE MATERIALIZED VIEW name WITH (retention = '90d') AS ...
//	CREATE SUBSCRIPTION [IF NOT EXISTS] [db.]name FROM KAFKA 'host:port[,...]'
//	    TOPIC 'topic' FORMAT {line_protocol | json} [INTO TABLE t]
//	    [WITH (time_field = 'ts', time_unit = 'ms', tags = 'a,b',
//	           group = 'id', start = 'earliest' | 'latest')]
//	DROP SUBSCRIPTION [IF EXISTS] [db.]name

type ddlKind int

const (
	ddlCreateView ddlKind = iota + 1
	ddlDropView
	ddlDropTable
	ddlCreateMatView
	ddlDropMatView
	ddlAlterDatabase
	ddlAlterTable
	ddlCreateDatabase
	ddlDelete
	ddlCreateSubscription
	ddlDropSubscription
)

// tag names a statement kind as its command tag (PostgreSQL's term): what
// a client is told ran, e.g. "CREATE MATERIALIZED VIEW".
func (k ddlKind) tag() string {
	return map[ddlKind]string{
		ddlCreateView: "CREATE VIEW", ddlDropView: "DROP VIEW", ddlDropTable: "DROP TABLE",
		ddlCreateMatView: "CREATE MATERIALIZED VIEW", ddlDropMatView: "DROP MATERIALIZED VIEW",
		ddlAlterDatabase: "ALTER DATABASE", ddlAlterTable: "ALTER TABLE",
		ddlCreateDatabase: "CREATE DATABASE", ddlDelete: "DELETE",
		ddlCreateSubscription: "CREATE SUBSCRIPTION", ddlDropSubscription: "DROP SUBSCRIPTION",
	}[k]
}

type ddl struct {
	kind     ddlKind
	replace  bool
	ifExists bool
	schema   string // database named in the statement, if any
	name     string
	body     string // the SELECT of CREATE VIEW
	// retention is the period of WITH/SET (retention = '...'), if given.
	retention *time.Duration
	// sub is what CREATE SUBSCRIPTION says (its options in sub's fields).
	sub catalog.Subscription
}

// parseDDL recognizes a statement Fletch applies itself. ok is false for
// anything else (which then goes to DuckDB as a query); err is set for a
// recognized statement that is malformed.
func parseDDL(stmt string) (d ddl, ok bool, err error) {
	s := &scanner{src: stmt}
	switch {
	case s.keyword("CREATE"):
		if s.keyword("OR") {
			if !s.keyword("REPLACE") {
				return d, true, fmt.Errorf("%w: expected REPLACE after CREATE OR", ErrInvalid)
			}
			d.replace = true
		}
		if s.keyword("DATABASE") {
			d.kind = ddlCreateDatabase
			if d.replace {
				return d, true, fmt.Errorf("%w: CREATE OR REPLACE DATABASE is not supported", ErrInvalid)
			}
			if s.keyword("IF") {
				if !s.keyword("NOT") || !s.keyword("EXISTS") {
					return d, true, fmt.Errorf("%w: expected IF NOT EXISTS", ErrInvalid)
				}
				d.ifExists = true
			}
			if err := s.qualifiedName(&d); err != nil {
				return d, true, err
			}
			if d.schema != "" {
				return d, true, fmt.Errorf("%w: a database name has one part", ErrInvalid)
			}
			d.schema = d.name
			if s.keyword("WITH") {
				if err := s.options(&d); err != nil {
					return d, true, err
				}
			}
			s.skip()
			if rest := strings.TrimRight(s.src[s.pos:], "; \t\r\n"); rest != "" {
				return d, true, fmt.Errorf("%w: unexpected %q after CREATE DATABASE %s", ErrInvalid, rest, d.name)
			}
			return d, true, nil
		}
		if s.keyword("SUBSCRIPTION") {
			if d.replace {
				return d, true, fmt.Errorf("%w: CREATE OR REPLACE SUBSCRIPTION is not supported; DROP it first", ErrInvalid)
			}
			d.kind = ddlCreateSubscription
			return d, true, s.subscription(&d)
		}
		d.kind = ddlCreateView
		if s.keyword("MATERIALIZED") {
			if d.replace {
				return d, true, fmt.Errorf("%w: CREATE OR REPLACE MATERIALIZED VIEW is not supported; DROP it first", ErrInvalid)
			}
			d.kind = ddlCreateMatView
		}
		if !s.keyword("VIEW") {
			if d.kind == ddlCreateMatView {
				return d, true, fmt.Errorf("%w: expected VIEW after CREATE MATERIALIZED", ErrInvalid)
			}
			return d, false, nil
		}
		if err := s.qualifiedName(&d); err != nil {
			return d, true, err
		}
		if d.kind == ddlCreateMatView && s.keyword("WITH") {
			if err := s.options(&d); err != nil {
				return d, true, err
			}
		}
		if !s.keyword("AS") {
			return d, true, fmt.Errorf("%w: expected AS after CREATE VIEW %s", ErrInvalid, d.name)
		}
		d.body = strings.TrimRight(strings.TrimSpace(s.src[s.pos:]), "; \t\r\n")
		if d.body == "" {
			return d, true, fmt.Errorf("%w: CREATE VIEW %s has no query", ErrInvalid, d.name)
		}
		return d, true, nil
	case s.keyword("DELETE"):
		if !s.keyword("FROM") {
			return d, true, fmt.Errorf("%w: expected FROM after DELETE", ErrInvalid)
		}
		d.kind = ddlDelete
		if err := s.qualifiedName(&d); err != nil {
			return d, true, err
		}
		s.skip()
		rest := strings.TrimRight(strings.TrimSpace(s.src[s.pos:]), "; \t\r\n")
		switch {
		case rest == "":
			d.body = "true"
		case s.keyword("WHERE"):
			d.body = strings.TrimRight(strings.TrimSpace(s.src[s.pos:]), "; \t\r\n")
			if d.body == "" {
				return d, true, fmt.Errorf("%w: DELETE ... WHERE needs a condition", ErrInvalid)
			}
		default:
			return d, true, fmt.Errorf("%w: unexpected %q after DELETE FROM %s (USING and RETURNING are not supported)", ErrInvalid, clip(rest), d.name)
		}
		return d, true, nil
	case s.keyword("ALTER"):
		switch {
		case s.keyword("DATABASE"):
			d.kind = ddlAlterDatabase
		case s.keyword("TABLE"):
			d.kind = ddlAlterTable
		case s.keyword("MATERIALIZED"):
			if !s.keyword("VIEW") {
				return d, true, fmt.Errorf("%w: expected VIEW after ALTER MATERIALIZED", ErrInvalid)
			}
			d.kind = ddlAlterTable
		default:
			return d, false, nil
		}
		if err := s.qualifiedName(&d); err != nil {
			return d, true, err
		}
		if d.kind == ddlAlterDatabase && d.schema == "" {
			d.schema = d.name
		}
		if !s.keyword("SET") {
			return d, true, fmt.Errorf("%w: expected SET (retention = '...') after ALTER ... %s", ErrInvalid, d.name)
		}
		if err := s.options(&d); err != nil {
			return d, true, err
		}
		if d.retention == nil {
			return d, true, fmt.Errorf("%w: ALTER ... SET needs (retention = '<period>')", ErrInvalid)
		}
		s.skip()
		if rest := strings.TrimRight(s.src[s.pos:], "; \t\r\n"); rest != "" {
			return d, true, fmt.Errorf("%w: unexpected %q after ALTER ... SET (...)", ErrInvalid, rest)
		}
		return d, true, nil
	case s.keyword("DROP"):
		switch {
		case s.keyword("MATERIALIZED"):
			if !s.keyword("VIEW") {
				return d, true, fmt.Errorf("%w: expected VIEW after DROP MATERIALIZED", ErrInvalid)
			}
			d.kind = ddlDropMatView
		case s.keyword("VIEW"):
			d.kind = ddlDropView
		case s.keyword("TABLE"):
			d.kind = ddlDropTable
		case s.keyword("SUBSCRIPTION"):
			d.kind = ddlDropSubscription
		default:
			return d, false, nil
		}
		if s.keyword("IF") {
			if !s.keyword("EXISTS") {
				return d, true, fmt.Errorf("%w: expected EXISTS after DROP ... IF", ErrInvalid)
			}
			d.ifExists = true
		}
		if err := s.qualifiedName(&d); err != nil {
			return d, true, err
		}
		s.skip()
		if rest := strings.TrimRight(s.src[s.pos:], "; \t\r\n"); rest != "" {
			return d, true, fmt.Errorf("%w: unexpected %q after DROP %s", ErrInvalid, rest, d.name)
		}
		return d, true, nil
	}
	return d, false, nil
}

// subscription reads the rest of CREATE SUBSCRIPTION.
func (s *scanner) subscription(d *ddl) error {
	if s.keyword("IF") {
		if !s.keyword("NOT") || !s.keyword("EXISTS") {
			return fmt.Errorf("%w: expected IF NOT EXISTS", ErrInvalid)
		}
		d.ifExists = true
	}
	if err := s.qualifiedName(d); err != nil {
		return err
	}
	sub := &d.sub
	sub.Name = d.name
	if !s.keyword("FROM") || !s.keyword("KAFKA") {
		return fmt.Errorf("%w: expected FROM KAFKA 'host:port' after CREATE SUBSCRIPTION %s", ErrInvalid, d.name)
	}
	s.skip()
	brokers, ok := s.stringLiteral()
	if !ok {
		return fmt.Errorf("%w: FROM KAFKA takes the brokers quoted: 'host:port[,host:port...]'", ErrInvalid)
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			sub.Brokers = append(sub.Brokers, b)
		}
	}
	if len(sub.Brokers) == 0 {
		return fmt.Errorf("%w: FROM KAFKA names no broker", ErrInvalid)
	}
	if !s.keyword("TOPIC") {
		return fmt.Errorf("%w: expected TOPIC 'name' after FROM KAFKA", ErrInvalid)
	}
	s.skip()
	if sub.Topic, ok = s.stringLiteral(); !ok || sub.Topic == "" {
		return fmt.Errorf("%w: TOPIC takes the topic quoted: 'name'", ErrInvalid)
	}
	if !s.keyword("FORMAT") {
		return fmt.Errorf("%w: expected FORMAT line_protocol or FORMAT json after TOPIC", ErrInvalid)
	}
	switch {
	case s.keyword("LINE_PROTOCOL"):
		sub.Format = "line_protocol"
	case s.keyword("JSON"):
		sub.Format = "json"
	default:
		return fmt.Errorf("%w: FORMAT is line_protocol or json", ErrInvalid)
	}
	if s.keyword("INTO") {
		if !s.keyword("TABLE") {
			return fmt.Errorf("%w: expected TABLE after INTO", ErrInvalid)
		}
		var t ddl
		if err := s.qualifiedName(&t); err != nil {
			return err
		}
		if t.schema != "" {
			return fmt.Errorf("%w: INTO TABLE names a table of the subscription's database: no database part", ErrInvalid)
		}
		sub.Table = t.name
	}
	if s.keyword("WITH") {
		if err := s.options(d); err != nil {
			return err
		}
	}
	s.skip()
	if rest := strings.TrimRight(s.src[s.pos:], "; \t\r\n"); rest != "" {
		return fmt.Errorf("%w: unexpected %q after CREATE SUBSCRIPTION %s", ErrInvalid, clip(rest), d.name)
	}
	if sub.Format == "json" && sub.Table == "" {
		return fmt.Errorf("%w: FORMAT json needs INTO TABLE name (line protocol names its tables itself)", ErrInvalid)
	}
	if sub.Format == "line_protocol" && (sub.TimeField != "" || sub.TimeUnit != "" || len(sub.Tags) > 0) {
		return fmt.Errorf("%w: time_field, time_unit and tags map JSON messages; line protocol carries its own", ErrInvalid)
	}
	return nil
}

type scanner struct {
	src string
	pos int
}

// skip passes whitespace and comments.
func (s *scanner) skip() {
	for s.pos < len(s.src) {
		switch {
		case strings.ContainsRune(" \t\r\n", rune(s.src[s.pos])):
			s.pos++
		case strings.HasPrefix(s.src[s.pos:], "--"):
			if i := strings.IndexByte(s.src[s.pos:], '\n'); i >= 0 {
				s.pos += i + 1
			} else {
				s.pos = len(s.src)
			}
		case strings.HasPrefix(s.src[s.pos:], "/*"):
			if i := strings.Index(s.src[s.pos+2:], "*/"); i >= 0 {
				s.pos += i + 4
			} else {
				s.pos = len(s.src)
			}
		default:
			return
		}
	}
}

// keyword consumes kw (case-insensitive, whole word) if it comes next.
func (s *scanner) keyword(kw string) bool {
	s.skip()
	end := s.pos + len(kw)
	if end > len(s.src) || !strings.EqualFold(s.src[s.pos:end], kw) {
		return false
	}
	if end < len(s.src) {
		c := s.src[end]
		if c == '_' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			return false
		}
	}
	s.pos = end
	return true
}

// options reads ( key = 'value' [, ...] ); the one key is retention.
func (s *scanner) options(d *ddl) error {
	s.skip()
	if s.pos >= len(s.src) || s.src[s.pos] != '(' {
		return fmt.Errorf("%w: expected ( retention = '<period>' )", ErrInvalid)
	}
	s.pos++
	for {
		s.skip()
		key, end, ok := scanIdent(s.src, s.pos)
		if !ok {
			return fmt.Errorf("%w: expected an option name at %q", ErrInvalid, clip(s.src[s.pos:]))
		}
		s.pos = end
		s.skip()
		if s.pos >= len(s.src) || s.src[s.pos] != '=' {
			return fmt.Errorf("%w: expected = after option %s", ErrInvalid, key)
		}
		s.pos++
		s.skip()
		val, ok := s.stringLiteral()
		if !ok {
			return fmt.Errorf("%w: option %s takes a quoted value, e.g. '90d'", ErrInvalid, key)
		}
		switch k := strings.ToLower(key); {
		case d.kind == ddlCreateSubscription:
			if err := subscriptionOption(&d.sub, k, val); err != nil {
				return err
			}
		case k == "retention":
			p, err := catalog.ParseRetention(val)
			if err != nil {
				return err
			}
			d.retention = &p
		default:
			return fmt.Errorf("%w: unknown option %q (the one option is retention)", ErrInvalid, key)
		}
		s.skip()
		if s.pos < len(s.src) && s.src[s.pos] == ',' {
			s.pos++
			continue
		}
		if s.pos < len(s.src) && s.src[s.pos] == ')' {
			s.pos++
			return nil
		}
		return fmt.Errorf("%w: expected , or ) in the options", ErrInvalid)
	}
}

// subscriptionOption sets one WITH option of CREATE SUBSCRIPTION.
func subscriptionOption(sub *catalog.Subscription, key, val string) error {
	switch key {
	case "time_field":
		sub.TimeField = val
	case "time_unit":
		switch val {
		case "s", "ms", "us", "ns":
			sub.TimeUnit = val
		default:
			return fmt.Errorf("%w: time_unit is s, ms, us or ns, not %q", ErrInvalid, val)
		}
	case "tags":
		for _, t := range strings.Split(val, ",") {
			if t = strings.TrimSpace(t); t != "" {
				sub.Tags = append(sub.Tags, t)
			}
		}
	case "group":
		sub.Group = val
	case "start":
		if val != "earliest" && val != "latest" {
			return fmt.Errorf("%w: start is 'earliest' or 'latest', not %q", ErrInvalid, val)
		}
		sub.Start = val
	default:
		return fmt.Errorf("%w: unknown subscription option %q (time_field, time_unit, tags, group, start)", ErrInvalid, key)
	}
	return nil
}

// stringLiteral reads a 'quoted' SQL string.
func (s *scanner) stringLiteral() (string, bool) {
	if s.pos >= len(s.src) || s.src[s.pos] != '\'' {
		return "", false
	}
	var b strings.Builder
	for j := s.pos + 1; j < len(s.src); j++ {
		if s.src[j] != '\'' {
			b.WriteByte(s.src[j])
			continue
		}
		if j+1 < len(s.src) && s.src[j+1] == '\'' {
			b.WriteByte('\'')
			j++
			continue
		}
		s.pos = j + 1
		return b.String(), true
	}
	return "", false
}

func (s *scanner) qualifiedName(d *ddl) error {
	var parts []string
	for {
		s.skip()
		name, end, ok := scanIdent(s.src, s.pos)
		if !ok {
			return fmt.Errorf("%w: expected a name at %q", ErrInvalid, clip(s.src[s.pos:]))
		}
		if s.src[s.pos] != '"' {
			name = strings.ToLower(name) // DuckDB folds unquoted names
		}
		parts = append(parts, name)
		s.pos = end
		s.skip()
		if s.pos >= len(s.src) || s.src[s.pos] != '.' {
			break
		}
		s.pos++
	}
	switch len(parts) {
	case 1:
		d.name = parts[0]
	case 2:
		d.schema, d.name = parts[0], parts[1]
	default:
		return fmt.Errorf("%w: name %q has too many parts; use [database.]name", ErrInvalid, strings.Join(parts, "."))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Exec runs a statement that changes schema (see Describe's Update) in
// database db and returns the rows it affected (0 for DDL). Anything else
// is ErrNotAllowed; a statement the engine rejects is ErrInvalid; a view
// or table of a taken name is catalog.ErrExists.
func (q *Engine) Exec(ctx context.Context, db, stmt string) (int64, error) {
	if db == "" {
		db = catalog.DefaultDatabase
	}
	d, ok, err := parseDDL(stmt)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: only DELETE, CREATE [OR REPLACE] VIEW, CREATE MATERIALIZED VIEW, CREATE DATABASE, CREATE SUBSCRIPTION, ALTER ... SET (retention = ...), DROP [MATERIALIZED] VIEW, DROP SUBSCRIPTION and DROP TABLE change data or schema here; send queries as queries", ErrNotAllowed)
	}
	if d.schema != "" {
		db = d.schema
	}
	if err := checkScope(ctx, db); err != nil {
		return 0, err
	}
	switch d.kind {
	case ddlCreateView:
		return 0, q.createView(ctx, db, d)
	case ddlDropView:
		if err := q.st.Catalog().DropView(db, d.name, d.ifExists); err != nil {
			return 0, err
		}
		return 0, q.dropDuckDBView(ctx, db, d.name)
	case ddlDropTable:
		return 0, q.dropTable(ctx, db, d)
	case ddlCreateMatView:
		return 0, q.createMatView(ctx, db, d)
	case ddlDelete:
		return q.deleteRows(ctx, db, d)
	case ddlCreateDatabase:
		if _, err := q.st.Catalog().Tables(db); err == nil {
			if d.ifExists {
				return 0, nil
			}
			return 0, fmt.Errorf("%w: database %q", catalog.ErrExists, db)
		}
		if err := q.st.Catalog().CreateDatabase(db); err != nil {
			return 0, err
		}
		if d.retention != nil {
			if err := q.st.Catalog().SetDatabaseRetention(db, *d.retention); err != nil {
				return 0, err
			}
		}
		return 0, nil
	case ddlAlterDatabase:
		if err := q.st.Catalog().SetDatabaseRetention(db, *d.retention); err != nil {
			return 0, err
		}
		return 0, q.refresh(ctx, db)
	case ddlAlterTable:
		if err := q.st.Catalog().SetTableRetention(db, d.name, *d.retention); err != nil {
			return 0, err
		}
		return 0, q.refresh(ctx, db)
	case ddlDropMatView:
		return 0, q.dropMatView(ctx, db, d)
	case ddlCreateSubscription:
		return 0, q.createSubscription(db, d)
	case ddlDropSubscription:
		err := q.st.Catalog().DropSubscription(db, d.name)
		if d.ifExists && errors.Is(err, catalog.ErrNotFound) {
			return 0, nil
		}
		return 0, err
	}
	return 0, fmt.Errorf("%w: unsupported statement", ErrNotAllowed)
}

// createSubscription records a subscription; ingest/kafka's manager starts
// consuming it within a second.
func (q *Engine) createSubscription(db string, d ddl) error {
	if _, err := q.st.Catalog().Tables(db); err != nil {
		if err := q.st.Catalog().CreateDatabase(db); err != nil {
			return err
		}
	}
	sub := d.sub
	if sub.Group == "" {
		sub.Group = "fletch-" + db + "-" + sub.Name
	}
	if sub.Start == "" {
		sub.Start = "earliest"
	}
	if sub.Format == "json" && sub.TimeUnit == "" {
		sub.TimeUnit = "ms"
	}
	if sub.Format == "json" && sub.TimeField == "" {
		sub.TimeField = "time"
	}
	sub.Created = time.Now().UnixNano()
	err := q.st.Catalog().PutSubscription(db, sub)
	if d.ifExists && errors.Is(err, catalog.ErrExists) {
		return nil
	}
	return err
}

// errUnsupported marks a statement Fletch recognizes but does not offer yet.
var errUnsupported = errors.New("query: not supported")

// ErrUnsupported is errUnsupported, for the server's error mapping.
var ErrUnsupported = errUnsupported

func (q *Engine) createView(ctx context.Context, db string, d ddl) error {
	if _, err := q.st.Catalog().Tables(db); err != nil {
		if err := q.st.Catalog().CreateDatabase(db); err != nil {
			return err
		}
	}
	if err := q.refresh(ctx, db); err != nil {
		return err
	}
	for _, t := range mustTables(q.st.Catalog(), db) {
		if strings.EqualFold(t, d.name) {
			return fmt.Errorf("%w: %q is a table in database %q", catalog.ErrExists, t, db)
		}
	}
	if !d.replace {
		for _, v := range q.st.Catalog().Views(db) {
			if v.Name == d.name {
				return fmt.Errorf("%w: view %q in database %q (use CREATE OR REPLACE VIEW)", catalog.ErrExists, v.Name, db)
			}
		}
	}
	// Bind the body in DuckDB first: a view that can't run is refused
	// before it reaches the catalog.
	if err := q.installView(ctx, db, catalog.View{Name: d.name, SQL: d.body}); err != nil {
		return err
	}
	if err := q.st.Catalog().PutView(db, catalog.View{Name: d.name, SQL: d.body}, true); err != nil {
		q.dropDuckDBView(ctx, db, d.name)
		return err
	}
	return nil
}

func mustTables(cat *catalog.Catalog, db string) []string {
	ts, _ := cat.Tables(db)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

// installView creates or replaces a user view in DuckDB, checking that its
// body is one SELECT. Unqualified names in it resolve in db.
func (q *Engine) installView(ctx context.Context, db string, v catalog.View) error {
	conn, err := q.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c := dc.(driver.Conn)
		ex := c.(driver.ExecerContext)
		if err := useDatabase(ctx, c, db); err != nil {
			return err
		}
		if err := q.checkClientSQL(ctx, c, db, v.SQL); err != nil {
			return err
		}
		// The catalog keeps the SQL as written; DuckDB gets it rewritten.
		body, err := rewriteQuery(ctx, c, v.SQL)
		if err != nil {
			return err
		}
		body, _ = castNow(ctx, c, body, false)
		if err := checkStatement(c, body); err != nil {
			return err
		}
		stmt := "CREATE OR REPLACE VIEW " + storage.QuoteIdent(db) + "." + storage.QuoteIdent(v.Name) + " AS " + body
		// As execView, on this connection (its database is db).
		_, err = ex.ExecContext(ctx, stmt, nil)
		q.viewEpoch.Add(1)
		if err != nil {
			return classify(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.userViews[viewKey{db, v.Name}] = v.SQL
	q.mu.Unlock()
	return nil
}

func (q *Engine) dropDuckDBView(ctx context.Context, db, name string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.userViews, viewKey{db, name})
	return q.execView(ctx, "DROP VIEW IF EXISTS "+storage.QuoteIdent(db)+"."+storage.QuoteIdent(name))
}

func (q *Engine) dropMatView(ctx context.Context, db string, d ddl) error {
	var names []string
	for _, mv := range q.st.Catalog().MatViews(db) {
		names = append(names, mv.Name)
	}
	name, ok := resolveName(d.name, names)
	if !ok {
		if d.ifExists {
			return nil
		}
		return fmt.Errorf("%w: materialized view %q in database %q", ErrNotFound, d.name, db)
	}
	if readers := q.readersOf(db, name); len(readers) > 0 {
		return fmt.Errorf("%w: materialized views %v read %q; drop them first", ErrInvalid, readers, name)
	}
	q.mv.refreshMu.Lock()
	defer q.mv.refreshMu.Unlock()
	q.mv.mu.Lock()
	q.dropPartialLocked(q.mv.m[viewKey{db, name}])
	delete(q.mv.m, viewKey{db, name})
	q.mv.mu.Unlock()
	if err := q.st.Catalog().DropMatView(db, name); err != nil {
		return err
	}
	if _, err := q.st.Catalog().Table(db, name); err == nil {
		if err := q.st.DropTable(ctx, db, name); err != nil {
			return err
		}
	}
	return q.refresh(ctx, db)
}

// readersOf names the materialized views reading db.name.
func (q *Engine) readersOf(db, name string) []string {
	var out []string
	for _, mv := range q.st.Catalog().MatViews(db) {
		if mv.Source == name {
			out = append(out, mv.Name)
		}
	}
	return out
}

func (q *Engine) dropTable(ctx context.Context, db string, d ddl) error {
	if _, ok := q.st.Catalog().MatView(db, d.name); ok {
		return fmt.Errorf("%w: %q is a materialized view; use DROP MATERIALIZED VIEW", ErrInvalid, d.name)
	}
	if readers := q.readersOf(db, d.name); len(readers) > 0 {
		return fmt.Errorf("%w: materialized views %v read %q; drop them first", ErrInvalid, readers, d.name)
	}
	names := mustTables(q.st.Catalog(), db)
	name, ok := resolveName(d.name, names)
	if !ok {
		if d.ifExists {
			return nil
		}
		return fmt.Errorf("%w: table %q in database %q", ErrNotFound, d.name, db)
	}
	if err := q.st.DropTable(ctx, db, name); err != nil {
		if d.ifExists && errors.Is(err, catalog.ErrNotFound) {
			return nil
		}
		return err
	}
	return q.refresh(ctx, db)
}
