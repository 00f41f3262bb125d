package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// queryCmd runs SQL on a running server through its HTTP query API
// (/api/v3/query_sql) and prints the answer. Statements that change schema
// (CREATE [MATERIALIZED] VIEW, ALTER ... SET (retention = ...), DROP ...)
// go the same way.
func queryCmd() *cobra.Command {
	var host, database, token, format, caFile string
	cmd := &cobra.Command{
		Use:   "query [flags] SQL",
		Short: "Run SQL on a running server (table, csv, json, jsonl or parquet output)",
		Example: `  fletch query --database mydb "SELECT * FROM cpu ORDER BY time DESC LIMIT 5"
  fletch query -d mydb "CREATE MATERIALIZED VIEW cpu_1m WITH (retention = '90d') AS SELECT date_bin(INTERVAL '1 minute', time) AS time, host, avg(usage) AS usage FROM cpu GROUP BY 1, 2"
  fletch query -d mydb "ALTER TABLE cpu SET (retention = '7d')"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format == "" {
				format = "json"
				if f, ok := cmd.OutOrStdout().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					format = "pretty"
				}
			}
			if format == "table" {
				format = "pretty"
			}
			client := &http.Client{Timeout: 10 * time.Minute}
			if caFile != "" {
				pem, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("read --tls-ca: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return fmt.Errorf("--tls-ca %s holds no PEM certificate", caFile)
				}
				client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
			}
			body, _ := json.Marshal(map[string]string{"db": database, "q": args[0], "format": format})
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, strings.TrimRight(host, "/")+"/api/v3/query_sql", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("query %s: %w", host, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return httpError(resp)
			}
			_, err = io.Copy(cmd.OutOrStdout(), resp.Body)
			if err == nil && (format == "json") {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&host, "host", envOr("FLETCH_HOST", "http://127.0.0.1:8181"), "server URL (env FLETCH_HOST)")
	f.StringVarP(&database, "database", "d", envOr("FLETCH_DATABASE", "default"), "database (env FLETCH_DATABASE)")
	f.StringVar(&token, "token", os.Getenv("FLETCH_TOKEN"), "token (env FLETCH_TOKEN)")
	f.StringVar(&format, "format", "", "table|csv|json|jsonl|parquet (default: table on a terminal, else json)")
	f.StringVar(&caFile, "tls-ca", "", "PEM file of the CA that signed the server's certificate")
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
