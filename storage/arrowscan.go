package storage

/*
#include <stdint.h>
#include <stdlib.h>

// The Arrow C stream interface (https://arrow.apache.org/docs/format/CStreamInterface.html).
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
struct ArrowSchema {
	const char *format;
	const char *name;
	const char *metadata;
	int64_t flags;
	int64_t n_children;
	struct ArrowSchema **children;
	struct ArrowSchema *dictionary;
	void (*release)(struct ArrowSchema *);
	void *private_data;
};
struct ArrowArray {
	int64_t length;
	int64_t null_count;
	int64_t offset;
	int64_t n_buffers;
	int64_t n_children;
	const void **buffers;
	struct ArrowArray **children;
	struct ArrowArray *dictionary;
	void (*release)(struct ArrowArray *);
	void *private_data;
};
#endif
#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE
struct ArrowArrayStream {
	int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
	int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
	const char *(*get_last_error)(struct ArrowArrayStream *);
	void (*release)(struct ArrowArrayStream *);
	void *private_data;
};
#endif

// DuckDB's C API (duckdb.h): the connection and the stream are its opaque
// handles; the result is its duckdb_state (0 success, 1 error).
extern int duckdb_arrow_scan(void *connection, const char *table_name, void *arrow);

// A schema handed to DuckDB, kept until the stream goes.
struct fletch_schema {
	struct ArrowSchema inner; // as the producer filled it
	int released;             // DuckDB released its copy
	struct fletch_schema *next;
};

// The stream DuckDB scans: the producer's stream, and every schema handed
// out from it.
struct fletch_scan {
	struct ArrowArrayStream outer; // what DuckDB is given
	struct ArrowArrayStream *inner;
	struct fletch_schema *schemas;
};

static void fletch_schema_release(struct ArrowSchema *s) {
	struct fletch_schema *rec = (struct fletch_schema *)s->private_data;
	if (!rec->released) {
		rec->inner.release(&rec->inner);
		rec->released = 1;
	}
	s->release = NULL;
}

static int fletch_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
	struct fletch_scan *sc = (struct fletch_scan *)s->private_data;
	struct fletch_schema *rec = calloc(1, sizeof *rec);
	if (rec == NULL) {
		return 12; // ENOMEM
	}
	int rc = sc->inner->get_schema(sc->inner, &rec->inner);
	if (rc != 0) {
		free(rec);
		return rc;
	}
	*out = rec->inner;
	out->private_data = rec;
	out->release = fletch_schema_release;
	rec->next = sc->schemas;
	sc->schemas = rec;
	return 0;
}

static int fletch_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
	struct fletch_scan *sc = (struct fletch_scan *)s->private_data;
	return sc->inner->get_next(sc->inner, out);
}

static const char *fletch_get_last_error(struct ArrowArrayStream *s) {
	struct fletch_scan *sc = (struct fletch_scan *)s->private_data;
	return sc->inner->get_last_error(sc->inner);
}

// fletch_release_unreleased releases the producer's side of every schema
// DuckDB has not released. Only safe when DuckDB holds none of them.
static void fletch_release_unreleased(struct fletch_scan *sc) {
	for (struct fletch_schema *rec = sc->schemas; rec != NULL; rec = rec->next) {
		if (!rec->released) {
			rec->inner.release(&rec->inner);
			rec->released = 1;
		}
	}
}

// fletch_free_schemas frees the records (not the schemas) of sc.
static void fletch_free_schemas(struct fletch_scan *sc) {
	struct fletch_schema *rec = sc->schemas;
	while (rec != NULL) {
		struct fletch_schema *next = rec->next;
		free(rec);
		rec = next;
	}
	sc->schemas = NULL;
}

// fletch_arrow_scan registers inner (a stream the caller exported) as the
// temporary view name on the connection. DuckDB's C API takes schemas from
// the stream and leaves releasing them to the caller: duckdb_arrow_scan
// reads one into a local, and each bind of the view (here, while the view is
// created; later, by each statement reading it) takes one whose release it
// clears. Those handed out during this call are no longer used once it
// returns and are released here; the rest at fletch_scan_free. Returns the
// scan to pass to fletch_scan_free, or NULL if DuckDB refused (the inner
// stream is then the caller's to release).
static struct fletch_scan *fletch_arrow_scan(void *conn, const char *name, struct ArrowArrayStream *inner) {
	struct fletch_scan *sc = calloc(1, sizeof *sc);
	if (sc == NULL) {
		return NULL;
	}
	sc->inner = inner;
	sc->outer.get_schema = fletch_get_schema;
	sc->outer.get_next = fletch_get_next;
	sc->outer.get_last_error = fletch_get_last_error;
	sc->outer.release = NULL; // DuckDB never releases a scanned stream
	sc->outer.private_data = sc;
	int rc = duckdb_arrow_scan(conn, name, &sc->outer);
	fletch_release_unreleased(sc);
	if (rc != 0) {
		fletch_free_schemas(sc);
		free(sc);
		return NULL;
	}
	return sc;
}

// fletch_scan_free releases the inner stream and what is left of the
// schemas; the view must be gone and no statement reading it running.
static void fletch_scan_free(struct fletch_scan *sc) {
	fletch_release_unreleased(sc);
	fletch_free_schemas(sc);
	if (sc->inner->release != NULL) {
		sc->inner->release(sc->inner);
	}
	free(sc->inner);
	free(sc);
}
*/
import "C"

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/cdata"
	"github.com/duckdb/duckdb-go/v2"
)

