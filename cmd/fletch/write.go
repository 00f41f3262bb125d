package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// writeOptions are the flags of `fletch write`.
type writeOptions struct {
	remote
	database, table, format, precision, timeColumn string
	tags                                           []string
	// chunkBytes is the most line protocol sent in one request; the
	// server's --max-request-bytes is 64 MiB by default, so 4 MiB chunks
	// stay far below it while keeping requests few.
	chunkBytes    int
	batchRows     int
	acceptPartial bool
	noProgress    bool
}

// writeCmd loads a line-protocol, CSV or Parquet file into a running
// server: line protocol in chunks over /api/v3/write_lp, CSV and Parquet as
// Arrow batches over Flight DoPut (see writeArrow).
func writeCmd() *cobra.Command {
	o := writeOptions{}
	cmd := &cobra.Command{
		Use:   "write --database DB [flags] [FILE|-]",
		Short: "Write a line-protocol, CSV or Parquet file (or stdin) to a running server",
		Long: `Write a file to a running server. The format comes from the file's extension
(.lp .txt .line: line protocol; .csv; .parquet .pq) or --format.

Line protocol goes to /api/v3/write_lp in chunks of --chunk-bytes, split at line
boundaries. CSV (header line first; column types inferred from the first 1,000 rows)
and Parquet go as Arrow batches through Flight DoPut into --table (default: the
file's base name). The column named "time" (or --time-column) is the row time:
timestamps, or integers in --precision units (default ns). String columns are
fields unless named in --tags.`,
		Example: `  fletch write --database metrics cpu.lp
  fletch write -d metrics --tags host,region cpu.csv
  fletch write -d metrics --table cpu --time-column ts data.parquet
  gunzip -c big.lp.gz | fletch write -d metrics -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "-"
			if len(args) == 1 {
				path = args[0]
			}
			return runWrite(cmd, &o, path)
		},
	}
	o.remote.addFlags(cmd)
	f := cmd.Flags()
	addDatabaseFlag(cmd, &o.database)
	f.StringVarP(&o.table, "table", "t", "", "table for CSV and Parquet (default: the file's base name)")
	f.StringVar(&o.format, "format", "", "lp, csv or parquet (default: from the file's extension; stdin: lp)")
	f.StringVar(&o.precision, "precision", "", "unit of integer timestamps: s, ms, us or ns (line protocol default: auto; CSV/Parquet: ns)")
	f.StringVar(&o.timeColumn, "time-column", "", `CSV/Parquet column holding the row time (default "time")`)
	f.StringSliceVar(&o.tags, "tags", nil, "CSV/Parquet string columns that are tags (part of the series key), comma-separated")
	f.IntVar(&o.chunkBytes, "chunk-bytes", 4<<20, "largest line-protocol request in bytes (keep under the server's --max-request-bytes)")
	f.IntVar(&o.batchRows, "batch-rows", 64*1024, "rows per Arrow batch for CSV and Parquet")
	f.BoolVar(&o.acceptPartial, "accept-partial", false, "line protocol: write a chunk's good lines even if some are bad (the bad ones are still an error)")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar, even on a terminal")
	return cmd
}

// detectFormat names a file's format from --format or its extension.
func detectFormat(format, path string) (string, error) {
	switch strings.ToLower(format) {
	case "lp", "line-protocol", "lineprotocol":
		return "lp", nil
	case "csv":
		return "csv", nil
	case "parquet":
		return "parquet", nil
	case "":
	default:
		return "", fmt.Errorf("--format %q: use lp, csv or parquet", format)
	}
	if path == "-" {
		return "lp", nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".lp", ".txt", ".line", ".influx":
		return "lp", nil
	case ".csv":
		return "csv", nil
	case ".parquet", ".pq":
		return "parquet", nil
	}
	return "", fmt.Errorf("can't tell the format of %s from its extension; pass --format lp, csv or parquet", path)
}

func runWrite(cmd *cobra.Command, o *writeOptions, path string) error {
	format, err := detectFormat(o.format, path)
	if err != nil {
		return err
	}
	switch o.precision {
	case "", "auto", "s", "ms", "us", "ns":
	default:
		return fmt.Errorf("--precision %q: use s, ms, us or ns", o.precision)
	}
	if o.chunkBytes < 1024 {
		return fmt.Errorf("--chunk-bytes %d: use at least 1024", o.chunkBytes)
	}
	if o.batchRows < 1 {
		return fmt.Errorf("--batch-rows %d: use at least 1", o.batchRows)
	}
	table := o.table
	if format != "lp" && table == "" {
		if path == "-" {
			return fmt.Errorf("--table is required when CSV or Parquet comes from stdin")
		}
		table = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	var in io.Reader = cmd.InOrStdin()
	size := int64(-1)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		in = f
	} else if format == "parquet" {
		return fmt.Errorf("Parquet can't be read from stdin (its footer is at the end); pass the file")
	}

	ctx := cmd.Context()
	start := time.Now()
	bar := newProgress(cmd, o.noProgress)
	var rows int64
	switch format {
	case "lp":
		bar.start(size, true, "line protocol")
		rows, err = writeLineProtocol(ctx, o, in, bar)
	case "csv":
		bar.start(size, true, "csv")
		rows, err = writeCSV(ctx, o, table, in, bar)
	case "parquet":
		rows, err = writeParquet(ctx, o, table, in.(*os.File), bar)
	}
	bar.finish()
	var partial *partialError
	if err != nil && !errors.As(err, &partial) {
		if rows > 0 {
			return fmt.Errorf("%w (%d rows were written before this)", err, rows)
		}
		return err
	}
	secs := time.Since(start).Seconds()
	dest := o.database
	if format != "lp" {
		dest += "." + table
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %d rows to %s in %.2fs (%.0f rows/s)\n", rows, dest, secs, float64(rows)/max(secs, 1e-9))
	if partial != nil {
		return partial // the good lines are written; the bad ones are still an error
	}
	return nil
}

// progress is a progress bar on stderr when stderr is a terminal, and
// nothing otherwise (the summary line is printed either way).
type progress struct {
	w       io.Writer
	on      bool
	isBytes bool
	bar     *progressbar.ProgressBar
}

func (p *progress) barIsBytes() bool { return p.isBytes }

func newProgress(cmd *cobra.Command, off bool) *progress {
	p := &progress{w: cmd.ErrOrStderr()}
	if f, ok := p.w.(*os.File); ok && !off && term.IsTerminal(int(f.Fd())) {
		p.on = true
	}
	return p
}

// start shows a bar up to max (bytes when isBytes, else rows; -1: unknown).
func (p *progress) start(max int64, isBytes bool, what string) {
	if !p.on {
		return
	}
	p.isBytes = isBytes
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription("writing " + what),
		progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionShowIts(),
		progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish(),
	}
	if isBytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetItsString("rows"))
	}
	p.bar = progressbar.NewOptions64(max, opts...)
}

func (p *progress) add(n int64) {
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

// countingReader reports bytes read to a progress bar.
type countingReader struct {
	r io.Reader
	p *progress
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}
