/*
Package wal implements Fletch's write-ahead log: a directory of segment
files holding opaque, CRC-checked records numbered by a sequence number
(seq) that starts at 1 and grows by one per record, across segments and
restarts.

# Usage

Open the log, replay what a previous run left behind, then append:

	w, err := wal.Open(wal.Options{Dir: "/var/lib/fletch/wal"})
	if err != nil {
		return err
	}
	defer w.Close()

	// Rebuild in-memory state from every record after the last checkpoint.
	err = w.Replay(checkpointSeq, func(seq uint64, payload []byte) error {
		return apply(seq, payload) // payload is only valid during the call
	})

	// Log a write; with sync=true Append returns once the record is on
	// stable storage. Concurrent appenders share fsyncs (group commit).
	seq, err := w.Append(encodedBatch, true)

When the in-memory state up to some seq is persisted elsewhere, drop the
segments that only hold older records:

	last, err := w.Rotate()     // close the active segment
	persistThrough(last)        // e.g. flush the memtable
	err = w.RemoveThrough(last) // delete segments fully covered by last

A failed write or fsync is sticky: the WAL then refuses every Append, since
it can no longer tell what reached the disk. Close the WAL and reopen it.

# Files

Options.Dir holds one file per segment, named by the seq of the first record
the segment holds (or will hold), as 20 zero-padded decimal digits, so that
names sort in seq order:

	00000000000000000001.wal   records 1 .. 4711 (closed)
	00000000000000004712.wal   records 4712 .. 9000 (closed)
	00000000000000009001.wal   records 9001 ..      (active)

A new segment is started when the active one has grown past
Options.SegmentSizeBytes (checked before each batch is written, so a segment
may exceed it by one batch) and on Rotate. A segment's records end where the
next segment's begin, so "every record in segment i has seq <= next segment's
first seq - 1" is what RemoveThrough uses. Segments are created with their
header written and fsynced, and the directory fsynced.

# Segment layout

Integers are little-endian.

	+---+---+---+---+---+---+---+---+
	| F | L | W | A | L |0x0|  ver  |   8-byte header; ver = 1 (uint16)
	+---+---+---+---+---+---+---+---+
	|           record 1            |
	+-------------------------------+
	|           record 2            |
	+-------------------------------+
	|              ...              |

Each record:

	 0               4               8                              16
	+---------------+---------------+-------------------------------+
	| length uint32 |  crc  uint32  |          seq  uint64          |
	+---------------+---------------+-------------------------------+
	| payload (length bytes, at most 1 GiB) ...
	+--------------------------------------------

crc is CRC-32C (Castagnoli) over the 8 seq bytes followed by the payload.
Within a segment, seqs are consecutive and start at the seq in the file name.

# Recovery

Open reads every segment and verifies every record. A record is bad if it is
cut short, has a zero length and zero crc (preallocated or zeroed space,
treated like a cut), has a length over 1 GiB, fails its crc, or carries the
wrong seq.

  - In the last segment, a bad record is taken as the torn tail of an
    interrupted write: the file is truncated at the record's offset, logged
    at Warn with file, offset and reason, and appending continues there.
    A torn segment header (short or all zeros) is rewritten. A header with
    foreign magic or an unknown version makes Open fail rather than
    overwrite it.
  - In an earlier segment, a bad record is damage: it is logged at Error
    with file and offset, the rest of that segment is skipped by Replay,
    and replay goes on with the next segment. Nothing is deleted.

Appends continue from the last valid seq. DecodeRecord reports every problem
as ErrCorrupt; a cut-short or zeroed record also matches io.ErrUnexpectedEOF.
*/
package wal
