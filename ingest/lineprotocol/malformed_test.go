package lineprotocol

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// malformedLines are lines every writer must have refused, one per form
// InfluxDB's own parser tests reject, each with a part of the message that
// names what is wrong. tests/e2e/test_lineprotocol_malformed.py posts the
// same forms over HTTP.
var malformedLines = map[string]malformed{
	"unterminated string":           last(`m s="abc 1`, "expected closing quote"),
	"string ending in an escape":    last(`m s="abc\" 1`, "expected closing quote"),
	"escaped space eats the fields": bad(`m\ f=1`, "no fields"),
	"escaped equals in a tag key":   bad(`m,t\=v f=1`, "expected '=' after tag key"),
	"escaped space in a tag value":  bad(`m,t=v\ f=1`, "syntax error"),
	"backslash ending the line":     bad(`m f=1 1\`, "invalid timestamp"),
	"invalid utf-8 in measurement":  bad("m\xff f=1", "invalid utf-8"),
	"invalid utf-8 in tag key":      bad("m,\xfe=v f=1", "invalid utf-8"),
	"invalid utf-8 in tag value":    bad("m,t=\xc3\x28 f=1", "invalid utf-8"),
	"invalid utf-8 in field key":    bad("m f\xff=1", "invalid utf-8"),
	"invalid utf-8 in string":       bad("m s=\"\xed\xa0\x80\"", "invalid utf-8"),
	"field without value":           bad("m f= 1", "unrecognized type"),
	"field without equals":          bad("m f 1", "want '='"),
	"field without key":             bad("m =1 1", "start of field key"),
	"trailing comma after fields":   bad("m f=1,", "field key"),
	"empty field between commas":    bad("m f=1,,g=2", "start of field key"),
	"no fields":                     bad("m,t=a", "no fields"),
	"tag without value":             bad("m,t= f=1", "expected tag value"),
	"tag without key":               bad("m,=v f=1", "syntax error"),
	"comma without tag":             bad("m, f=1", "expected tag key"),
	"empty measurement":             bad(",t=a f=1", "start of measurement"),
	"duplicate field, two types":    bad(`m f=1,f="x"`, `field "f" appears twice, as float and as string`),
	"duplicate tag":                 bad("m,t=a,t=b f=1", `duplicate tag "t"`),
	"duplicate tag, same value":     bad("m,t=a,t=a f=1", `duplicate tag "t"`),
	"tag and field of one name":     bad("m,f=a f=1", `tag and field both named "f"`),
	"float with integer suffix":     bad("m f=1.5i", `invalid integer value "1.5"`),
	"exponent with integer suffix":  bad("m f=1e5i", `invalid integer value "1e5"`),
	"float with unsigned suffix":    bad("m f=1.5u", `invalid unsigned integer value "1.5"`),
	"negative unsigned":             bad("m f=-1u", `invalid unsigned integer value "-1"`),
	"unknown suffix":                bad("m f=1x", `invalid float value "1x"`),
	"double suffix":                 bad("m f=1ii", `invalid integer value "1i"`),
	"plus sign":                     bad("m f=+1i", "unrecognized type"),
	"boolean with junk":             bad("m f=TRUE1", `invalid boolean value "TRUE1"`),
	"mixed case boolean":            bad("m f=tRue", `invalid boolean value "tRue"`),
	"NaN":                           bad("m f=NaN", "unrecognized type"),
	"infinity":                      bad("m f=-Inf", `invalid float value "-Inf"`),
	"integer above int64":           bad("m f=9223372036854775808i", "integer value 9223372036854775808 is out of range"),
	"integer below int64":           bad("m f=-9223372036854775809i", "integer value -9223372036854775809 is out of range"),
	"unsigned above uint64":         bad("m f=18446744073709551616u", "unsigned integer value 18446744073709551616 is out of range"),
	"float above float64":           bad("m f=1e400", "float value 1e400 is out of range"),
	"timestamp above int64":         bad("m f=1 9223372036854775808", "timestamp 9223372036854775808 is out of range"),
	"timestamp below int64":         bad("m f=1 -9223372036854775809", "is out of range"),
	"timestamp overflowing in s":    bad("m f=1 9300000000", "in precision s is out of range", Options{Precision: PrecisionSecond}),
	"timestamp not a number":        bad("m f=1 abc", `invalid timestamp ("abc")`),
	"fractional timestamp":          bad("m f=1 1.5", `invalid timestamp ("1.5")`),
	"hexadecimal timestamp":         bad("m f=1 0x10", `invalid timestamp ("0x10")`),
	"exponent timestamp":            bad("m f=1 1e9", `invalid timestamp ("1e9")`),
	"trailing garbage":              bad("m f=1 1 extra", `unexpected text after timestamp ("extra")`),
	"two timestamps":                bad("m f=1 1 2", `unexpected text after timestamp ("2")`),
	"NUL in measurement":            bad("m\x00 f=1", `found '\x00'`),
	"NUL starting the line":         bad("\x00 f=1", `found at start of measurement`),
	"NUL in tag value":              bad("m,t=a\x00b f=1", `found '\x00'`),
	"NUL in field key":              bad("m f\x00=1", `found '\x00'`),
	"NUL after a number":            bad("m f=1\x00 1", `invalid float value "1\x00"`),
	"time as a tag":                 bad("m,time=x f=1", `tag name "time" is reserved`),
	"time as a field":               bad("m time=1", `field name "time" is reserved`),
	"measurement name too long":     bad(strings.Repeat("m", MaxNameBytes+1)+" f=1", "measurement name"),
	"line over the limit":           bad("m s=\""+strings.Repeat("x", 100)+"\"", "more than the limit of 64", Options{MaxLineBytes: 64}),
	"type conflict with the catalog": bad("good,k=c f=1i", `column "f" is float64 (float) in the catalog, but this line writes int64 (integer)`, Options{Lookup: func(table, column string) (catalog.ColumnType, bool) {
		if table == "good" && column == "f" {
			return catalog.TypeFloat64, true
		}
		return catalog.TypeUnknown, false
	}}),
}

type malformed struct {
	line string
	msg  string
	opts Options
	// last puts the line at the end of the body: an open string value
	// runs on over the following lines (strings may hold newlines), so
	// it would swallow the good line after it.
	last bool
}

func last(line, msg string) malformed {
	m := bad(line, msg)
	m.last = true
	return m
}

func bad(line, msg string, opts ...Options) malformed {
	m := malformed{line: line, msg: msg}
	if len(opts) > 0 {
		m.opts = opts[0]
	}
	return m
}

// Each malformed line, between two good ones (or after them), is rejected
// alone: one error naming its line and quoting it, both good lines kept.
func TestParse_Malformed(t *testing.T) {
	for name, tc := range malformedLines {
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			opts := tc.opts
			if opts.Precision == PrecisionAuto {
				opts.Precision = PrecisionNanosecond
			}
			body := "good,k=a f=1 1\n" + tc.line + "\ngood,k=b f=2 3\n"
			if tc.last {
				body = "good,k=a f=1 1\ngood,k=b f=2 3\n" + tc.line
			}
			got := parse(t, mem, body, opts)
			require.Len(t, got.Errors, 1, "errors: %v", got.Errors)
			e := got.Errors[0]
			if tc.last {
				require.Equal(t, 3, e.Line)
			} else {
				require.Equal(t, 2, e.Line)
			}
			require.Contains(t, e.Message, tc.msg)
			require.Equal(t, truncate([]byte(tc.line), maxOriginalBytes), e.Original)
			require.Equal(t, 2, got.Lines)
			unit := int64(1)
			if opts.Precision == PrecisionSecond {
				unit = 1e9
			}
			require.Equal(t, []tableDump{{
				Name: "good", Cols: []string{"k:tag", "f:float64", "time:time"},
				Data: map[string][]any{"k": {"a", "b"}, "f": {1.0, 2.0}, "time": {1 * unit, 3 * unit}},
			}}, got.Tables)
		})
	}
}

// Accepted in InfluxDB and here: forms that look odd but are valid.
func TestParse_OddButValid(t *testing.T) {
	for name, tc := range map[string]struct {
		line string
		want map[string]any
	}{
		"unknown escape kept":       {`m s="a\q" 1`, map[string]any{"s": `a\q`}},
		"escaped backslash":         {`m s="a\\" 1`, map[string]any{"s": `a\`}},
		"NUL inside a string":       {"m s=\"a\x00b\" 1", map[string]any{"s": "a\x00b"}},
		"unicode names and values":  {`m,tä=ü fé="ö" 1`, map[string]any{"tä": "ü", "fé": "ö"}},
		"leading zeros":             {"m f=007i 1", map[string]any{"f": int64(7)}},
		"bare decimal point":        {"m f=.5,g=5. 1", map[string]any{"f": 0.5, "g": 5.0}},
		"capitalised booleans":      {"m a=True,b=FALSE,c=t,d=F 1", map[string]any{"a": true, "b": false, "c": true, "d": false}},
		"negative zero timestamp":   {"m f=1 -0", map[string]any{"time": int64(0)}},
		"duplicate field last wins": {"m f=1,g=2,f=3 1", map[string]any{"f": 3.0, "g": 2.0}},
		"extra spaces":              {"m,t=a  f=1  1", map[string]any{"t": "a", "f": 1.0, "time": int64(1)}},
	} {
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			got := parse(t, mem, tc.line, Options{Precision: PrecisionNanosecond})
			require.Empty(t, got.Errors)
			require.Len(t, got.Tables, 1)
			for col, v := range tc.want {
				require.Equal(t, []any{v}, got.Tables[0].Data[col], "column %q", col)
			}
		})
	}
}
