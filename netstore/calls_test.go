package netstore

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// openCalls opens a store at dir with user kim and a log of max calls;
// the lines it logs are returned too.
func openCalls(t *testing.T, dir string, max int) (*Service, *callLogLines) {
	t.Helper()
	ll := &callLogLines{t: t}
	svc, err := Open(Config{Dir: dir, CallLog: max, FlushInterval: -1, Logf: ll.logf})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.user("kim"); err != nil {
		if _, err := svc.AddUser("kim"); err != nil {
			t.Fatal(err)
		}
	}
	return svc, ll
}

type callLogLines struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *callLogLines) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.t.Log(line)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

func (l *callLogLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func logPushes(svc *Service, from, to int) {
	for i := from; i <= to; i++ {
		svc.LogCall("kim", Call{Time: int64(i), Session: "3f0e4a51", Call: "push", Records: 1, Result: "accepted 1", Paths: []string{"counter /bench/p1"}})
	}
}

// callTimes returns the times of the calls file's lines.
func callTimes(t *testing.T, b []byte) []int64 {
	t.Helper()
	var times []int64
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var c Call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		times = append(times, c.Time)
	}
	return times
}

func wantTimes(t *testing.T, got []int64, from, to int) {
	t.Helper()
	if len(got) != to-from+1 {
		t.Fatalf("%d calls (%v…), want %d..%d", len(got), got[:min(len(got), 3)], from, to)
	}
	for i, tm := range got {
		if tm != int64(from+i) {
			t.Fatalf("call %d: time %d, want %d", i, tm, from+i)
		}
	}
}

// The call log shows the last CallLog calls, oldest first, while most of
// what it keeps on disk is compressed: well under a third of the lines it
// shows, and bounded whatever the number of calls.
func TestCalls_OlderPartCompressed(t *testing.T) {
	const max = 1000
	svc, _ := openCalls(t, t.TempDir(), max)
	defer svc.Close()
	u, _ := svc.user("kim")
	for round := 1; round <= 5; round++ {
		logPushes(svc, (round-1)*1000+1, round*1000)
		b, err := svc.Calls("kim")
		if err != nil {
			t.Fatal(err)
		}
		wantTimes(t, callTimes(t, b), round*1000-max+1, round*1000)
		var disk int64
		for _, name := range []string{u.callsFile(), u.callsOld()} {
			if fi, err := os.Stat(name); err == nil {
				disk += fi.Size()
			}
		}
		if disk > int64(len(b))/3 {
			t.Errorf("after %d calls: %d bytes on disk for %d bytes of calls shown", round*1000, disk, len(b))
		}
		cf := svc.calls.files["kim"]
		if cf.old+cf.lines > 2*max+2*callChunk(max) {
			t.Errorf("after %d calls: %d lines kept, bound %d", round*1000, cf.old+cf.lines, 2*max+2*callChunk(max))
		}
	}
}

// A call log written by the previous version (calls.jsonl alone, up to
// twice CallLog lines) reads the same, and is compressed as it grows.
func TestCalls_PlainFileOfThePreviousVersion(t *testing.T) {
	dir := t.TempDir()
	svc, _ := openCalls(t, dir, 100)
	u, _ := svc.user("kim")
	svc.Close()
	var b []byte
	for i := 1; i <= 150; i++ {
		line, _ := json.Marshal(Call{Time: int64(i), Call: "push", Result: "ok"})
		b = append(append(b, line...), '\n')
	}
	if err := os.WriteFile(u.callsFile(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	svc, _ = openCalls(t, dir, 100)
	defer svc.Close()
	got, err := svc.Calls("kim")
	if err != nil {
		t.Fatal(err)
	}
	wantTimes(t, callTimes(t, got), 51, 150)
	logPushes(svc, 151, 151)
	got, _ = svc.Calls("kim")
	wantTimes(t, callTimes(t, got), 52, 151)
	if _, err := os.Stat(u.callsOld()); err != nil {
		t.Errorf("the plain file was not compressed: %v", err)
	}
}

// A torn or damaged frame of the compressed part is dropped, with one log
// line, when the log is opened: the other frames and the plain part are
// kept, and the call log goes on.
func TestCalls_DamagedCompressedPart(t *testing.T) {
	const max = 80 // frames of callChunk(80) = 11 lines
	for _, damage := range []string{"torn", "flipped", "bad header"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			svc, _ := openCalls(t, dir, max)
			u, _ := svc.user("kim")
			logPushes(svc, 1, 50) // 4 frames of 11, 6 lines plain
			svc.Close()
			old, err := os.ReadFile(u.callsOld())
			if err != nil {
				t.Fatal(err)
			}
			frames, bad := readCallFrames(old)
			if len(frames) != 4 || bad != nil {
				t.Fatalf("%d frames (%v), want 4", len(frames), bad)
			}
			second := len(frames[0].raw)
			var want []int64 // the times that must survive
			switch damage {
			case "torn": // the last frame
				old = old[:len(old)-5]
				for i := 1; i <= 50; i++ {
					if i <= 33 || i > 44 {
						want = append(want, int64(i))
					}
				}
			case "flipped": // in the second frame's zstd data
				old[second+20] ^= 0x40
				for i := 1; i <= 50; i++ {
					if i <= 11 || i > 22 {
						want = append(want, int64(i))
					}
				}
			case "bad header": // of the second frame: the rest cannot be told apart
				old[second] ^= 1
				for i := 1; i <= 50; i++ {
					if i <= 11 || i > 44 {
						want = append(want, int64(i))
					}
				}
			}
			os.WriteFile(u.callsOld(), old, 0o600)
			svc, ll := openCalls(t, dir, max)
			defer svc.Close()
			for range 2 {
				b, err := svc.Calls("kim")
				if err != nil {
					t.Fatal(err)
				}
				if got := callTimes(t, b); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("calls %v\nwant %v", got, want)
				}
			}
			if n := ll.count("calls.zst"); n != 1 {
				t.Errorf("%d log lines about the damage, want 1", n)
			}
			logPushes(svc, 51, 70)
			b, _ := svc.Calls("kim")
			if got := callTimes(t, b); got[len(got)-1] != 70 || len(got) != len(want)+20 {
				t.Errorf("after 20 more calls: %d calls, last %d", len(got), got[len(got)-1])
			}
			if n := ll.count("calls.zst"); n != 1 {
				t.Errorf("%d log lines about the damage, want 1", n)
			}
		})
	}
}

