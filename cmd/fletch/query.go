package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

// queryCmd runs SQL on a running server through its HTTP query API
// (/api/v3/query_sql) and prints the answer. Statements that change schema
// (CREATE [MATERIALIZED] VIEW, ALTER ... SET (retention = ...), DROP ...)
// go the same way.
func queryCmd() *cobra.Command {
	var r remote
	var database, format string
	cmd := &cobra.Command{
		Use:   "query [flags] SQL",
		Short: "Run SQL on a running server (table, csv, json, jsonl or parquet output)",
		Example: `  fletch query --database mydb "SELECT * FROM cpu ORDER BY time DESC LIMIT 5"
  fletch query -d mydb "CREATE MATERIALIZED VIEW cpu_1m WITH (retention = '90d') AS SELECT date_bin(INTERVAL '1 minute', time) AS time, host, avg(usage) AS usage FROM cpu GROUP BY 1, 2"
  fletch query -d mydb "ALTER TABLE cpu SET (retention = '7d')"`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return fmt.Errorf("query needs the SQL to run, as one argument in quotes: fletch query -d mydb \"SELECT count(*) FROM cpu\"")
			case len(args) > 1:
				return fmt.Errorf("query takes the SQL as one argument; %d were given: put the whole statement in quotes", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format = outputFormat(cmd, format)
			body := map[string]any{"db": database, "q": args[0], "format": format}
			if err := r.stream(cmd.Context(), http.MethodPost, "/api/v3/query_sql", nil, body, cmd.OutOrStdout()); err != nil {
				return err
			}
			if format == "json" {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			return nil
		},
	}
	r.addFlags(cmd)
	addDatabaseFlag(cmd, &database)
	addFormatFlag(cmd, &format)
	return cmd
}

// httpError turns a server's error answer into one line: its "error"
// message and the status.
func httpError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
	}
	return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
}
