package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// The influxdb3-style management commands: fletch create|delete|show
// database|table|view|token. All but the token commands call a running
// server (see remote); token commands edit the data dir's token file.

func createCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "create", Short: "Create a database, table, view or token"}
	cmd.AddCommand(createDatabaseCmd(), createTableCmd(), createViewCmd(), tokenAliasCmd(tokenCreateCmd, "token"))
	return cmd
}

func deleteCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "delete", Short: "Delete a database, table, view or token"}
	cmd.AddCommand(deleteDatabaseCmd(), deleteTableCmd(), deleteViewCmd(), tokenAliasCmd(tokenDeleteCmd, "token ID"))
	return cmd
}

func showCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "show", Short: "List databases, tables, views or tokens"}
	cmd.AddCommand(showDatabasesCmd(), showTablesCmd(), showViewsCmd(), tokenAliasCmd(tokenListCmd, "tokens"))
	return cmd
}

// tokenAliasCmd is a `fletch token` subcommand under another name, with
// its own --data-dir flag.
func tokenAliasCmd(mk func(*string) *cobra.Command, use string) *cobra.Command {
	dataDir := new(string)
	cmd := mk(dataDir)
	cmd.Use = use
	cmd.Flags().StringVar(dataDir, "data-dir", envOr("FLETCH_DATA_DIR", "./fletch-data"), "data directory of the server (env FLETCH_DATA_DIR)")
	return cmd
}

func createDatabaseCmd() *cobra.Command {
	var r remote
	var retention string
	cmd := &cobra.Command{
		Use:     "database NAME",
		Short:   "Create a database (POST /api/v3/configure/database)",
		Example: "  fletch create database metrics --retention-period 30d",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"db": args[0]}
			if retention != "" {
				body["retention_period"] = retention
			}
			if _, err := r.call(cmd.Context(), http.MethodPost, "/api/v3/configure/database", nil, body); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Database %q created\n", args[0])
			return nil
		},
	}
	r.addFlags(cmd)
	cmd.Flags().StringVar(&retention, "retention-period", "", "how long rows stay, e.g. 30d, 12h, 2w (default: forever)")
	return cmd
}

func deleteDatabaseCmd() *cobra.Command {
	var r remote
	var yes bool
	cmd := &cobra.Command{
		Use:   "database NAME",
		Short: "Delete a database: its tables, rows, files and views, at once (asks first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm(cmd, fmt.Sprintf("Delete database %q with every table, row and view in it?", args[0]), yes); err != nil {
				return err
			}
			if _, err := r.call(cmd.Context(), http.MethodDelete, "/api/v3/configure/database", url.Values{"db": {args[0]}}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Database %q deleted\n", args[0])
			return nil
		},
	}
	r.addFlags(cmd)
	addYesFlags(cmd, &yes)
	return cmd
}

func showDatabasesCmd() *cobra.Command {
	var r remote
	var format string
	cmd := &cobra.Command{
		Use:   "databases",
		Short: "List the databases the token may read, with their retention",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format = outputFormat(cmd, format)
			b, err := r.call(cmd.Context(), http.MethodGet, "/api/v3/configure/database", url.Values{"format": {format}}, nil)
			if err != nil {
				return err
			}
			return writeOutput(cmd, format, renameDatabaseColumn(format, b))
		},
	}
	r.addFlags(cmd)
	addFormatFlag(cmd, &format)
	return cmd
}

// renameDatabaseColumn calls the API's "iox::database" column (InfluxDB 3's
// name, kept for its clients) "database" in what the CLI prints; a Parquet
// answer keeps the API's name.
func renameDatabaseColumn(format string, b []byte) []byte {
	const api = "iox::database"
	switch format {
	case "json", "jsonl":
		return bytes.ReplaceAll(b, []byte(`"`+api+`":`), []byte(`"database":`))
	case "csv":
		return bytes.Replace(b, []byte(api), []byte("database"), 1)
	case "pretty": // keep the table's column width
		return bytes.Replace(b, []byte(api), []byte(fmt.Sprintf("%-*s", len(api), "database")), 1)
	}
	return b
}

// parseFieldSpecs reads --fields name:type[,name:type...].
func parseFieldSpecs(specs []string) ([]map[string]string, error) {
	var out []map[string]string
	for _, s := range specs {
		name, typ, ok := strings.Cut(s, ":")
		if !ok || name == "" || typ == "" {
			return nil, fmt.Errorf("--fields %q: write name:type, type one of utf8, int64, uint64, float64, bool", s)
		}
		out = append(out, map[string]string{"name": name, "type": typ})
	}
	return out, nil
}

func createTableCmd() *cobra.Command {
	var r remote
	var database string
	var tags, fields []string
	cmd := &cobra.Command{
		Use:     "table NAME",
		Short:   "Create an empty table with tag and field columns (POST /api/v3/configure/table)",
		Example: "  fletch create table cpu --database metrics --tags host,region --fields usage:float64,count:int64",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, err := parseFieldSpecs(fields)
			if err != nil {
				return err
			}
			if tags == nil {
				tags = []string{}
			}
			if fs == nil {
				fs = []map[string]string{}
			}
			body := map[string]any{"db": database, "table": args[0], "tags": tags, "fields": fs}
			if _, err := r.call(cmd.Context(), http.MethodPost, "/api/v3/configure/table", nil, body); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Table %q created in database %q\n", args[0], database)
			return nil
		},
	}
	r.addFlags(cmd)
	addDatabaseFlag(cmd, &database)
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tag columns, comma-separated")
	cmd.Flags().StringSliceVar(&fields, "fields", nil, "field columns as name:type, comma-separated (utf8, int64, uint64, float64, bool)")
	return cmd
}