// Calls logged from many goroutines at once are all shown, each once, and
// no more than CallLog of them ever wait in memory for the background
// writer; a clean stop writes what waits.
func TestCalls_QueuedWritesBounded(t *testing.T) {
	const max, writers, each = 50, 8, 40
	dir := t.TempDir()
	svc, _ := openCalls(t, dir, max)
	var wg sync.WaitGroup
	var over sync.Once
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				svc.LogCall("kim", Call{Time: int64(1 + w*each + i), Call: "push", Result: "accepted 1"})
				svc.calls.qmu.Lock()
				n := len(svc.calls.queue)
				svc.calls.qmu.Unlock()
				if n > max {
					over.Do(func() { t.Errorf("%d calls queued, bound %d", n, max) })
				}
			}
		}()
	}
	wg.Wait()
	b, err := svc.Calls("kim")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(callTimes(t, b)); got != max {
		t.Errorf("%d calls shown, want %d", got, max)
	}
	logPushes(svc, 10001, 10003)
	svc.Close()
	svc, _ = openCalls(t, dir, max)
	defer svc.Close()
	b, _ = svc.Calls("kim")
	times := callTimes(t, b)
	if len(times) != max || times[len(times)-1] != 10003 {
		t.Errorf("after a clean stop: %d calls, last %v, want %d ending with 10003", len(times), times[len(times)-1:], max)
	}
}

// Calls logged within CallFlush of each other wait in memory and are
// written together: none reaches calls.jsonl before the writer's time, a
// chunk's worth starts the writer at once, and reading the calls file or
// a clean stop writes what waits.
func TestCalls_WrittenInBatches(t *testing.T) {
	dir := t.TempDir()
	const max = 80
	svc, err := Open(Config{Dir: dir, CallLog: max, CallFlush: time.Hour, FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddUser("kim"); err != nil {
		t.Fatal(err)
	}
	u, _ := svc.user("kim")
	chunk := callChunk(max)
	logPushes(svc, 1, chunk-1)
	l := &svc.calls
	l.qmu.Lock()
	queued, draining, armed := len(l.queue), l.draining, l.armed
	l.qmu.Unlock()
	if queued != chunk-1 || draining || !armed {
		t.Fatalf("after %d calls: %d queued, writer running %v, timer armed %v; want all queued, the timer armed", chunk-1, queued, draining, armed)
	}
	if b, err := os.ReadFile(u.callsFile()); err == nil && len(b) > 0 {
		t.Fatalf("calls.jsonl holds %d bytes before the writer's time", len(b))
	}
	logPushes(svc, chunk, chunk)
	l.qmu.Lock()
	queued, draining = len(l.queue), l.draining
	l.qmu.Unlock()
	if queued > 0 && !draining {
		t.Fatalf("a chunk's worth (%d) queued and the writer not started", queued)
	}
	logPushes(svc, chunk+1, chunk+2)
	b, err := svc.Calls("kim")
	if err != nil {
		t.Fatal(err)
	}
	wantTimes(t, callTimes(t, b), 1, chunk+2)
	logPushes(svc, chunk+3, chunk+5)
	svc.Close()
	svc, _ = openCalls(t, dir, max)
	defer svc.Close()
	b, _ = svc.Calls("kim")
	wantTimes(t, callTimes(t, b), 1, chunk+5)
}
