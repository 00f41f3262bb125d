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
// persisted time ranges of every series (one per series and UTC day, then
// widened to seriesSpans), so that a write after a restart that may
// duplicate a persisted row still marks its time dirty.
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
		q := fmt.Sprintf("SELECT %s, min(%s)::TIMESTAMP_NS, max(%s)::TIMESTAMP_NS FROM read_parquet([%s], union_by_name = true) GROUP BY %s, date_trunc('day', %s)",
			strings.Join(quoted, ", "), timeIdent, timeIdent, strings.Join(paths, ", "), strings.Join(quoted, ", "), timeIdent)
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
				mins := rec.Column(len(tags)).(*array.Timestamp).TimestampValues()
				maxs := rec.Column(len(tags) + 1).(*array.Timestamp).TimestampValues()
				for i := 0; i < int(rec.NumRows()); i++ {
					key := seriesHash(&h, tags, cols, i)
					sp := ts.series[key]
					if sp == nil {
						sp = &spans{}
						ts.series[key] = sp
					}
					sp.add(int64(mins[i]), int64(maxs[i]), seriesSpans)
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
