package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

const (
	segmentHeaderSize = 8
	segmentVersion    = 1
	// recordHeaderSize is length(4) + crc(4) + seq(8).
	recordHeaderSize = 16
	// maxPayloadSize is the largest payload Append accepts and DecodeRecord
	// believes.
	maxPayloadSize = 1 << 30
	// readBufferSize is the read-ahead used when scanning and replaying.
	readBufferSize = 256 << 10
)

// segmentMagic starts every segment file: "FLWAL\x00" and the format version
// as a little-endian uint16.
var segmentMagic = [segmentHeaderSize]byte{'F', 'L', 'W', 'A', 'L', 0, segmentVersion, 0}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the encoding of one record to dst.
func appendRecord(dst []byte, seq uint64, payload []byte) []byte {
	start := len(dst)
	var h [recordHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:16], seq)
	dst = append(dst, h[:]...)
	dst = append(dst, payload...)
	// The CRC covers seq and payload, which are contiguous.
	crc := crc32.Checksum(dst[start+8:], castagnoli)
	binary.LittleEndian.PutUint32(dst[start+4:start+8], crc)
	return dst
}

// DecodeRecord decodes the record at the start of b. It returns the record's
// seq, its payload (a sub-slice of b) and the number of bytes the record
// occupies. Every error wraps ErrCorrupt; errors for input that ends before
// the record does, or that starts with a zeroed header (preallocated space),
// also wrap io.ErrUnexpectedEOF, which marks a torn write rather than damage.
func DecodeRecord(b []byte) (seq uint64, payload []byte, n int, err error) {
	n, err = recordSize(b)
	if err != nil {
		return 0, nil, 0, err
	}
	if len(b) < n {
		return 0, nil, 0, truncatedError(n, len(b))
	}
	stored := binary.LittleEndian.Uint32(b[4:8])
	if computed := crc32.Checksum(b[8:n], castagnoli); computed != stored {
		return 0, nil, 0, fmt.Errorf("%w: crc mismatch: stored %#08x, computed %#08x", ErrCorrupt, stored, computed)
	}
	return binary.LittleEndian.Uint64(b[8:16]), b[recordHeaderSize:n], n, nil
}

// recordSize checks the record header at the start of b and returns the
// record's total encoded size.
func recordSize(b []byte) (int, error) {
	if len(b) < recordHeaderSize {
		return 0, truncatedError(recordHeaderSize, len(b))
	}
	length := binary.LittleEndian.Uint32(b[0:4])
	if length == 0 && binary.LittleEndian.Uint32(b[4:8]) == 0 {
		return 0, fmt.Errorf("%w: zeroed record header: %w", ErrCorrupt, io.ErrUnexpectedEOF)
	}
	if length > maxPayloadSize {
		return 0, fmt.Errorf("%w: length %d exceeds max %d", ErrCorrupt, length, maxPayloadSize)
	}
	return recordHeaderSize + int(length), nil
}

func truncatedError(need, have int) error {
	return fmt.Errorf("%w: truncated: need %d bytes, have %d: %w", ErrCorrupt, need, have, io.ErrUnexpectedEOF)
}

// checkHeader checks a segment header. A short or zeroed header is a torn
// segment creation (wraps ErrCorrupt and io.ErrUnexpectedEOF); other bad
// magic wraps ErrCorrupt; an unknown version is not corruption but a file
// this code cannot read.
func checkHeader(b []byte) error {
	torn := fmt.Errorf("%w: torn segment header: %w", ErrCorrupt, io.ErrUnexpectedEOF)
	if len(b) < segmentHeaderSize {
		if bytes.HasPrefix(segmentMagic[:], b) || isZero(b) {
			return torn
		}
		return fmt.Errorf("%w: bad segment magic %q", ErrCorrupt, b)
	}
	if isZero(b) {
		return torn
	}
	if !bytes.Equal(b[:6], segmentMagic[:6]) {
		return fmt.Errorf("%w: bad segment magic %q", ErrCorrupt, b[:6])
	}
	if v := binary.LittleEndian.Uint16(b[6:8]); v != segmentVersion {
		return fmt.Errorf("unsupported segment version %d", v)
	}
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// recordReader reads and verifies the records of one segment in order.
type recordReader struct {
	br  *bufio.Reader
	off int64 // file offset of the next record
	end int64 // file offset where data ends
	buf []byte
}

// reset points rr at a file positioned at off, with data up to end.
func (rr *recordReader) reset(r io.Reader, off, end int64) {
	if rr.br == nil {
		rr.br = bufio.NewReaderSize(r, readBufferSize)
	} else {
		rr.br.Reset(r)
	}
	rr.off, rr.end = off, end
}

// next returns the next record; the payload is valid until the next call.
// It returns io.EOF at the end of data, an error wrapping ErrCorrupt for a bad
// record (rr.off then still points at it), or an I/O error.
func (rr *recordReader) next() (seq uint64, payload []byte, err error) {
	avail := rr.end - rr.off
	if avail <= 0 {
		return 0, nil, io.EOF
	}
	h := int(min(avail, recordHeaderSize))
	rr.buf = ensureLen(rr.buf[:0], h)
	if _, err := io.ReadFull(rr.br, rr.buf); err != nil {
		return 0, nil, readError(err)
	}
	n, err := recordSize(rr.buf)
	if err != nil {
		return 0, nil, err
	}
	if int64(n) > avail {
		return 0, nil, truncatedError(n, int(avail))
	}
	rr.buf = ensureLen(rr.buf, n)
	if _, err := io.ReadFull(rr.br, rr.buf[h:]); err != nil {
		return 0, nil, readError(err)
	}
	seq, payload, _, err = DecodeRecord(rr.buf)
	if err != nil {
		return 0, nil, err
	}
	rr.off += int64(n)
	return seq, payload, nil
}

// readError maps a file that ended early (it shrank under us) to a torn
// record and passes other I/O errors through.
func readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: file ended early: %w", ErrCorrupt, io.ErrUnexpectedEOF)
	}
	return err
}

