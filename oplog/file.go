package oplog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/zstd"

	"gigfs.io/gigfs/internal/atomicfile"
)

// The file format; see doc.go for the prose description.
const (
	// skipMagic is the magic of the zstd skippable frame that precedes each
	// data frame (0x184D2A50 + 14).
	skipMagic = 0x184D2A5E
	// skipLen is the length of the skippable frame's content: the length
	// of the data frame and its CRC-32C.
	skipLen = 8
	// headerLen is the length of the whole skippable frame.
	headerLen = 8 + skipLen
	// maxFrame bounds the length of one data frame, compressed.
	maxFrame = 64 << 20
	// maxFrameRecords bounds the uncompressed bytes put in one frame, so
	// a frame never needs much memory to decode.
	maxFrameRecords = 4 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maxFileGrow bounds the room OpenFile sets aside from a file's size
// before reading it (more is read all the same, growing as it comes).
const maxFileGrow = 1 << 30

var (
	encOnce sync.Once
	encoder *zstd.Encoder
	decoder *zstd.Decoder
)

func codecs() (*zstd.Encoder, *zstd.Decoder) {
	encOnce.Do(func() {
		var err error
		encoder, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
		if err != nil {
			panic(err)
		}
		decoder, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxFrameRecords*4))
		if err != nil {
			panic(err)
		}
	})
	return encoder, decoder
}