func addDatabaseFlag(cmd *cobra.Command, database *string) {
	cmd.Flags().StringVarP(database, "database", "d", envOr("FLETCH_DATABASE", ""), "database (env FLETCH_DATABASE) (required)")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if *database == "" {
			return fmt.Errorf("--database is required (or set FLETCH_DATABASE)")
		}
		return nil
	}
}

func deleteTableCmd() *cobra.Command {
	var r remote
	var database string
	var yes bool
	cmd := &cobra.Command{
		Use:   "table NAME",
		Short: "Delete a table: its rows, files and schema (asks first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm(cmd, fmt.Sprintf("Delete table %q of database %q with all its rows?", args[0], database), yes); err != nil {
				return err
			}
			q := url.Values{"db": {database}, "table": {args[0]}}
			if _, err := r.call(cmd.Context(), http.MethodDelete, "/api/v3/configure/table", q, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Table %q deleted from database %q\n", args[0], database)
			return nil
		},
	}
	r.addFlags(cmd)
	addDatabaseFlag(cmd, &database)
	addYesFlags(cmd, &yes)
	return cmd
}

// runSQL sends one statement to /api/v3/query_sql and returns the answer
// in format.
func runSQL(cmd *cobra.Command, r *remote, database, sql, format string, params map[string]any) ([]byte, error) {
	body := map[string]any{"db": database, "q": sql, "format": format}
	if params != nil {
		body["params"] = params
	}
	return r.call(cmd.Context(), http.MethodPost, "/api/v3/query_sql", nil, body)
}

// quoteIdent double-quotes a SQL name.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func showTablesCmd() *cobra.Command {
	return showSystemCmd("tables", "List a database's tables with their tags, fields and retention (system.tables)",
		"SELECT table_name, kind, tags, fields, retention_seconds FROM system.tables WHERE database = $db ORDER BY table_name")
}

func showViewsCmd() *cobra.Command {
	return showSystemCmd("views", "List a database's views and their SQL (system.views)",
		"SELECT name, sql FROM system.views WHERE database = $db ORDER BY name")
}

// showSystemCmd is a show command that prints the rows sql (a query over a
// system table, with $db the --database) returns.
func showSystemCmd(use, short, sql string) *cobra.Command {
	var r remote
	var database, format string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format = outputFormat(cmd, format)
			b, err := runSQL(cmd, &r, database, sql, format, map[string]any{"db": database})
			if err != nil {
				return err
			}
			return writeOutput(cmd, format, b)
		},
	}
	r.addFlags(cmd)
	addDatabaseFlag(cmd, &database)
	addFormatFlag(cmd, &format)
	return cmd
}

// addFormatFlag adds --format for commands that print rows.
func addFormatFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "format", "", "table|csv|json|jsonl|parquet (default: table on a terminal, else json)")
}

// addYesFlags adds --yes (-y) and its alias --force, which skip a delete's question.
func addYesFlags(cmd *cobra.Command, yes *bool) {
	cmd.Flags().BoolVarP(yes, "yes", "y", false, "don't ask for confirmation")
	cmd.Flags().BoolVar(yes, "force", false, "same as --yes")
}

func createViewCmd() *cobra.Command {
	var r remote
	var database string
	var replace bool
	cmd := &cobra.Command{
		Use:     "view NAME SQL",
		Short:   "Create a view: a named query over the database's tables (CREATE VIEW)",
		Example: `  fletch create view --database metrics cpu_5m "SELECT date_bin(INTERVAL '5 minutes', time) AS time, host, avg(usage) AS usage FROM cpu GROUP BY 1, 2"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			stmt := "CREATE VIEW "
			if replace {
				stmt = "CREATE OR REPLACE VIEW "
			}
			stmt += quoteIdent(database) + "." + quoteIdent(args[0]) + " AS " + args[1]
			if _, err := runSQL(cmd, &r, database, stmt, "json", nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "View %q created in database %q\n", args[0], database)
			return nil
		},
	}
	r.addFlags(cmd)
	addDatabaseFlag(cmd, &database)
	cmd.Flags().BoolVar(&replace, "replace", false, "replace a view of that name")
	return cmd
}

func deleteViewCmd() *cobra.Command {
	var r remote
	var database string
	cmd := &cobra.Command{
		Use:   "view NAME",
		Short: "Delete a view (its tables stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stmt := "DROP VIEW " + quoteIdent(database) + "." + quoteIdent(args[0])
			if _, err := runSQL(cmd, &r, database, stmt, "json", nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "View %q deleted from database %q\n", args[0], database)
			return nil
		},
	}
	r.addFlags(cmd)
	addDatabaseFlag(cmd, &database)
	return cmd
}
