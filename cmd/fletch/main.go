// Command fletch is the Fletch time-series database: `fletch serve` runs the
// server. This file only wires flags to the packages that do the work.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fletchdb/fletch/ingest/kafka"
	"github.com/fletchdb/fletch/internal/reqid"
	"github.com/fletchdb/fletch/query"
	"github.com/fletchdb/fletch/server"
	"github.com/fletchdb/fletch/storage"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprint(os.Stderr, errorText(err.Error()))
		os.Exit(1)
	}
}

// errorText is how an error is printed: one "fletch: ..." line, whatever
// the message's line breaks, then, for a SQL error that points into the
// statement (DuckDB's "LINE 1: SELEC 1" and a caret under the spot), those
// two lines as they are, so the caret still lines up.
func errorText(msg string) string {
	var pointer string
	lines := strings.Split(msg, "\n")
	for i := 0; i+1 < len(lines); i++ {
		caret := strings.Index(lines[i+1], "^")
		if strings.HasPrefix(lines[i], "LINE ") && caret >= 0 && strings.TrimSpace(lines[i+1][:caret]) == "" {
			pointer = lines[i] + "\n" + lines[i+1][:caret+1] + "\n"
			// What follows the caret (the CLI adds "(HTTP 400)") joins the message.
			lines = append(append(lines[:i:i], lines[i+1][caret+1:]), lines[i+2:]...)
			break
		}
	}
	return "fletch: " + strings.Join(strings.Fields(strings.Join(lines, " ")), " ") + "\n" + pointer
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "fletch",
		Short:         "Fletch: a time-series database speaking Arrow Flight, Flight SQL and line protocol",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), queryCmd(), writeCmd(), createCmd(), deleteCmd(), showCmd(),
		backupCmd(), restoreCmd(), tokenCmd(), healthCmd(), versionCmd())
	return root
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "fletch", server.Version) },
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func serveCmd() *cobra.Command {
	var (
		dataDir, addr, logLevel      string
		persistInterval              time.Duration
		resultHold                   time.Duration
		bufferMax, queryMem, hotTier int64
		maxBody                      int64
		maxLine, queryThreads        int
		withoutAuth                  bool
		withoutConsole               bool
		tlsCert, tlsKey              string
		compactMinFiles              int
		bufferHard, memBudget        int64
		maxCols, maxTables           int
		noCompaction                 bool
		limits                       = query.DefaultLimits()
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: HTTP API, Flight and Flight SQL on one port",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			// Lines logged for a request carry its request_id.
			log := slog.New(reqid.NewHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
			slog.SetDefault(log)
			if memBudget < 0 {
				return fmt.Errorf("--memory-bytes: %d is negative; give the server's budget in bytes, or 0 for none", memBudget)
			}
			if memBudget > 0 {
				// The budget sets what the finer flags leave unset.
				b := storage.SplitMemory(memBudget)
				f := cmd.Flags()
				if !f.Changed("query-memory-bytes") {
					queryMem = b.QueryMemoryBytes
				}
				if !f.Changed("buffer-max-bytes") {
					bufferMax = b.BufferMaxBytes
					if !f.Changed("buffer-hard-limit-bytes") {
						bufferHard = b.BufferHardLimitBytes
					}
				}
			}
			opts := storage.DefaultOptions(dataDir)
			opts.PersistInterval = persistInterval
			opts.BufferMaxBytes = bufferMax
			opts.QueryMemoryBytes = queryMem
			if queryThreads < 0 {
				return fmt.Errorf("--query-threads: %d is negative; give 0 (one per core) or a thread count", queryThreads)
			}
			opts.QueryThreads = queryThreads
			opts.HotTierBytes = hotTier
			if hotTier == 0 {
				opts.HotTierBytes = storage.DefaultHotTierBytes(queryMem)
			}
			opts.Logger = log
			opts.Compaction.MinFiles = compactMinFiles
			opts.BufferHardLimitBytes = bufferHard
			opts.Limits.MaxColumnsPerTable = maxCols
			opts.Limits.MaxTablesPerDatabase = maxTables
			opts.NoCompaction = noCompaction
			srvOpts := server.Options{MaxRequestBytes: maxBody, MaxLineBytes: maxLine, Logger: log, WithoutAuth: withoutAuth, ResultHoldTTL: resultHold, WithoutConsole: withoutConsole}
			if (tlsCert == "") != (tlsKey == "") {
				return fmt.Errorf("--tls-cert and --tls-key go together: give both (PEM certificate chain and its key) or neither")
			}
			if tlsCert != "" {
				cfg, err := server.TLSConfig(tlsCert, tlsKey)
				if err != nil {
					return err
				}
				srvOpts.TLS = cfg
			}
			if err := limits.Validate(); err != nil {
				return err
			}
			return serve(cmd, addr, opts, srvOpts, limits, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", envOr("FLETCH_DATA_DIR", "./fletch-data"), "directory for all data (env FLETCH_DATA_DIR)")
	f.StringVar(&addr, "addr", envOr("FLETCH_ADDR", "127.0.0.1:8181"), "HOST:PORT for HTTP and gRPC (env FLETCH_ADDR)")
	f.DurationVar(&persistInterval, "persist-interval", 10*time.Minute, "persist the buffer to Parquet once its oldest write is this old")
	f.Int64Var(&memBudget, "memory-bytes", 0, "the server's memory budget in bytes, split over DuckDB's limit (3/4: buffer, hot tier, queries, persists, compaction all count there), the buffer (persist at 1/16, refuse writes past 1/8) and the hot tier (a quarter of DuckDB's share); the rest is Go's heap. The finer flags, when given, win. 0: none, each flag its own default")
	f.Int64Var(&bufferMax, "buffer-max-bytes", 512<<20, "persist the buffer once it holds this many bytes")
	f.Int64Var(&bufferHard, "buffer-hard-limit-bytes", 0, "past this many buffered bytes writes wait for a persist, then get 429 / ResourceExhausted (default 2 x --buffer-max-bytes)")
	f.IntVar(&maxCols, "max-columns-per-table", 1000, "refuse writes that would give a table more columns (-1: no limit)")
	f.IntVar(&maxTables, "max-tables-per-database", 10000, "refuse writes that would create more tables in a database (-1: no limit)")
	f.Int64Var(&queryMem, "query-memory-bytes", 0, "DuckDB memory limit in bytes; 0 means DuckDB's default (80% of RAM)")
	f.IntVar(&queryThreads, "query-threads", 0, "DuckDB threads, shared by all queries and the most one query uses; 0 means one per core. 1 gives more queries/s when many small queries run at once (dashboards), and makes a single large query use one core")
	f.Int64Var(&hotTier, "hot-tier-max-bytes", 0, "memory for the hot tier: the newest Parquet days also held in DuckDB's compressed in-memory tables; 0 means an eighth of RAM (at most a quarter of --query-memory-bytes), -1 turns it off")
	f.Int64Var(&maxBody, "max-request-bytes", 64<<20, "largest HTTP write body accepted, after gzip decoding")
	f.IntVar(&maxLine, "max-line-bytes", server.DefaultMaxLineBytes, "longest line-protocol line accepted; longer lines are rejected with their line number (-1: no limit)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&withoutAuth, "without-auth", false, "accept requests without a token (auth is on by default)")
	f.BoolVar(&withoutConsole, "without-console", false, "do not serve the web console at / (its page and assets; the API stays)")
	f.StringVar(&tlsCert, "tls-cert", "", "PEM certificate chain: serve HTTPS and gRPC over TLS (needs --tls-key)")
	f.StringVar(&tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.IntVar(&compactMinFiles, "compact-min-files", 8, "merge the newest run of a day's Parquet files (each no bigger than the newer ones together) once it has this many files; a closed day is merged whole at two")
	f.BoolVar(&noCompaction, "no-compaction", false, "never merge Parquet files in the background")
	f.DurationVar(&limits.Timeout, "query-timeout", limits.Timeout, "stop a query running longer (504 / DeadlineExceeded); 0 means no limit")
	f.IntVar(&limits.MaxConcurrent, "max-concurrent-queries", limits.MaxConcurrent, "queries running at once; more wait for --query-queue-timeout, then get 429 / ResourceExhausted; 0 means no cap")
	f.DurationVar(&limits.QueueTimeout, "query-queue-timeout", limits.QueueTimeout, "how long a query waits for one of --max-concurrent-queries")
	f.DurationVar(&resultHold, "result-hold", server.DefaultResultHoldTTL, "how long a Flight SQL result, run by GetFlightInfo, waits for its DoGet; a later DoGet runs the query again")
	return cmd
}

func serve(cmd *cobra.Command, addr string, stOpts storage.Options, srvOpts server.Options, limits query.Limits, log *slog.Logger) error {
	st, err := storage.Open(stOpts)
	if err != nil {
		return err
	}
	lim := st.MemoryLimits()
	log.Info("memory limits", "duckdb_bytes", lim.QueryMemoryBytes, "buffer_max_bytes", lim.BufferMaxBytes,
		"buffer_hard_limit_bytes", lim.BufferHardLimitBytes, "hot_tier_max_bytes", lim.HotTierBytes)
	if srvOpts.WithoutAuth {
		log.Warn("auth is off (--without-auth): the server accepts unauthenticated requests, each with admin rights on every database")
	} else if srvOpts.Tokens, err = openTokens(cmd, stOpts.DataDir, log); err != nil {
		st.Close()
		return err
	}
	q, err := query.New(st)
	if err != nil {
		st.Close()
		return err
	}
	if err := q.SetLimits(limits); err != nil {
		st.Close()
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		st.Close()
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	q.StartMaterializer(time.Second)
	subs := kafka.Start(st, log)
	q.SetSubscriptionStatus(subs.Statuses)
	srv := server.New(st, q, srvOpts)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("fletch serving HTTP, Flight and Flight SQL", "addr", l.Addr().String(), "data_dir", stOpts.DataDir,
		"tls", srvOpts.TLS != nil, "auth", !srvOpts.WithoutAuth, "version", server.Version)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		log.Info("shutting down: persisting the buffer", "signal", s.String())
	case err := <-errc:
		if err != nil {
			log.Error("serve", "err", err)
		}
	case <-st.Failed():
		// DuckDB invalidated its database (storage.ErrFailed): stop and
		// exit non-zero so a supervisor restarts fletch, which replays
		// the WAL. Close skips the persist.
		log.Error("shutting down: the embedded database failed; restart fletch to recover (no acknowledged write is lost)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	subs.Close()
	q.Close()
	if err := st.Close(); err != nil {
		return fmt.Errorf("close storage: %w", err)
	}
	log.Info("stopped")
	return nil
}
