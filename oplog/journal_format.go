package oplog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The journal's segment format; see doc.go for the prose description.
// MaxJournalRecord is the largest record (key and body) a Journal
// writes or replays.
const MaxJournalRecord = 64 << 20

const (
	// journalMagic starts every segment this code writes (version 2).
	journalMagic = "GIGWAL2\n"
	// journalMagicV1 starts the segments of version 1, which are still
	// replayed: a store upgraded over a journal it did not flush loses
	// nothing.
	journalMagicV1 = "GIGWAL1\n"
	// journalHeader is the length of a frame's header (a record's, in
	// version 1): its content's length and CRC-32C, little endian.
	journalHeader = 8
	// maxJournalRecord bounds one record's body: what a journal replays,
	// and what it writes unless LimitRecords lowers it.
	maxJournalRecord = MaxJournalRecord
	// maxJournalFrame bounds a frame's content on disk: one record at
	// most, its reference and lengths.
	maxJournalFrame = maxJournalRecord + 1<<10
	// journalFrameTarget is the content past which a write starts a new
	// frame, and the most it compresses, so that decoding a frame never
	// needs much memory.
	journalFrameTarget = 1 << 20
	// journalCompressMin is the least content a frame is compressed
	// from: below it (one small record, as a sequential writer's), zstd
	// saves little and costs CPU on the path of the fsync.
	journalCompressMin = 256
	journalExt         = ".wal"
)

// The first byte of a frame's content: how the rest is stored.
const (
	frameRaw  = 0 // the entries as they are
	frameZstd = 1 // one zstd frame holding the entries
)

var (
	jencOnce sync.Once
	jenc     *zstd.Encoder
)

// journalEncoder is the zstd encoder of the journal's frames: the fastest
// level, no zstd checksum (the frame's CRC-32C covers the bytes on disk).
func journalEncoder() *zstd.Encoder {
	jencOnce.Do(func() {
		var err error
		jenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false),
			zstd.WithWindowSize(journalFrameTarget), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err)
		}
	})
	return jenc
}

// appendPending appends a record as Enqueue keeps it until it is written:
// its key and body, each after its length (uvarint).
func appendPending(dst, key, body []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

// nextPending cuts the first record off what appendPending appended.
func nextPending(b []byte) (key, body, rest []byte) {
	n, k := binary.Uvarint(b)
	key, b = b[k:k+int(n)], b[k+int(n):]
	n, k = binary.Uvarint(b)
	return key, b[k : k+int(n)], b[k+int(n):]
}

// segmentKeys numbers the keys of one segment: each is written in full
// the first time, as reference 0, and is then the next number from 1.
type segmentKeys map[string]uint64

// encodeFrames appends to dst the frames of the pending records, defining
// in keys the keys they name for the first time in the segment. A frame
// ends once it holds journalFrameTarget bytes; one of journalCompressMin
// bytes or more is compressed when that saves an eighth.
func encodeFrames(dst, pending []byte, keys segmentKeys, scratch []byte) (out, scratchOut []byte) {
	raw := scratch[:0]
	for len(pending) > 0 {
		var key, body []byte
		key, body, pending = nextPending(pending)
		if len(raw) > 0 && len(raw)+len(key)+len(body) > journalFrameTarget {
			dst = appendJournalFrame(dst, raw)
			raw = raw[:0]
		}
		if ref, ok := keys[string(key)]; ok {
			raw = binary.AppendUvarint(raw, ref)
		} else {
			keys[string(key)] = uint64(len(keys) + 1)
			raw = append(raw, 0)
			raw = binary.AppendUvarint(raw, uint64(len(key)))
			raw = append(raw, key...)
		}
		raw = binary.AppendUvarint(raw, uint64(len(body)))
		raw = append(raw, body...)
	}
	if len(raw) > 0 {
		dst = appendJournalFrame(dst, raw)
	}
	return dst, raw
}

// appendJournalFrame appends the frame of entries raw: the header, then
// the content, raw or compressed.
func appendJournalFrame(dst, raw []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, journalHeader)...)
	content := len(dst)
	if len(raw) >= journalCompressMin && len(raw) <= journalFrameTarget {
		dst = append(dst, frameZstd)
		dst = journalEncoder().EncodeAll(raw, dst)
		if len(dst)-content-1 > len(raw)-len(raw)/8 {
			dst = dst[:content] // it does not pay
		}
	}
	if len(dst) == content {
		dst = append(dst, frameRaw)
		dst = append(dst, raw...)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-content))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[content:], crcTable))
	return dst
}

