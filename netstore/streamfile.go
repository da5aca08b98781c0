package netstore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/internal/atomicfile"
	"gigfs.io/gigfs/oplog"
)

// A kept stream (Config.KeepStream) lives in <user folder>/stream, so that
// the next process to open the store goes on with the same stream: same
// epoch, same seqs, the same recent events, and readers resume their
// cursors. That is what a local store shared by the processes of its user
// needs when the process serving it exits or dies and another takes over.
//
// The file is a header line, then the events as the stream yields them,
// one JSON line each:
//
//	gigfs-stream <epoch> <boot id> <seq of the first event>
//	{"seq":N,"epoch":"E","type":T,"path":P,"op":{...}}
//	...
//
// Events are appended when they are published, before the push that made
// them is acknowledged, without an fsync: a process that is killed loses
// nothing (the kernel has the bytes), a machine that crashes may. So the
// header names the boot: after a reboot, or if the file does not read back
// whole (a torn or out-of-sequence line), the store starts a new epoch and
// readers re-read the oplogs, as after any restart. The file is rewritten
// with only the events the stream keeps once it holds twice as many.
const streamFileName = "stream"

type streamFile struct {
	name  string
	f     *os.File
	count int // events in the file
}

// bootID names this boot of the machine ("" where it is not known).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// newHub returns the hub of the user in dir: with Config.KeepStream, the
// stream its file holds when it can be resumed, else one of a new epoch
// and a new file; without, one of the store's epoch.
func (s *Service) newHub(dir string) (*hub, error) {
	if !s.cfg.KeepStream {
		return newHub(s.epoch, s.cfg.StreamBuffer), nil
	}
	name := filepath.Join(dir, streamFileName)
	h, err := loadHub(name, s.cfg.StreamBuffer)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.cfg.Logf("store: %s: %v; the stream starts a new epoch", name, err)
		}
		h = newHub(randomHex(8), s.cfg.StreamBuffer)
		h.kept = &keptShas{count: make(map[string]int)}
		if err := h.rewrite(name); err != nil {
			return nil, fmt.Errorf("stream file: %w", err)
		}
	}
	h.logf = s.cfg.Logf
	return h, nil
}

// loadHub reads a stream file.
func loadHub(name string, max int) (*hub, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	head, rest, ok := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(head))
	if !ok || len(f) != 4 || f[0] != "gigfs-stream" {
		return nil, errors.New("bad header")
	}
	if f[2] != bootID() {
		return nil, errors.New("written before the machine last started")
	}
	first, err := strconv.ParseUint(f[3], 10, 64)
	if err != nil || first == 0 {
		return nil, errors.New("bad first seq")
	}
	h := newHub(f[1], max)
	h.kept = &keptShas{count: make(map[string]int)}
	h.first = first
	count := 0
	sc := bufio.NewScanner(bytes.NewReader(rest))
	sc.Buffer(nil, oplog.MaxLineSize+2*gig.MaxPathLen+1024)
	for sc.Scan() {
		var ev struct {
			Seq   uint64 `json:"seq"`
			Epoch string `json:"epoch"`
			Path  string `json:"path"`
			Op    struct {
				Sha    string `json:"sha"`
				Origin string `json:"origin"`
			} `json:"op"`
		}
		line := sc.Bytes()
		if json.Unmarshal(line, &ev) != nil || ev.Epoch != h.epoch || ev.Seq != first+uint64(count) {
			return nil, fmt.Errorf("line %d does not follow", count+2)
		}
		h.append(hubEvent{append(append([]byte(nil), line...), '\n'), ev.Path, ev.Op.Origin}, ev.Op.Sha)
		count++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rest) > 0 && rest[len(rest)-1] != '\n' {
		return nil, errors.New("torn last line")
	}
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	h.file = &streamFile{name: name, f: fh, count: count}
	return h, nil
}

// rewrite writes the hub's events to a new stream file at name and appends
// to it from now on.
func (h *hub) rewrite(name string) error {
	err := atomicfile.Write(name, 0o600, func(f *os.File) error {
		w := bufio.NewWriter(f)
		fmt.Fprintf(w, "gigfs-stream %s %s %d\n", h.epoch, bootID(), h.first)
		for _, ev := range h.events {
			w.Write(ev.line)
		}
		return w.Flush()
	})
	if err != nil {
		return err
	}
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if h.file != nil {
		h.file.f.Close()
	}
	h.file = &streamFile{name: name, f: fh, count: len(h.events)}
	return nil
}

// keep appends new events to the file, and rewrites it once it holds twice
// what the stream keeps. Called with h.mu held.
func (h *hub) keep(lines []byte, n int) error {
	if h.file == nil {
		return nil
	}
	if _, err := h.file.f.Write(lines); err != nil {
		return err
	}
	h.file.count += n
	if h.file.count > 2*len(h.events)+1024 {
		return h.rewrite(h.file.name)
	}
	return nil
}

// keptShas are the shas of the ops of a kept stream's events, in order.
//
// A process serving the store may be killed after an op is in its oplog
// file and before its event is in the stream file; the pusher, without an
// answer, pushes it again to the next server and gets "no-op": no event
// would ever tell the stream's readers of that op. So with a kept stream,
// a push that is a no-op for an op the stream does not hold publishes it.
// Readers see each op once all the same: they know ops by sha.
type keptShas struct {
	order []string
	count map[string]int
}

func (k *keptShas) add(sha string) {
	if k == nil {
		return
	}
	k.order = append(k.order, sha)
	k.count[sha]++
}

func (k *keptShas) drop() {
	if k == nil || len(k.order) == 0 {
		return
	}
	sha := k.order[0]
	k.order[0] = ""
	k.order = k.order[1:]
	if k.count[sha]--; k.count[sha] <= 0 {
		delete(k.count, sha)
	}
}

// unheard returns the ops of a push whose results are no-ops and that the
// kept stream does not hold (none without a kept stream).
func (h *hub) unheard(ops []oplog.Op, res []oplog.Result) []oplog.Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kept == nil {
		return nil
	}
	var out []oplog.Op
	for i := range ops {
		if res[i].Outcome() == oplog.NoOp && ops[i].Kind() == oplog.KindOp && h.kept.count[ops[i].Sha] == 0 {
			out = append(out, ops[i])
		}
	}
	return out
}
