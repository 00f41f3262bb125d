package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthCmd probes a running server's GET /health and exits 0 only on 200.
// It exists for container health checks: the runtime image has no curl or
// wget, and the server binary is already there.
func healthCmd() *cobra.Command {
	var r remote
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if a running server answers GET /health with 200 (for container health checks)",
		Example: `  fletch health                                   # http://127.0.0.1:8181
  fletch health --host https://127.0.0.1:8181 --tls-ca ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			var body bytes.Buffer
			if err := r.stream(ctx, http.MethodGet, "/health", nil, nil, &body); err != nil {
				return fmt.Errorf("health %s: %w", r.host, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(body.String()))
			return nil
		},
	}
	r.addFlags(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}
