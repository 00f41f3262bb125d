package lineprotocol

import (
	"bytes"
	"math"
)

// This file finds where entries begin and end, so that errors can name their
// line and quote its text. It does not tokenise: the decoder does that. It
// only needs to know where the decoder might be inside a string field value
// (the one place an entry may hold a raw newline), and it errs on the side
// of "inside": any entry it finds spanning several lines is decoded on its
// own, so a wrong guess costs at most a less precise error for that entry.

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

func countByte(b []byte, c byte) int { return bytes.Count(b, []byte{c}) }

// isBlankOrComment reports whether a physical line (without its '\n') holds
// only blanks, or has '#' as its first non-blank byte.
func isBlankOrComment(text []byte) bool {
	for _, c := range text {
		switch c {
		case ' ', '\t', '\r':
			continue
		case '#':
			return true
		}
		return false
	}
	return true
}

// noFields reports whether a line holds no unescaped space other than at its
// start or end, so that it has at most a measurement and tags.
func noFields(text []byte) bool {
	text = bytes.TrimRight(text, " ")
	i := leadingSpaces(text)
	for ; i < len(text); i++ {
		if text[i] == ' ' && text[i-1] != '\\' {
			return false
		}
		if text[i] == '\n' {
			return false
		}
	}
	return true
}

// leadingSpaces counts the spaces the decoder skips before an entry.
func leadingSpaces(b []byte) int {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i
}

// trimEOL returns the end of the text of body[start:end] without its line
// ending.
func trimEOL(body []byte, start, end int) int {
	if end > start && body[end-1] == '\n' {
		end--
	}
	if end > start && body[end-1] == '\r' {
		end--
	}
	return end
}

// entryEnd returns the index just past the line ending of the entry that
// starts at body[start] (len(body) if it runs to the end of body).
//
// It follows the decoder's lexical rules only as far as needed to see where
// string field values start and end:
//   - in the measurement and tag section a backslash escapes the byte after
//     it; the first unescaped space starts the field section;
//   - a field is key=value, the key ending at the first unescaped '=';
//   - a value starting with '"' is a string, ending at the next '"' that is
//     not part of a \" or \\ pair; it may contain newlines;
//   - any other value ends at ',', ' ', '\r' or '\n';
//   - after a value, ',' starts the next field; anything else ends the field
//     section, and the entry ends at the next newline.
//
// Whenever the decoder would reject the entry before reaching a string it
// recovers by skipping to the next newline, which is also where entryEnd ends
// it, except when it keeps going into fields the decoder never reaches;
// that only makes an entry look longer, which is the safe direction.
func entryEnd(body []byte, start int) int {
	n := len(body)
	toEOL := func(i int) int {
		if j := indexByte(body[i:], '\n'); j >= 0 {
			return i + j + 1
		}
		return n
	}
	i := start
	for i < n && body[i] == ' ' {
		i++
	}
	// Measurement and tags.
	for ; i < n; i++ {
		c := body[i]
		if c == '\n' {
			return i + 1
		}
		if c == ' ' && body[i-1] != '\\' {
			break
		}
	}
	for i < n && body[i] == ' ' {
		i++
	}
	// Fields.
	for i < n {
		// Key.
		k := i
		for i < n {
			c := body[i]
			if c == '\\' && i+1 < n && (body[i+1] == ',' || body[i+1] == '=' || body[i+1] == ' ') {
				i += 2
				continue
			}
			if c == '=' || c == ',' || c == ' ' || c == '\n' || c == '\r' || c < 0x20 || c == 0x7f {
				break
			}
			i++
		}
		if i == k || i >= n || body[i] != '=' {
			return toEOL(i)
		}
		i++ // '='
		if i >= n {
			return n
		}
		// Value.
		switch c := body[i]; {
		case c == '"':
			i++
			for i < n {
				c := body[i]
				if c == '\\' && i+1 < n && (body[i+1] == '\\' || body[i+1] == '"') {
					i += 2
					continue
				}
				if c == '"' {
					break
				}
				i++
			}
			if i >= n {
				return n // unclosed: the decoder reads to the end of input
			}
			i++ // closing quote
		case c == '-' || c == '.' || ('0' <= c && c <= '9') || c == 't' || c == 'T' || c == 'f' || c == 'F':
			for i < n {
				c := body[i]
				if c == ',' || c == ' ' || c == '\r' || c == '\n' {
					break
				}
				i++
			}
		default:
			return toEOL(i)
		}
		if i >= n {
			return n
		}
		if body[i] != ',' {
			return toEOL(i)
		}
		i++
	}
	return n
}

// parseInt64 parses an optionally signed decimal integer.
func parseInt64(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		switch {
		case u > 1<<63:
			return 0, false
		case u == 1<<63:
			return math.MinInt64, true
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// validInt reports whether b has integer syntax (so a parse failure means the
// value is out of range).
func validInt(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func floatBits(f float64) uint64 { return math.Float64bits(f) }

func float64frombits(u uint64) float64 { return math.Float64frombits(u) }
