package main

import (
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// openTokens opens the data dir's token file for the server and, on the
// first start with auth, creates the admin token and prints it once.
func openTokens(cmd *cobra.Command, dataDir string, log *slog.Logger) (*auth.Store, error) {
	opts := auth.DefaultOptions(storage.TokenFilePath(dataDir), storage.TokenLockPath(dataDir))
	opts.Logger = log
	tokens, err := auth.Open(opts)
	if err != nil {
		return nil, err
	}
	secret, created, err := tokens.Bootstrap()
	if err != nil {
		return nil, fmt.Errorf("create the admin token: %w", err)
	}
	if created {
		fmt.Fprintf(cmd.OutOrStdout(), "Created the admin token (all databases). It is shown only this once; store it now.\nadmin token: %s\n", secret)
		log.Info("created the admin token; it was printed to stdout", "token_file", opts.Path)
	}
	return tokens, nil
}

// openTokenStore opens the token file of an existing data dir, for the
// token subcommands.
func openTokenStore(dataDir string) (*auth.Store, error) {
	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("data dir %s does not exist (start `fletch serve --data-dir %s` once, or pass the right --data-dir)", dataDir, dataDir)
	}
	return auth.Open(auth.DefaultOptions(storage.TokenFilePath(dataDir), storage.TokenLockPath(dataDir)))
}

func tokenCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and delete API tokens (edits the data dir's token file; a running server sees the change)",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", envOr("FLETCH_DATA_DIR", "./fletch-data"), "data directory of the server (env FLETCH_DATA_DIR)")
	cmd.AddCommand(tokenCreateCmd(&dataDir), tokenListCmd(&dataDir), tokenDeleteCmd(&dataDir))
	return cmd
}

func tokenCreateCmd(dataDir *string) *cobra.Command {
	var database, permission, name string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a token and print it (once) on stdout; its description goes to stderr",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			perm, err := auth.ParsePermission(permission)
			if err != nil {
				return fmt.Errorf("--permission: %w", err)
			}
			if database == "" {
				return fmt.Errorf("--database: name the database the token is for, or '%s' for all", auth.AllDatabases)
			}
			if database != auth.AllDatabases {
				if err := catalog.ValidateName("database", database); err != nil {
					return fmt.Errorf("--database: %w", err)
				}
			}
			tokens, err := openTokenStore(*dataDir)
			if err != nil {
				return err
			}
			secret, tok, err := tokens.Create(name, database, perm)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "created token id=%s name=%q database=%q permission=%s (shown only this once)\n",
				tok.ID, tok.Name, tok.Database, tok.Permission)
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&database, "database", "", "database the token is valid for, or '*' for all (required)")
	f.StringVar(&permission, "permission", "", "read, write (includes read) or admin (includes write) (required)")
	f.StringVar(&name, "name", "", "description; default <permission>-<database>")
	return cmd
}

func tokenListCmd(dataDir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List tokens (ids, names, scopes; never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tokens, err := openTokenStore(*dataDir)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tDATABASE\tPERMISSION\tCREATED")
			for _, t := range tokens.List() {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Database, t.Permission, t.CreatedAt.Format(time.RFC3339))
			}
			return w.Flush()
		},
	}
}

func tokenDeleteCmd(dataDir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a token; a running server refuses it within a second",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tokens, err := openTokenStore(*dataDir)
			if err != nil {
				return err
			}
			tok, err := tokens.Delete(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted token id=%s name=%q\n", tok.ID, tok.Name)
			return nil
		},
	}
}
