package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// Offsets maps a Kafka partition to the offset of the next message to read
// from it.
type Offsets map[int32]int64

// A subscription write is one WAL record holding the rows a subscription
// read and the offsets it reached, so a replay restores both together and
// a consumer resuming from SubscriptionOffsets reads every message exactly
// once:
//
//	| version u8 = 5 | len u16 | key | count u16 |
//	  count × ( | partition i32 | next offset i64 | )
//	  | a write record (version 1), or nothing when no row was read |
//
// Integers are little-endian. The key names the subscription (see
// catalog.Subscription.Key).
const subWriteRecordVersion = 5

func encodeSubWriteRecord(key string, offsets Offsets, write []byte) []byte {
	var buf bytes.Buffer
	buf.WriteByte(subWriteRecordVersion)
	putString16(&buf, key)
	parts := slices.Sorted(maps.Keys(offsets))
	binary.Write(&buf, binary.LittleEndian, uint16(len(parts)))
	for _, p := range parts {
		binary.Write(&buf, binary.LittleEndian, p)
		binary.Write(&buf, binary.LittleEndian, offsets[p])
	}
	buf.Write(write)
	return buf.Bytes()
}

func decodeSubWriteRecord(p []byte) (key string, offsets Offsets, write []byte, err error) {
	r := &reader{b: p}
	if v := r.u8(); v != subWriteRecordVersion {
		return "", nil, nil, fmt.Errorf("%w: subscription write version %d", ErrBadRecord, v)
	}
	key = r.string16()
	n := int(r.u16())
	offsets = make(Offsets, n)
	for range n {
		part := int32(r.u32())
		lo, hi := uint64(r.u32()), uint64(r.u32())
		offsets[part] = int64(lo | hi<<32)
	}
	if r.err != nil {
		return "", nil, nil, r.err
	}
	if key == "" {
		return "", nil, nil, fmt.Errorf("%w: subscription write without a key", ErrBadRecord)
	}
	return key, offsets, r.b, nil
}

// WriteSubscribed writes batches (as Write does, durably) together with
// the offsets subscription key has read up to: the WAL holds both in one
// record, so after any crash SubscriptionOffsets(key) points just past the
// last message whose rows are stored. batches may be empty when a poll
// read nothing to store; the offsets still advance.
func (e *Engine) WriteSubscribed(ctx context.Context, db, key string, batches []TableBatch, offsets Offsets) error {
	if len(offsets) == 0 {
		return fmt.Errorf("%w: a subscription write needs offsets", ErrInvalidWrite)
	}
	return e.write(ctx, db, batches, false, false, key, offsets)
}

// SubscriptionOffsets returns a copy of the offsets subscription key has
// stored (nil if none).
func (e *Engine) SubscriptionOffsets(key string) Offsets {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	return maps.Clone(e.subOffsets[key])
}

// SubscriptionKeys lists the keys with stored offsets, sorted.
func (e *Engine) SubscriptionKeys() []string {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	return slices.Sorted(maps.Keys(e.subOffsets))
}

// ForgetSubscription drops a dropped subscription's offsets from memory;
// the next persist leaves them out of the manifest. (Until then a crash
// brings them back: the subscription manager forgets the keys no
// subscription has at every start.)
func (e *Engine) ForgetSubscription(key string) {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	delete(e.subOffsets, key)
}

// setOffsets records offsets a stored record reached.
func (e *Engine) setOffsets(key string, offsets Offsets) {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	if e.subOffsets == nil {
		e.subOffsets = map[string]Offsets{}
	}
	cur := e.subOffsets[key]
	if cur == nil {
		cur = Offsets{}
		e.subOffsets[key] = cur
	}
	maps.Copy(cur, offsets)
}

// snapshotOffsets copies every subscription's offsets (for the manifest).
func (e *Engine) snapshotOffsets() map[string]Offsets {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	if len(e.subOffsets) == 0 {
		return nil
	}
	out := make(map[string]Offsets, len(e.subOffsets))
	for k, o := range e.subOffsets {
		out[k] = maps.Clone(o)
	}
	return out
}