// appendFrame appends to dst the on-disk form of data: a skippable frame
// holding the length and CRC-32C of the zstd frame that follows, and the
// zstd frame holding data.
func appendFrame(dst, data []byte) []byte {
	enc, _ := codecs()
	start := len(dst)
	dst = append(dst, make([]byte, headerLen)...)
	dst = enc.EncodeAll(data, dst)
	frame := dst[start+headerLen:]
	h := dst[start : start+headerLen]
	binary.LittleEndian.PutUint32(h[0:], skipMagic)
	binary.LittleEndian.PutUint32(h[4:], skipLen)
	binary.LittleEndian.PutUint32(h[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(frame, crcTable))
	return dst
}

// ErrCorrupt reports damage inside a log file that a torn append cannot
// explain: acknowledged data would be lost by cutting it, so loading fails.
var ErrCorrupt = errors.New("corrupt log file")

// readFrames decodes every frame of a log file's content and calls fn with
// the records of each. It returns the length of the intact prefix: when the
// last frame is torn (a crash in the middle of an append), good < len(data)
// and the caller cuts the file there. Damage followed by more data is
// ErrCorrupt.
func readFrames(data []byte, fn func(records []byte) error) (good int64, err error) {
	_, dec := codecs()
	off := 0
	var buf []byte
	for off < len(data) {
		rest := data[off:]
		torn := func() (int64, error) { return int64(off), nil }
		if len(rest) < headerLen {
			return torn()
		}
		if binary.LittleEndian.Uint32(rest[0:]) != skipMagic || binary.LittleEndian.Uint32(rest[4:]) != skipLen {
			if allZero(rest) {
				return torn()
			}
			return 0, fmt.Errorf("%w: bad frame header at offset %d", ErrCorrupt, off)
		}
		n := int(binary.LittleEndian.Uint32(rest[8:]))
		if n > maxFrame {
			return 0, fmt.Errorf("%w: frame of %d bytes at offset %d", ErrCorrupt, n, off)
		}
		end := headerLen + n
		if end > len(rest) {
			// A torn append is the last thing in the file; a frame header
			// after this one means the length itself is damaged.
			if bytes.Contains(rest[headerLen:], frameMark()) {
				return 0, fmt.Errorf("%w: frame at offset %d overruns the next one", ErrCorrupt, off)
			}
			return torn()
		}
		frame := rest[headerLen:end]
		last := end == len(rest)
		if crc32.Checksum(frame, crcTable) != binary.LittleEndian.Uint32(rest[12:]) {
			if last {
				return torn()
			}
			return 0, fmt.Errorf("%w: checksum mismatch in frame at offset %d", ErrCorrupt, off)
		}
		buf, err = dec.DecodeAll(frame, buf[:0])
		if err != nil {
			// The frame is whole (its CRC matches): this is damage or a
			// frame this code cannot read, never a torn append.
			return 0, fmt.Errorf("%w: frame at offset %d: %v", ErrCorrupt, off, err)
		}
		if err := fn(buf); err != nil {
			return 0, fmt.Errorf("frame at offset %d: %w", off, err)
		}
		off += end
	}
	return int64(off), nil
}

// contentSize is about the size of the records of a log file's content:
// the sum of the content sizes its whole frames declare (the encoder
// writes it but for frames of a few hundred bytes, which count their own
// length), at most maxRatio times the content's length. It is room to
// decode them into without growing, not a promise (readFrames checks the
// frames): a damaged file cannot make it large.
func contentSize(data []byte) int {
	limit := maxRatio * len(data)
	n := 0
	for len(data) >= headerLen && binary.LittleEndian.Uint32(data[0:]) == skipMagic {
		end := headerLen + int(binary.LittleEndian.Uint32(data[8:]))
		var h zstd.Header
		if end > len(data) || h.Decode(data[headerLen:end]) != nil {
			break
		}
		switch {
		case !h.HasFCS:
			n += end - headerLen
		case h.FrameContentSize <= maxFrameRecords:
			n += int(h.FrameContentSize)
		}
		data = data[end:]
	}
	return min(n, limit)
}

// maxRatio bounds the content size contentSize trusts a file's frames
// for, as a multiple of their length: well over what records compress to
// (about 30 times when compacted).
const maxRatio = 64

// frameMark is the start of every frame header: the skippable frame's magic
// and content length.
func frameMark() []byte {
	var m [8]byte
	binary.LittleEndian.PutUint32(m[0:], skipMagic)
	binary.LittleEndian.PutUint32(m[4:], skipLen)
	return m[:]
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// A File is an oplog's file: frames appended, made durable before Append
// returns, with concurrent appends sharing one write and one fsync (group
// commit).
type File struct {
	path string

	mu      sync.Mutex
	cond    sync.Cond // signalled when a write ends
	size    int64
	writing bool   // a writer is writing the file
	current *batch // the batch being written
	next    *batch // the batch that the next leader writes
	err     error  // a failed write leaves the file unusable
	closed  bool
	syncs   int64 // fsyncs done, for tests and benchmarks
	appends int64
	frames  int64 // frames written since the last rewrite (or open)
	// rewritten is the size at the last rewrite (or open).
	rewritten int64
}

type batch struct {
	data []byte
	done bool
	err  error
}

// OpenFile opens or creates the log file at path and returns it with the
// records it holds, in file order. A torn last frame is cut off. A File holds
// no file descriptor between writes, so a store may keep many open.
func OpenFile(path string) (*File, []byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		// A new file: make its name durable before anything is appended.
		if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("open log: %w", err)
		}
	} else if os.IsExist(err) {
		f, err = os.OpenFile(path, os.O_RDWR, 0)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open log: %w", err)
	}
	var buf bytes.Buffer // the file in one allocation of its size
	if fi, err := f.Stat(); err == nil && fi.Size() < maxFileGrow {
		buf.Grow(int(fi.Size()) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(f)
	data := buf.Bytes()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read log %s: %w", path, err)
	}
	records := make([]byte, 0, contentSize(data))
	good, err := readFrames(data, func(rec []byte) error {
		records = append(records, rec...)
		return nil
	})
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("load log %s: %w", path, err)
	}
	if good < int64(len(data)) {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("cut torn frame of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("cut torn frame of %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return nil, nil, fmt.Errorf("open log %s: %w", path, err)
	}
	lf := &File{path: path, size: good, rewritten: good}
	lf.cond.L = &lf.mu
	return lf, records, nil
}

// Append writes records (JSON lines) and returns once they are durable.
// Appends that arrive while another is being written are written together
// by the next writer, with one fsync.
func (f *File) Append(records []byte) error {
	b, err := f.enqueue(records)
	if err != nil || b == nil {
		return err
	}
	return f.wait(b)
}

// enqueue adds records to the batch the next writer writes and returns it.
// Batches are written in the order they were made.
func (f *File) enqueue(records []byte) (*batch, error) {
	if len(records) == 0 {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil || f.closed {
		return nil, f.unusable()
	}
	if f.next == nil {
		f.next = &batch{}
	}
	f.next.data = append(f.next.data, records...)
	f.appends++
	return f.next, nil
}

// latest returns the last batch not yet durable, or nil: waiting for it
// waits for every append made so far.
func (f *File) latest() *batch {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next != nil {
		return f.next
	}
	return f.current
}

// wait returns once b is durable, writing it (and what joined it) if no
// writer is at work.
func (f *File) wait(b *batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for !b.done {
		if f.writing {
			f.cond.Wait()
			continue
		}
		if f.err != nil || f.closed {
			return f.unusable()
		}
		// Become the writer of the pending batch: b or one after it.
		w := f.next
		f.next, f.current = nil, w
		f.writing = true
		f.mu.Unlock()
		err := f.write(w.data)
		f.mu.Lock()
		f.writing, f.current = false, nil
		w.done, w.err = true, err
		if err != nil && f.err == nil {
			f.err = err
		}
		f.cond.Broadcast()
	}
	return b.err
}

// appendFrames appends records as frames of at most maxFrameRecords bytes
// each, cut at line ends, so no frame needs much memory to decode.
func appendFrames(dst, records []byte) []byte {
	for len(records) > 0 {
		n := len(records)
		if n > maxFrameRecords {
			n = bytes.LastIndexByte(records[:maxFrameRecords], '\n') + 1
			if n <= 0 {
				n = len(records)
			}
		}
		dst = appendFrame(dst, records[:n])
		records = records[n:]
	}
	return dst
}

// write appends records as frames and fsyncs. Only the writer calls it.
func (f *File) write(data []byte) error {
	buf := appendFrames(nil, data)
	fd, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("append to %s: %w", f.path, err)
	}
	_, err = fd.Write(buf)
	if err == nil {
		err = fd.Sync()
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", f.path, err)
	}
	f.mu.Lock()
	f.size += int64(len(buf))
	f.syncs++
	f.frames++
	f.mu.Unlock()
	return nil
}

func (f *File) unusable() error {
	if f.closed {
		return fmt.Errorf("log %s: closed", f.path)
	}
	return fmt.Errorf("log %s unusable after a failed write: %w", f.path, f.err)
}

// Rewrite replaces the file's content with records, atomically: a temporary
// file is written and fsynced, renamed over the file, and the folder is
// fsynced. snapshot is called once no append is being written and none can
// start until the rewrite ends, so records it returns include every
// acknowledged append; appends that arrive meanwhile wait, then go to the
// new file.
func (f *File) Rewrite(snapshot func() []byte) error {
	f.mu.Lock()
	for f.writing {
		f.cond.Wait()
	}
	if f.err != nil || f.closed {
		defer f.mu.Unlock()
		return f.unusable()
	}
	f.writing = true
	f.mu.Unlock()

	records := snapshot()
	size, err := f.rewrite(records)

	f.mu.Lock()
	defer f.mu.Unlock()
	f.writing = false
	f.cond.Broadcast()
	if err != nil {
		return err
	}
	f.size, f.rewritten, f.frames = size, size, 0
	return nil
}

func (f *File) rewrite(records []byte) (int64, error) {
	out := appendFrames(nil, records)
	if err := atomicfile.WriteFile(f.path, out, 0o600); err != nil {
		return 0, fmt.Errorf("rewrite log: %w", err)
	}
	return int64(len(out)), nil
}

// Size is the file's length in bytes.
func (f *File) Size() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size
}

// Syncs reports how many fsyncs the file's appends did.
func (f *File) Syncs() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs
}

// Close waits for the write in progress and refuses appends from then on.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.writing {
		f.cond.Wait()
	}
	f.closed = true
	f.cond.Broadcast()
	return nil
}
