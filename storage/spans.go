package storage

// spans is a bounded set of disjoint, sorted, inclusive time ranges in
// nanoseconds. It only ever grows: when adding a range would make more than
// a limit of ranges, the two neighbours with the smallest gap between them are
// merged, widening the covered set. So a spans may cover times that were
// never added, but never misses one that was — callers rely on this:
// "outside every span" proves a time was never added.
//
// The zero value is empty. Memory: 16 bytes per range, at most its limit of ranges.
type spans struct {
	r []TimeRange
}

// contains reports whether t lies in some range.
func (s *spans) contains(t int64) bool {
	i := s.search(t)
	return i < len(s.r) && s.r[i].Min <= t
}

// search returns the index of the first range whose Max is ≥ t.
func (s *spans) search(t int64) int {
	lo, hi := 0, len(s.r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.r[m].Max < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// add covers [lo, hi] (lo ≤ hi), keeping at most limit ranges, and reports
// whether the covered set changed.
func (s *spans) add(lo, hi int64, limit int) bool {
	i := s.search(lo)
	// Fast path: the common in-order write extends past the last range.
	if i == len(s.r) {
		s.r = append(s.r, TimeRange{lo, hi})
		s.shrink(limit)
		return true
	}
	// Ranges i..j-1 overlap or touch [lo, hi]; they and it become one.
	j := i
	for j < len(s.r) && s.r[j].Min <= hi {
		j++
	}
	if j > i && s.r[i].Min <= lo && s.r[i].Max >= hi {
		return false // already covered
	}
	merged := TimeRange{lo, hi}
	if j > i {
		merged.Min = min(merged.Min, s.r[i].Min)
		merged.Max = max(merged.Max, s.r[j-1].Max)
	}
	switch {
	case j == i: // a gap: insert
		s.r = append(s.r, TimeRange{})
		copy(s.r[i+1:], s.r[i:])
		s.r[i] = merged
	default:
		s.r[i] = merged
		s.r = append(s.r[:i+1], s.r[j:]...)
	}
	s.shrink(limit)
	return true
}

// shrink merges the two neighbours nearest each other until at most limit
// ranges remain (ties: the earliest pair, so old ranges coarsen first).
// Gaps are compared unsigned: the difference of two int64 times fits.
func (s *spans) shrink(limit int) {
	for len(s.r) > limit && len(s.r) > 1 {
		best := 0
		for k := 1; k < len(s.r)-1; k++ {
			if uint64(s.r[k+1].Min-s.r[k].Max) < uint64(s.r[best+1].Min-s.r[best].Max) {
				best = k
			}
		}
		s.r[best].Max = s.r[best+1].Max
		s.r = append(s.r[:best+1], s.r[best+2:]...)
	}
}

// overlaps reports whether [lo, hi] meets some range.
func (s *spans) overlaps(lo, hi int64) bool {
	i := s.search(lo)
	return i < len(s.r) && s.r[i].Min <= hi
}
