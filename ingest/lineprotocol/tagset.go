package lineprotocol

import (
	"bytes"
	"hash/maphash"

	lp "github.com/influxdata/line-protocol/v2/lineprotocol"
)

// Tag-set reuse.
//
// A body from one agent repeats each series' measurement and tag section on
// every line: the TSBS cpu day sends 100 distinct sections in each
// 10,000-line body, 190 bytes each. Tokenising them again is the largest
// part of parsing (NextTag took 28% of BenchmarkParseTSBSCPU), so within a
// body a section whose exact bytes were already parsed is not decoded again:
// the line's table and tag values are taken from an earlier line that had
// it, and the decoder reads only the line's fields and timestamp, from a
// copy of the run in which the section is replaced by a one-byte
// measurement.
//
// This is exact because of how the decoder reads a section: no byte of the
// measurement or tag section is escapable by a backslash but a space, a
// comma or an equals sign, so a line that decodes has its section end at
// its first space not preceded by a backslash (seriesEnd), and equal bytes
// there decode to equal tags. Only a line that was accepted lends its
// section, so every column it names exists with the tag type. A line whose
// fields fail on the short path is parsed again as written with a decoder
// of its own, so rejected lines get the messages and column numbers they
// always got. FuzzParse checks that a body parses the same with and without
// reuse.
//
// A section is parsed for reuse the second time it is seen; the first
// sighting costs only a hash in a map. A body whose lines seldom share a
// section (each series once, as a Telegraf flush sends) stops looking
// after tagSetProbe lines.

// tagSet is a measurement and tag section parsed before in this body.
type tagSet struct {
	key   []byte // the section's bytes
	hash  uint64 // maphash of key under tagSetSeed
	ready bool   // filled from an accepted line
	t     *table // its table
	cells []cell // its tag values: off and end index vals
	vals  []byte
}

const (
	// tagSetProbe is how many lines a body looks up before reuse is
	// given up when fewer than a quarter of them found their section.
	tagSetProbe = 1024
	// maxTagSets bounds the sections remembered per body, parsed and seen
	// once each.
	maxTagSets = 1 << 16
)

var (
	// reuseTagSets is switched off by tests to compare both paths.
	reuseTagSets = true
	tagSetSeed   = maphash.MakeSeed()
)

// seriesEnd returns the length of the measurement and tag section of a
// line: the index of its first space not preceded by a backslash. It
// returns 0 when the line starts with a space or has no such space.
func seriesEnd(text []byte) int {
	i := 0
	for {
		j := bytes.IndexByte(text[i:], ' ')
		if j < 0 {
			return 0
		}
		i += j
		if i == 0 {
			return 0
		}
		if text[i-1] != '\\' {
			return i
		}
		i++
	}
}

// lookupTagSets marks each span of the run chunk (starting at body offset
// base) whose section is known (span.set, span.cut) or seen for the second
// time (span.fill: the line to parse it from), and returns what the
// decoder is to read: chunk itself when no line can skip its section, else
// a copy in which each such line's section is replaced by "m". A section
// seen once costs a hash and a map entry, no allocation, so a body of
// distinct series pays little before reuse gives up on it.
func (p *parser) lookupTagSets(chunk []byte, base int) []byte {
	if !reuseTagSets || p.noTagSets {
		return chunk
	}
	if p.tagSets == nil {
		p.tagSets = make(map[uint64]*tagSet)
		p.seenSets = make(map[uint64]struct{})
	}
	hits := 0
	for i := range p.spans {
		if p.looked >= tagSetProbe && 4*p.found < p.looked {
			// Few lines share a section: parse the rest as written.
			p.noTagSets, p.tagSets, p.seenSets = true, nil, nil
			break
		}
		sp := &p.spans[i]
		text := chunk[sp.start-base : sp.end-base]
		k := seriesEnd(text)
		if k == 0 {
			continue
		}
		p.looked++
		h := maphash.Bytes(tagSetSeed, text[:k])
		if ts := p.tagSets[h]; ts != nil {
			if bytes.Equal(ts.key, text[:k]) { // else another section with the same hash: parse as written
				sp.set, sp.cut = ts, k
				hits++
				p.found++
			}
			continue
		}
		if _, ok := p.seenSets[h]; !ok {
			if len(p.seenSets) < maxTagSets {
				p.seenSets[h] = struct{}{}
			}
			continue
		}
		if len(p.tagSets) < maxTagSets {
			ts := &tagSet{key: bytes.Clone(text[:k]), hash: h}
			p.tagSets[h] = ts
			sp.set, sp.cut, sp.fill = ts, k, true
		}
	}
	if hits == 0 {
		return chunk
	}
	rw := p.rewritten[:0]
	for i := range p.spans {
		sp := &p.spans[i]
		// The line with its own line ending, exactly as in the body.
		from, to := sp.start-base, len(chunk)
		if i+1 < len(p.spans) {
			to = p.spans[i+1].start - base
		}
		if sp.set != nil && !sp.fill {
			rw = append(rw, 'm')
			from += sp.cut
		}
		rw = append(rw, chunk[from:to]...)
	}
	p.rewritten = rw
	return rw
}

// endTagSets forgets the sections of the run whose line to parse them from
// was rejected: a later line may lend them.
func (p *parser) endTagSets() {
	if p.tagSets == nil {
		return
	}
	for i := range p.spans {
		if sp := &p.spans[i]; sp.fill && !sp.set.ready {
			delete(p.tagSets, sp.set.hash)
		}
	}
}

// fillTagSet records the accepted entry just committed to t, whose first
// ntags cells are its tags, as ts.
func (p *parser) fillTagSet(ts *tagSet, t *table, ntags int) {
	ts.t = t
	ts.cells = append([]cell(nil), p.row[:ntags]...)
	if ntags > 0 {
		ts.vals = append([]byte(nil), p.arena[:p.row[ntags-1].end]...)
	}
	ts.ready = true
}

// entryFromSet reads an entry whose section is ts's from d, which is at a
// line holding only a placeholder measurement, the fields and the
// timestamp. Like entry, it returns the table for commit or rollback.
func (p *parser) entryFromSet(d *lp.Decoder, line int, ts *tagSet) (*table, int64, error) {
	p.seq++
	p.newCols = p.newCols[:0]
	p.arena = append(p.arena[:0], ts.vals...)
	p.row = append(p.row[:0], ts.cells...)
	for i := range ts.cells {
		ts.cells[i].col.seen = p.seq
	}
	ts64, err := p.fields(d, ts.t, len(ts.cells), line)
	return ts.t, ts64, err
}
