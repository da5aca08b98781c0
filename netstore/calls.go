package netstore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"gigfs.io/gigfs/internal/atomicfile"
)

// DefaultCallLog is how many calls per user the store shows in the user's
// calls file (Config.CallLog).
const DefaultCallLog = 1000

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

// callLogs are the users' call logs: per user, the file calls.jsonl in its
// folder, appended one line per call (not fsynced: the log is for people,
// and losing its last lines in a crash loses no data). When it holds twice
// the bound it is rewritten with the last Config.CallLog lines.
type callLogs struct {
	mu    sync.Mutex
	files map[string]*callFile
}

type callFile struct {
	f     *os.File
	lines int
}

func (u *user) callsFile() string { return filepath.Join(u.dir, "calls.jsonl") }

// LogCall adds a call to the log of user id (an unknown user has none).
// Errors are logged, not returned: a call log that cannot be written must
// not fail the call.
func (s *Service) LogCall(id string, c Call) {
	u, err := s.user(id)
	if err != nil {
		return
	}
	if c.Time == 0 {
		c.Time = s.cfg.Now().UnixMilli()
	}
	line, err := json.Marshal(&c)
	if err != nil {
		return
	}
	line = append(line, '\n')
	max := s.cfg.CallLog
	l := &s.calls
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.files == nil {
		l.files = make(map[string]*callFile)
	}
	cf := l.files[id]
	if cf == nil {
		if cf, err = openCallFile(u.callsFile()); err != nil {
			s.cfg.Logf("store: call log of %s: %v", id, err)
			return
		}
		l.files[id] = cf
	}
	if cf.lines >= 2*max {
		if err := cf.trim(u.callsFile(), max); err != nil {
			s.cfg.Logf("store: call log of %s: %v", id, err)
			return
		}
	}
	if _, err := cf.f.Write(line); err != nil {
		s.cfg.Logf("store: call log of %s: %v", id, err)
		return
	}
	cf.lines++
}

func openCallFile(name string) (*callFile, error) {
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &callFile{f: f, lines: bytes.Count(b, []byte{'\n'})}, nil
}

// trim rewrites the file with its last keep lines.
func (cf *callFile) trim(name string, keep int) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	b = lastLines(b, keep)
	if err := atomicfile.WriteFile(name, b, 0o600); err != nil {
		return err
	}
	cf.f.Close()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cf.f, cf.lines = f, bytes.Count(b, []byte{'\n'})
	return nil
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
	f, err := os.Open(u.callsFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, append(sc.Bytes(), '\n'))
		if len(lines) > 2*s.cfg.CallLog {
			lines = lines[len(lines)-s.cfg.CallLog:]
		}
	}
	if len(lines) > s.cfg.CallLog {
		lines = lines[len(lines)-s.cfg.CallLog:]
	}
	return bytes.Join(lines, nil), sc.Err()
}

func (l *callLogs) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, cf := range l.files {
		cf.f.Close()
	}
	l.files = nil
}
