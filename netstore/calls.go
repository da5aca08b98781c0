package netstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"gigfs.io/gigfs/internal/atomicfile"
)

// DefaultCallLog is how many calls per user the store shows in the user's
// calls file (Config.CallLog).
const DefaultCallLog = 1000

// DefaultCallFlush is how long a call's line may wait in memory before
// the background writer writes it (Config.CallFlush).
const DefaultCallFlush = 100 * time.Millisecond

// callPaths bounds the paths one call's line names.
const callPaths = 8

// A Call is one line of a user's call log: what a connection of the user
// did or tried, and which session its store token comes from. The user
// reads the last Config.CallLog of them in /user/<id>/calls, so that a
// session's writes (a lost laptop's last ones) can be told apart.
type Call struct {
	Time    int64    `json:"time"`              // unix ms
	Session string   `json:"session"`           // the session id of the store token ("" for other credentials)
	Call    string   `json:"call"`              // attach, push, write, stream, revoke
	Records int      `json:"records,omitempty"` // records written
	Result  string   `json:"result"`            // "ok", counts of result codes ("accepted 3, duplicate 1"), or "refused: <error>"
	Paths   []string `json:"paths,omitempty"`   // "<type> <path>" of the first records written
	More    int      `json:"more,omitempty"`    // paths written not in Paths
}

// SessionOf returns the session id a store token derives from: its second
// field (<store_id>.<session_id>.<mac>), or "" for a token of another form.
func SessionOf(token string) string {
	f := strings.Split(token, ".")
	if len(f) != 3 {
		return ""
	}
	return f[1]
}

// callLogs are the users' call logs. Per user, in its folder:
// calls.jsonl, the newest calls, appended one line per call; and
// calls.zst, the older ones, compressed. When calls.jsonl holds an eighth
// of Config.CallLog lines (callChunk), they are compressed into one
// frame appended to calls.zst, and calls.jsonl is emptied; when calls.zst
// holds twice Config.CallLog lines, it is rewritten without its oldest
// frames, keeping Config.CallLog lines at least. So the files hold at
// most 2*CallLog + 2*callChunk lines, most of them compressed. Neither is
// fsynced but for that rewrite: the log is for people, and losing its
// last lines in a crash loses no data (a crash between the append of a
// frame and the emptying of calls.jsonl may show those calls twice).
//
// calls.zst is a zstd stream (zstdcat prints it): each frame is preceded
// by a skippable frame (magic 0x184D2A5F) of 8 bytes, the length of the
// zstd frame and its number of lines (little endian), and has zstd's
// content checksum. A frame that is torn or damaged is dropped with one
// log line when the file is opened, the file rewritten without it, and
// nothing else is lost.
//
// Lines are written in batches, one write(2) per user for what is queued:
// the background writer runs Config.CallFlush after the first line that
// finds it idle, or at once when a chunk's worth (callChunk) is queued.
type callLogs struct {
	mu      sync.Mutex // held while the files are written or read
	files   map[string]*callFile
	touched []*callFile // files with lines in buf; guarded by mu

	qmu      sync.Mutex // guards the fields below
	queue    []queuedCall
	spare    []queuedCall // the queue's last slice, reused
	draining bool         // the background writer runs
	timer    *time.Timer  // starts the writer; armed while armed is set
	armed    bool
	closed   bool
}

type callFile struct {
	f      *os.File // calls.jsonl
	buf    []byte   // lines of calls.jsonl not written yet (counted in lines)
	lines  int      // in calls.jsonl
	frames []int    // lines of each frame of calls.zst, oldest first
	old    int      // lines in calls.zst
}

func (u *user) callsFile() string { return filepath.Join(u.dir, "calls.jsonl") }
func (u *user) callsOld() string  { return filepath.Join(u.dir, "calls.zst") }

// callChunk is how many lines calls.jsonl gathers before they are
// compressed, for a log of max calls.
func callChunk(max int) int { return max/8 + 1 }

// callMagic is the magic of the skippable frame before each frame of
// calls.zst (0x184D2A50 + 15).
const callMagic = 0x184D2A5F

var (
	callCodecOnce sync.Once
	callEnc       *zstd.Encoder
	callDec       *zstd.Decoder
)