// RegisterArrowView registers rdr as the temporary view name on dc (a
// duckdb-go connection), like duckdb-go's Arrow.RegisterView, without its
// leak: DuckDB's C API (v1.5) takes the stream's schema several times and
// releases none of them, and RegisterView does not either, which cost every
// write ~3.5 KB of C heap for the life of the process (docs/benchmarks.md,
// "The soak's leak"). Fletch releases every schema it handed out once DuckDB
// is done with it. The stream is consumed by
// the first statement that scans the view. The caller drops the view, then
// calls release, then releases rdr; release frees the C side and must be
// called once.
//
// It needs duckdb-go's connection handle, an unexported field; if a
// duckdb-go release renames it, this falls back to Arrow.RegisterView (and
// its leak) rather than fail the write.
func RegisterArrowView(dc driver.Conn, rdr array.RecordReader, name string) (release func(), err error) {
	conn := duckdbConnHandle(dc)
	if conn == nil {
		ar, err := duckdb.NewArrowFromConn(dc)
		if err != nil {
			return nil, err
		}
		return ar.RegisterView(rdr, name)
	}
	inner := (*C.struct_ArrowArrayStream)(C.calloc(1, C.sizeof_struct_ArrowArrayStream))
	if inner == nil {
		return nil, errors.New("register arrow view: out of memory")
	}
	cdata.ExportRecordReader(rdr, (*cdata.CArrowArrayStream)(unsafe.Pointer(inner)))
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	sc := C.fletch_arrow_scan(conn, cname, inner)
	if sc == nil {
		if inner.release != nil {
			cdata.ReleaseCArrowArrayStream((*cdata.CArrowArrayStream)(unsafe.Pointer(inner)))
		}
		C.free(unsafe.Pointer(inner))
		return nil, fmt.Errorf("register arrow view %s: DuckDB refused the stream", name)
	}
	return func() { C.fletch_scan_free(sc) }, nil
}

// duckdbConnHandle is dc's duckdb_connection, read from duckdb-go's
// unexported Conn.conn (a struct holding one pointer); nil if dc is not a
// *duckdb.Conn of that shape.
func duckdbConnHandle(dc driver.Conn) unsafe.Pointer {
	c, ok := dc.(*duckdb.Conn)
	if !ok || c == nil {
		return nil
	}
	f := reflect.ValueOf(c).Elem().FieldByName("conn")
	if !f.IsValid() || f.Kind() != reflect.Struct || f.NumField() != 1 || f.Type().Field(0).Type.Kind() != reflect.UnsafePointer {
		return nil
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(f.UnsafeAddr()))
}
