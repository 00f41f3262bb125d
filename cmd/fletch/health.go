package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthCmd probes a running server's GET /health and exits 0 only on 200.
// It exists for container health checks: the runtime image has no curl or
// wget, and the server binary is already there.
func healthCmd() *cobra.Command {
	var host, caFile string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if a running server answers GET /health with 200 (for container health checks)",
		Example: `  fletch health                                   # http://127.0.0.1:8181
  fletch health --host https://127.0.0.1:8181 --tls-ca ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client := &http.Client{Timeout: timeout}
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
			url := strings.TrimRight(host, "/") + "/health"
			resp, err := client.Get(url)
			if err != nil {
				return fmt.Errorf("health %s: %w", url, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("health %s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(body)))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&host, "host", envOr("FLETCH_HOST", "http://127.0.0.1:8181"), "server URL (env FLETCH_HOST)")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	f.StringVar(&caFile, "tls-ca", "", "PEM file of the CA that signed the server's certificate")
	return cmd
}