// ensureLen returns b resized to n bytes, keeping its contents.
func ensureLen(b []byte, n int) []byte {
	if cap(b) < n {
		nb := make([]byte, n)
		copy(nb, b)
		return nb
	}
	return b[:n]
}

// scanResult describes the valid prefix of a segment file.
type scanResult struct {
	end     int64  // offset just past the last valid record; 0 if the header is bad
	lastSeq uint64 // seq of the last valid record; firstSeq-1 if none
	corrupt error  // why the scan stopped before the end of the file; nil if it did not
}

// scanSegment reads and verifies every record of a segment. Records must
// carry consecutive seqs starting at firstSeq and none above maxSeq (the seq
// before the next segment's first). Corruption is reported in the result;
// the error is for I/O failures and unreadable versions.
func scanSegment(path string, firstSeq, maxSeq uint64) (scanResult, error) {
	res := scanResult{lastSeq: firstSeq - 1}
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, err
	}
	var hdr [segmentHeaderSize]byte
	hn, err := io.ReadFull(f, hdr[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return res, err
	}
	if err := checkHeader(hdr[:hn]); err != nil {
		if !errors.Is(err, ErrCorrupt) {
			return res, err
		}
		res.corrupt = err
		return res, nil
	}
	res.end = segmentHeaderSize
	var rr recordReader
	rr.reset(f, segmentHeaderSize, st.Size())
	for {
		seq, _, err := rr.next()
		switch {
		case errors.Is(err, io.EOF):
			return res, nil
		case errors.Is(err, ErrCorrupt):
			res.corrupt = err
			return res, nil
		case err != nil:
			return res, err
		}
		if want := res.lastSeq + 1; seq != want {
			res.corrupt = fmt.Errorf("%w: seq %d, want %d", ErrCorrupt, seq, want)
			return res, nil
		}
		if seq > maxSeq {
			res.corrupt = fmt.Errorf("%w: seq %d overlaps the next segment, which starts at %d", ErrCorrupt, seq, maxSeq+1)
			return res, nil
		}
		res.lastSeq = seq
		res.end = rr.off
	}
}

// createSegment creates the segment file for firstSeq in dir, writes and
// fsyncs its header and fsyncs dir. The file is open for appending.
func createSegment(dir string, firstSeq uint64) (*os.File, *segment, error) {
	path := filepath.Join(dir, segmentName(firstSeq))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	if err := writeHeader(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		os.Remove(path) // so a retry can create it again
		return nil, nil, err
	}
	seg := &segment{path: path, firstSeq: firstSeq, lastSeq: firstSeq - 1, size: segmentHeaderSize}
	return f, seg, nil
}

// writeHeader writes the segment header to an empty file and fsyncs it.
func writeHeader(f *os.File) error {
	if _, err := f.Write(segmentMagic[:]); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync header: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory so that file creations and removals in it are
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// CreateEmpty makes dir a WAL whose next record gets seq firstSeq: one
// segment holding only its header. Restoring a backup uses it, so that new
// records are numbered after every record the backup's files came from.
func CreateEmpty(dir string, firstSeq uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, _, err := createSegment(dir, firstSeq)
	if err != nil {
		return err
	}
	return f.Close()
}