// decodeFrame calls fn with each record of a frame's content (CRC
// checked), resolving references with the segment's keys, which the
// frame's definitions extend. Any error is damage the CRC did not see or
// a frame this code cannot read: ErrCorrupt.
func decodeFrame(content []byte, keys *[][]byte, buf []byte, fn func(key, body []byte) error) ([]byte, error) {
	if len(content) == 0 {
		return buf, fmt.Errorf("%w: empty frame", ErrCorrupt)
	}
	raw := content[1:]
	switch content[0] {
	case frameRaw:
	case frameZstd:
		_, dec := codecs()
		var err error
		if buf, err = dec.DecodeAll(raw, buf[:0]); err != nil {
			return buf, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		raw = buf
	default:
		return buf, fmt.Errorf("%w: frame stored as %d", ErrCorrupt, content[0])
	}
	for len(raw) > 0 {
		ref, n := binary.Uvarint(raw)
		if n <= 0 {
			return buf, fmt.Errorf("%w: bad key reference", ErrCorrupt)
		}
		raw = raw[n:]
		var key []byte
		if ref == 0 {
			var err error
			if key, raw, err = cutBytes(raw); err != nil {
				return buf, err
			}
			*keys = append(*keys, bytes.Clone(key)) // buf is decoded into again
		} else if ref > uint64(len(*keys)) {
			return buf, fmt.Errorf("%w: key %d not defined in the segment", ErrCorrupt, ref)
		} else {
			key = (*keys)[ref-1]
		}
		body, rest, err := cutBytes(raw)
		if err != nil {
			return buf, err
		}
		raw = rest
		if err := fn(key, body); err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// cutBytes cuts a length (uvarint) and that many bytes off b.
func cutBytes(b []byte) (v, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: bad length in a frame", ErrCorrupt)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// readJournal calls fn with each record of a segment's content and returns
// the length of the intact prefix. A frame (a record, in version 1) that
// is incomplete, fails its checksum as the last thing in the segment
// (zero bytes aside), or zero bytes at the end, are a torn tail (good <
// len(data)); a bad frame followed by more data, and a whole frame that
// does not decode, are ErrCorrupt. The records of a version 1 segment
// have no key: fn is given nil and the whole record. fn must not keep
// key or body.
func readJournal(data []byte, fn func(key, body []byte) error) (good int64, err error) {
	if len(data) < len(journalMagic) {
		if string(data) == journalMagic[:len(data)] || allZero(data) {
			return 0, nil // torn while the segment was being started
		}
		return 0, fmt.Errorf("%w: not a journal segment", ErrCorrupt)
	}
	v1 := false
	switch string(data[:len(journalMagic)]) {
	case journalMagic:
	case journalMagicV1:
		v1 = true
	default:
		return 0, fmt.Errorf("%w: not a journal segment", ErrCorrupt)
	}
	limit := maxJournalFrame
	if v1 {
		limit = maxJournalRecord
	}
	var keys [][]byte
	var buf []byte
	off := len(journalMagic)
	for off < len(data) {
		rest := data[off:]
		if len(rest) < journalHeader {
			return int64(off), nil
		}
		n := int(binary.LittleEndian.Uint32(rest[0:]))
		if n == 0 && allZero(rest) { // frames are never empty
			return int64(off), nil
		}
		if n > limit {
			return 0, fmt.Errorf("%w: frame of %d bytes at offset %d", ErrCorrupt, n, off)
		}
		end := journalHeader + n
		if end > len(rest) {
			return int64(off), nil
		}
		content := rest[journalHeader:end]
		if crc32.Checksum(content, crcTable) != binary.LittleEndian.Uint32(rest[4:]) {
			if allZero(rest[end:]) { // the last frame, torn
				return int64(off), nil
			}
			return 0, fmt.Errorf("%w: checksum mismatch in frame at offset %d", ErrCorrupt, off)
		}
		if v1 {
			err = fn(nil, content)
		} else {
			buf, err = decodeFrame(content, &keys, buf, fn)
		}
		if err != nil {
			return 0, fmt.Errorf("frame at offset %d: %w", off, err)
		}
		off += end
	}
	return int64(off), nil
}
