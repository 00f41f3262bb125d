package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fletchdb/fletch/storage"
)

// backupCmd copies a running server's data into a new directory that is
// itself a data directory; restoreCmd puts one back in place.
func backupCmd() *cobra.Command {
	var host, token string
	cmd := &cobra.Command{
		Use:   "backup [flags] DIR",
		Short: "Copy a running server's data (consistent, everything acknowledged before the call) into DIR",
		Example: `  fletch backup --token $ADMIN_TOKEN ./backups/2026-11-21
  fletch restore --data-dir ./fletch-data ./backups/2026-11-21   # with the server stopped`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, strings.TrimRight(host, "/")+"/api/v3/backup", nil)
			if err != nil {
				return err
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("backup from %s: %w", host, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return httpError(resp)
			}
			if err := storage.Restore(resp.Body, args[0]); err != nil {
				return fmt.Errorf("write backup into %s: %w", args[0], err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "backup written to", args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&host, "host", envOr("FLETCH_HOST", "http://127.0.0.1:8181"), "server URL (env FLETCH_HOST)")
	f.StringVar(&token, "token", os.Getenv("FLETCH_TOKEN"), "admin token for all databases (env FLETCH_TOKEN)")
	return cmd
}

func restoreCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "restore --data-dir DIR BACKUP",
		Short: "Make DIR (new or empty) a data directory holding the backup BACKUP; start the server on it afterwards",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := storage.RestoreDir(args[0], dataDir); err != nil {
				return fmt.Errorf("restore %s into %s: %w", args[0], dataDir, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "restored", args[0], "into", dataDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data directory to create (must not exist, or be empty)")
	cmd.MarkFlagRequired("data-dir")
	return cmd
}