func callCodecs() (*zstd.Encoder, *zstd.Decoder) {
	callCodecOnce.Do(func() {
		var err error
		if callEnc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true)); err != nil {
			panic(err)
		}
		if callDec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20)); err != nil {
			panic(err)
		}
	})
	return callEnc, callDec
}

// appendCallFrame appends the frame of lines, a whole number of them.
func appendCallFrame(dst, lines []byte) []byte {
	enc, _ := callCodecs()
	start := len(dst)
	dst = append(dst, make([]byte, 16)...)
	dst = enc.EncodeAll(lines, dst)
	binary.LittleEndian.PutUint32(dst[start:], callMagic)
	binary.LittleEndian.PutUint32(dst[start+4:], 8)
	binary.LittleEndian.PutUint32(dst[start+8:], uint32(len(dst)-start-16))
	binary.LittleEndian.PutUint32(dst[start+12:], uint32(bytes.Count(lines, []byte{'\n'})))
	return dst
}

// A callFrame is a frame of calls.zst: where it is and what it holds.
type callFrame struct {
	raw   []byte // header and frame
	lines []byte // decoded
	n     int
}

// readCallFrames decodes calls.zst's content: its good frames, and why
// and where the rest, if any, is not (a torn or damaged frame; after a
// damaged header nothing can be told apart).
func readCallFrames(data []byte) (frames []callFrame, bad error) {
	_, dec := callCodecs()
	for off := 0; off < len(data); {
		rest := data[off:]
		if len(rest) < 16 || binary.LittleEndian.Uint32(rest) != callMagic || binary.LittleEndian.Uint32(rest[4:]) != 8 {
			return frames, fmt.Errorf("%d bytes from offset %d: not a frame header", len(rest), off)
		}
		end := 16 + int(binary.LittleEndian.Uint32(rest[8:]))
		if end > len(rest) {
			return frames, fmt.Errorf("%d bytes from offset %d: a torn frame", len(rest), off)
		}
		lines, err := dec.DecodeAll(rest[16:end], nil)
		n := int(binary.LittleEndian.Uint32(rest[12:]))
		if err == nil && bytes.Count(lines, []byte{'\n'}) != n {
			err = fmt.Errorf("%d lines, its header says %d", bytes.Count(lines, []byte{'\n'}), n)
		}
		if err != nil {
			// The header is whole: the frames after this one are not lost.
			bad = errors.Join(bad, fmt.Errorf("frame at offset %d (%d bytes): %v", off, end, err))
		} else {
			frames = append(frames, callFrame{raw: rest[:end], lines: lines, n: n})
		}
		off += end
	}
	return frames, bad
}

