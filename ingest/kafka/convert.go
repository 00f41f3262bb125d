package kafka

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	lp "github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fletchdb/fletch/storage/catalog"
)

// DeadLetterTable is the table, in the subscription's database, that keeps
// each message (or line of one) that could not be stored: tags
// subscription and topic; fields partition, offset, reason and message
// (the first 4 KiB); time is when it was read.
const DeadLetterTable = "dead_letters"

const deadMessageBytes = 4 << 10

// deadLetter is one unstorable message or line.
type deadLetter struct {
	partition int32
	offset    int64
	reason    string
	message   []byte
}

// body is the line protocol of a poll's messages, and which message each
// line came from.
type body struct {
	lp    []byte
	lines int // newlines in lp
	// firstLine[i] is the 1-based number of the first line of recs[i].
	firstLine []int
	recs      []*kgo.Record
}

// recordOfLine returns the message a 1-based line number of the body came
// from.
func (b *body) recordOfLine(line int) *kgo.Record {
	i := sort.Search(len(b.firstLine), func(i int) bool { return b.firstLine[i] > line }) - 1
	if i < 0 {
		i = 0
	}
	return b.recs[i]
}

// add appends one message's line protocol (ending it with a newline).
func (b *body) add(rec *kgo.Record, text []byte) {
	b.firstLine = append(b.firstLine, b.lines+1)
	b.recs = append(b.recs, rec)
	start := len(b.lp)
	b.lp = append(b.lp, text...)
	if len(text) == 0 || text[len(text)-1] != '\n' {
		b.lp = append(b.lp, '\n')
	}
	b.lines += bytes.Count(b.lp[start:], []byte{'\n'})
}

// jsonLine turns one JSON object into a line of line protocol for table:
// sub.TimeField is the timestamp (a number in sub.TimeUnit, or RFC 3339
// text; absent, the message's Kafka timestamp), sub.Tags are tags, and
// every other number, boolean or string is a field (numbers as floats, so
// a key keeps one type whatever its values look like). Nested values and
// nulls are skipped.
func jsonLine(sub catalog.Subscription, value []byte, kafkaTime time.Time) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value in the message")
	}
	ts := kafkaTime
	if v, ok := obj[sub.TimeField]; ok {
		t, err := jsonTime(v, sub.TimeUnit)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", sub.TimeField, err)
		}
		ts = t
	}
	isTag := map[string]bool{}
	var tags []string
	for _, k := range sub.Tags {
		isTag[k] = true
		if v, ok := obj[k]; ok && v != nil {
			tags = append(tags, k)
		}
	}
	sort.Strings(tags)
	var enc lp.Encoder
	enc.SetPrecision(lp.Nanosecond)
	enc.StartLine(sub.Table)
	for _, k := range tags {
		s, ok := scalarText(obj[k])
		if !ok || s == "" {
			continue
		}
		enc.AddTag(k, s)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if k != sub.TimeField && !isTag[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	fields := 0
	for _, k := range keys {
		var v lp.Value
		switch x := obj[k].(type) {
		case json.Number:
			f, err := x.Float64()
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, fmt.Errorf("field %q: number %s out of range", k, x)
			}
			v = lp.MustNewValue(f)
		case bool:
			v = lp.MustNewValue(x)
		case string:
			if !utf8.ValidString(x) {
				return nil, fmt.Errorf("field %q: not UTF-8", k)
			}
			v = lp.MustNewValue(x)
		default:
			continue
		}
		enc.AddField(k, v)
		fields++
	}
	if fields == 0 {
		return nil, fmt.Errorf("no field: the object has no number, boolean or string besides the time and tags")
	}
	enc.EndLine(ts)
	if err := enc.Err(); err != nil {
		return nil, err
	}
	return enc.Bytes(), nil
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// jsonTime reads a time: a number in unit (s, ms, us, ns) or RFC 3339 text.
func jsonTime(v any, unit string) (time.Time, error) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			switch unit {
			case "s":
				return time.Unix(n, 0), nil
			case "ms":
				return time.UnixMilli(n), nil
			case "us":
				return time.UnixMicro(n), nil
			default:
				return time.Unix(0, n), nil
			}
		}
		f, err := x.Float64()
		if err != nil {
			return time.Time{}, fmt.Errorf("time %s is not a number", x)
		}
		scale := map[string]float64{"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1}[unit]
		ns := f * scale
		if math.IsNaN(ns) || math.Abs(ns) > math.MaxInt64 {
			return time.Time{}, fmt.Errorf("time %s is out of range", x)
		}
		return time.Unix(0, int64(ns)), nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q is not RFC 3339", x)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time is neither a number nor RFC 3339 text")
}

// deadLetterLines is the line protocol of dead letters, stamped now, now+1
// ns, ... so no two share a series and time.
func deadLetterLines(sub catalog.Subscription, dead []deadLetter, now time.Time) []byte {
	var enc lp.Encoder
	enc.SetPrecision(lp.Nanosecond)
	for i, d := range dead {
		msg := d.message
		if len(msg) > deadMessageBytes {
			msg = msg[:deadMessageBytes]
		}
		enc.StartLine(DeadLetterTable)
		enc.AddTag("subscription", sub.Name)
		enc.AddTag("topic", sub.Topic)
		enc.AddField("message", lp.MustNewValue(strings.ToValidUTF8(string(msg), "\uFFFD")))
		enc.AddField("offset", lp.MustNewValue(d.offset))
		enc.AddField("partition", lp.MustNewValue(int64(d.partition)))
		enc.AddField("reason", lp.MustNewValue(strings.ToValidUTF8(d.reason, "\uFFFD")))
		enc.EndLine(now.Add(time.Duration(i)))
	}
	return enc.Bytes()
}

// measurement returns a line's table name (up to its first unescaped comma
// or space), unescaped.
func measurement(line []byte) string {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' && i+1 < len(line) {
			i++
			b.WriteByte(line[i])
			continue
		}
		if c == ',' || c == ' ' {
			break
		}
		b.WriteByte(c)
	}
	return b.String()
}
