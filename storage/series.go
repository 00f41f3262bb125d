package storage

import (
	"context"
	"fmt"
	"hash/maphash"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// loadSeries rebuilds, for every tagged table with Parquet files, the
// largest persisted time per series, so that a write after a restart that
// duplicates a persisted row still marks its day dirty.
func (e *Engine) loadSeries() error {
	byTable := map[tableKey][]string{}
	for _, f := range e.manifest.Files {
		k := tableKey{f.Database, f.Table}
		byTable[k] = append(byTable[k], QuoteLiteral(filepath.Join(e.opts.DataDir, f.Path)))
	}
	for k, paths := range byTable {
		schema, err := e.cat.Table(k.db, k.table)
		if err != nil {
			return fmt.Errorf("manifest lists files of unknown table: %w", err)
		}
		tags := schema.Tags()
		if len(tags) == 0 {
			continue
		}
		quoted := make([]string, len(tags))
		for i, t := range tags {
			quoted[i] = QuoteIdent(t)
		}
		q := fmt.Sprintf("SELECT %s, max(%s)::TIMESTAMP_NS AS t FROM read_parquet([%s], union_by_name = true) GROUP BY ALL",
			strings.Join(quoted, ", "), timeIdent, strings.Join(paths, ", "))
		ts := e.tableState(k.db, k.table)
		err = e.queryArrow(context.Background(), q, func(rdr array.RecordReader) error {
			var h maphash.Hash
			h.SetSeed(seriesSeed)
			for rdr.Next() {
				rec := rdr.RecordBatch()
				cols := make([]*array.String, len(tags))
				for i := range tags {
					cols[i] = rec.Column(i).(*array.String)
				}
				times := rec.Column(len(tags)).(*array.Timestamp).TimestampValues()
				for i := 0; i < int(rec.NumRows()); i++ {
					ts.series[seriesHash(&h, tags, cols, i)] = int64(times[i])
				}
			}
			return rdr.Err()
		})
		if err != nil {
			return fmt.Errorf("load series of %s.%s: %w", k.db, k.table, err)
		}
	}
	return nil
}
