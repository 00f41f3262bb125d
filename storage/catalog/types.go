// Package catalog holds Fletch's schema: databases → tables → columns, each
// column with a role (tag, field, time) and a type. Schema is on write: a
// write may add columns; a write that offers a different type for an existing
// column is rejected with a *TypeConflictError.
package catalog

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// Role says what part a column plays in a row: a tag is part of the series
// key, a field is a measured value, time is the row's timestamp.
type Role uint8

const (
	RoleTag Role = iota + 1
	RoleField
	RoleTime
)

func (r Role) String() string {
	switch r {
	case RoleTag:
		return "tag"
	case RoleField:
		return "field"
	case RoleTime:
		return "time"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// ColumnType is the stored type of a column. Tags are always strings; the
// time column is always TypeTime (timestamp[ns, UTC]); fields take one of the
// five InfluxDB field types.
type ColumnType uint8

const (
	TypeUnknown ColumnType = iota
	TypeTag
	TypeTime
	TypeInt64
	TypeUint64
	TypeFloat64
	TypeString
	TypeBool
)

// TimeColumn is the name of the time column of every table.
const TimeColumn = "time"

// Arrow field metadata key and values that mark a column's role, as InfluxDB 3
// writes them; its client libraries read them from query results.
const (
	MetaColumnType    = "iox::column::type"
	MetaTag           = "iox::column_type::tag"
	MetaTimestamp     = "iox::column_type::timestamp"
	MetaFieldInteger  = "iox::column_type::field::integer"
	MetaFieldUInteger = "iox::column_type::field::uinteger"
	MetaFieldFloat    = "iox::column_type::field::float"
	MetaFieldString   = "iox::column_type::field::string"
	MetaFieldBoolean  = "iox::column_type::field::boolean"
)

// Role returns the role of a column of this type.
func (t ColumnType) Role() Role {
	switch t {
	case TypeTag:
		return RoleTag
	case TypeTime:
		return RoleTime
	}
	return RoleField
}

// String names the type as the catalog file and error messages spell it.
func (t ColumnType) String() string {
	switch t {
	case TypeTag:
		return "tag"
	case TypeTime:
		return "time"
	case TypeInt64:
		return "int64"
	case TypeUint64:
		return "uint64"
	case TypeFloat64:
		return "float64"
	case TypeString:
		return "string"
	case TypeBool:
		return "bool"
	}
	return "unknown"
}

// ParseColumnType is the inverse of ColumnType.String.
func ParseColumnType(s string) (ColumnType, error) {
	for t := TypeTag; t <= TypeBool; t++ {
		if t.String() == s {
			return t, nil
		}
	}
	return TypeUnknown, fmt.Errorf("catalog: unknown column type %q", s)
}

// TimestampNsUTC is the Arrow type of every time column: timestamp[ns, UTC].
var TimestampNsUTC = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}

// ArrowType is the Arrow type batches carry for a column of this type.
func (t ColumnType) ArrowType() arrow.DataType {
	switch t {
	case TypeTag, TypeString:
		return arrow.BinaryTypes.String
	case TypeTime:
		return TimestampNsUTC
	case TypeInt64:
		return arrow.PrimitiveTypes.Int64
	case TypeUint64:
		return arrow.PrimitiveTypes.Uint64
	case TypeFloat64:
		return arrow.PrimitiveTypes.Float64
	case TypeBool:
		return arrow.FixedWidthTypes.Boolean
	}
	return arrow.Null
}

// DuckDBType is the DuckDB SQL type that stores a column of this type.
func (t ColumnType) DuckDBType() string {
	switch t {
	case TypeTag, TypeString:
		return "VARCHAR"
	case TypeTime:
		return "TIMESTAMP_NS"
	case TypeInt64:
		return "BIGINT"
	case TypeUint64:
		return "UBIGINT"
	case TypeFloat64:
		return "DOUBLE"
	case TypeBool:
		return "BOOLEAN"
	}
	return "NULL"
}

// IOxType is the value of the iox::column::type field metadata for this type.
func (t ColumnType) IOxType() string {
	switch t {
	case TypeTag:
		return MetaTag
	case TypeTime:
		return MetaTimestamp
	case TypeInt64:
		return MetaFieldInteger
	case TypeUint64:
		return MetaFieldUInteger
	case TypeFloat64:
		return MetaFieldFloat
	case TypeString:
		return MetaFieldString
	case TypeBool:
		return MetaFieldBoolean
	}
	return ""
}

// ColumnTypeFromIOx is the inverse of IOxType.
func ColumnTypeFromIOx(meta string) ColumnType {
	for t := TypeTag; t <= TypeBool; t++ {
		if t.IOxType() == meta {
			return t
		}
	}
	return TypeUnknown
}

// Field returns the Arrow field for a column: its Arrow type, nullable, and
// the iox::column::type metadata naming its role and type.
func Field(name string, t ColumnType) arrow.Field {
	return arrow.Field{
		Name:     name,
		Type:     t.ArrowType(),
		Nullable: t != TypeTime,
		Metadata: arrow.NewMetadata([]string{MetaColumnType}, []string{t.IOxType()}),
	}
}

// ColumnTypeOf reads a column's type back from an Arrow field built by Field.
// It returns TypeUnknown when the field carries no iox::column::type metadata.
func ColumnTypeOf(f arrow.Field) ColumnType {
	v, ok := f.Metadata.GetValue(MetaColumnType)
	if !ok {
		return TypeUnknown
	}
	return ColumnTypeFromIOx(v)
}