// openCallFile opens a user's call log; damage in calls.zst is dropped,
// with one line to logf.
func openCallFile(u *user, logf func(string, ...any)) (*callFile, error) {
	b, err := os.ReadFile(u.callsFile())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	cf := &callFile{lines: bytes.Count(b, []byte{'\n'})}
	old, err := os.ReadFile(u.callsOld())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	frames, bad := readCallFrames(old)
	if bad != nil {
		logf("store: call log of %s: calls.zst: dropped what cannot be read, the rest is kept: %v", u.id, bad)
		if err := cf.rewriteOld(u, frames); err != nil {
			return nil, err
		}
	} else {
		cf.setFrames(frames)
	}
	if cf.f, err = os.OpenFile(u.callsFile(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
		return nil, err
	}
	return cf, nil
}

func (cf *callFile) setFrames(frames []callFrame) {
	cf.frames, cf.old = cf.frames[:0], 0
	for _, fr := range frames {
		cf.frames = append(cf.frames, fr.n)
		cf.old += fr.n
	}
}

// rewriteOld replaces calls.zst with frames, durably.
func (cf *callFile) rewriteOld(u *user, frames []callFrame) error {
	var b []byte
	for _, fr := range frames {
		b = append(b, fr.raw...)
	}
	if err := atomicfile.WriteFile(u.callsOld(), b, 0o600); err != nil {
		return err
	}
	cf.setFrames(frames)
	return nil
}

// writeBuf writes the lines buffered to calls.jsonl.
func (cf *callFile) writeBuf() error {
	if len(cf.buf) == 0 {
		return nil
	}
	_, err := cf.f.Write(cf.buf)
	cf.buf = cf.buf[:0]
	if cap(cf.buf) > 64<<10 {
		cf.buf = nil
	}
	return err
}

// compress moves the lines of calls.jsonl into a frame of calls.zst, and
// drops calls.zst's oldest frames once it holds twice keep lines.
func (cf *callFile) compress(u *user, keep int) error {
	if err := cf.writeBuf(); err != nil {
		return err
	}
	b, err := os.ReadFile(u.callsFile())
	if err != nil {
		return err
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	if len(b) > 0 {
		f, err := os.OpenFile(u.callsOld(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(appendCallFrame(nil, b))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		n := bytes.Count(b, []byte{'\n'})
		cf.frames = append(cf.frames, n)
		cf.old += n
	}
	if err := cf.f.Truncate(0); err != nil {
		return err
	}
	cf.lines = 0
	if cf.old < 2*keep {
		return nil
	}
	old, err := os.ReadFile(u.callsOld())
	if err != nil {
		return err
	}
	frames, _ := readCallFrames(old) // damage since it was opened: dropped with it
	total := 0
	for _, fr := range frames {
		total += fr.n
	}
	for len(frames) > 1 && total-frames[0].n >= keep {
		total -= frames[0].n
		frames = frames[1:]
	}
	return cf.rewriteOld(u, frames)
}

// LogCall adds a call to the log of user id (an unknown user has none).
// It returns at once: the line is written by a background writer, off the
// path of the call's reply (a push's fsync is all its reply waits for),
// Config.CallFlush later or once a chunk's worth waits, with the lines
// queued meanwhile. Calls, and a clean stop, write what is queued first,
// so the calls file shows every call logged before it is opened. At most
// Config.CallLog calls wait in memory: past that the caller writes them
// itself. Errors are logged, not returned: a call log that cannot be
// written must not fail the call.
func (s *Service) LogCall(id string, c Call) {
	u, err := s.user(id)
	if err != nil {
		return
	}
	if c.Time == 0 {
		c.Time = s.cfg.Now().UnixMilli()
	}
	l := &s.calls
	l.qmu.Lock()
	if l.closed {
		l.qmu.Unlock()
		return
	}
	if len(l.queue) >= s.cfg.CallLog { // full: the caller writes
		l.qmu.Unlock()
		l.mu.Lock()
		s.writeQueuedCalls()
		s.writeCall(u, &c)
		s.writeCallBufs()
		l.mu.Unlock()
		return
	}
	l.queue = append(l.queue, queuedCall{u, c})
	start := s.writerDueLocked()
	l.qmu.Unlock()
	if start {
		go s.drainCalls()
	}
}

// queuedCall is a call waiting for the background writer.
type queuedCall struct {
	u *user
	c Call
}

// writerDueLocked, with s.calls.qmu held and calls queued, tells whether
// the background writer is to start now (it is then marked running);
// otherwise the writer runs already, or its timer is armed.
func (s *Service) writerDueLocked() bool {
	l := &s.calls
	switch {
	case l.draining:
		return false
	case s.cfg.CallFlush < 0 || len(l.queue) >= callChunk(s.cfg.CallLog):
		l.draining = true
		return true
	case !l.armed:
		l.armed = true
		if l.timer == nil {
			l.timer = time.AfterFunc(s.cfg.CallFlush, s.callTimer)
		} else {
			l.timer.Reset(s.cfg.CallFlush)
		}
	}
	return false
}

// callTimer runs the background writer when its timer fires, unless it
// runs already.
func (s *Service) callTimer() {
	l := &s.calls
	l.qmu.Lock()
	l.armed = false
	run := !l.draining && !l.closed && len(l.queue) > 0
	if run {
		l.draining = true
	}
	l.qmu.Unlock()
	if run {
		s.drainCalls()
	}
}

// drainCalls is the background writer: it writes the queued calls; those
// queued meanwhile wait for the timer, unless a chunk's worth did.
func (s *Service) drainCalls() {
	l := &s.calls
	for {
		l.mu.Lock()
		s.writeQueuedCalls()
		s.writeCallBufs()
		l.mu.Unlock()
		l.qmu.Lock()
		l.draining = false
		again := len(l.queue) > 0 && !l.closed && s.writerDueLocked()
		l.qmu.Unlock()
		if !again {
			return
		}
	}
}

// writeQueuedCalls buffers the queued calls' lines, in order; the caller
// then writes them (writeCallBufs). The caller holds s.calls.mu, so that
// calls taken from the queue are written before those taken after them.
func (s *Service) writeQueuedCalls() {
	l := &s.calls
	l.qmu.Lock()
	q := l.queue
	l.queue, l.spare = l.spare[:0], nil
	l.qmu.Unlock()
	for i := range q {
		s.writeCall(q[i].u, &q[i].c)
		q[i] = queuedCall{}
	}
	l.qmu.Lock()
	if cap(q) <= 256 {
		l.spare = q[:0]
	}
	l.qmu.Unlock()
}

// writeCall adds the line of c to the log of u, in its buffer. The caller
// holds s.calls.mu.
func (s *Service) writeCall(u *user, c *Call) {
	line, err := json.Marshal(c)
	if err != nil {
		return
	}
	max := s.cfg.CallLog
	cf, err := s.calls.open(u, s.cfg.Logf)
	if err != nil {
		s.cfg.Logf("store: call log of %s: %v", u.id, err)
		return
	}
	if cf.lines >= callChunk(max) {
		if err := cf.compress(u, max); err != nil {
			s.cfg.Logf("store: call log of %s: %v", u.id, err)
			return
		}
	}
	if len(cf.buf) == 0 {
		s.calls.touched = append(s.calls.touched, cf)
	}
	cf.buf = append(append(cf.buf, line...), '\n')
	cf.lines++
}

// writeCallBufs writes the buffered lines, one write per user. The caller
// holds s.calls.mu.
func (s *Service) writeCallBufs() {
	l := &s.calls
	for i, cf := range l.touched {
		if err := cf.writeBuf(); err != nil {
			s.cfg.Logf("store: call log: %s: %v", cf.f.Name(), err)
		}
		l.touched[i] = nil
	}
	l.touched = l.touched[:0]
}

// open returns the open call log of u, opening it if needed. The caller
// holds l.mu.
func (l *callLogs) open(u *user, logf func(string, ...any)) (*callFile, error) {
	if cf := l.files[u.id]; cf != nil {
		return cf, nil
	}
	if l.files == nil {
		l.files = make(map[string]*callFile)
	}
	cf, err := openCallFile(u, logf)
	if err != nil {
		return nil, err
	}
	l.files[u.id] = cf
	return cf, nil
}

// lastLines returns the last n whole lines of b.
func lastLines(b []byte, n int) []byte {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		return nil
	}
	end := len(b) - 1
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

// Calls returns the call log of user id, oldest first: its last
// Config.CallLog calls, JSON lines.
func (s *Service) Calls(id string) ([]byte, error) {
	u, err := s.user(id)
	if err != nil {
		return nil, err
	}
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	s.writeQueuedCalls()
	s.writeCallBufs()
	if _, err := s.calls.open(u, s.cfg.Logf); err != nil {
		return nil, err
	}
	old, err := os.ReadFile(u.callsOld())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	tail, err := os.ReadFile(u.callsFile())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	frames, _ := readCallFrames(old) // damage since it was opened: skipped
	var all []byte
	for _, fr := range frames {
		all = append(all, fr.lines...)
	}
	if i := bytes.LastIndexByte(tail, '\n'); i >= 0 {
		all = append(all, tail[:i+1]...)
	}
	return lastLines(all, s.cfg.CallLog), nil
}

// closeCalls writes the queued calls and closes the call logs: later
// calls are not logged.
func (s *Service) closeCalls() {
	l := &s.calls
	l.mu.Lock()
	defer l.mu.Unlock()
	s.writeQueuedCalls()
	s.writeCallBufs()
	l.qmu.Lock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.qmu.Unlock()
	for _, cf := range l.files {
		cf.f.Close()
	}
	l.files = nil
}
