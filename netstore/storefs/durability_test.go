package storefs

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/netstore/remote"
	"gigfs.io/gigfs/oplog"
	"gigfs.io/gigfs/srv9p"
)

// TestMain doubles as a store process for the crash test: with
// GIGFS_TEST_STORE_DIR set, the test binary serves a store on that folder,
// with tokens checked by a fake table, prints its address and serves until
// killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("GIGFS_TEST_STORE_DIR"); dir != "" {
		os.Exit(serveForCrashTest(dir))
	}
	os.Exit(m.Run())
}

const crashToken = testStoreID + ".crash.mac"

func serveForCrashTest(dir string) int {
	ft := &fakeTable{}
	ft.set("kim", crashToken, time.Now().Add(time.Hour))
	svc, err := netstore.Open(netstore.Config{Dir: dir, Checker: ft})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if len(svc.Users()) == 0 {
		code, _ := svc.AddUser("kim")
		if err := svc.Confirm("kim", code, "tcp!127.0.0.1!1", testStoreID, testSecret); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(l.Addr().String())
	srv := &srv9p.Server{Attach: (&Tree{S: svc}).Attach, Logf: func(string, ...any) {}}
	srv.Serve(context.Background(), l)
	return 0
}

func startStoreProcess(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GIGFS_TEST_STORE_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("store process: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// Durability: the store killed with SIGKILL while 16 connections write,
// each over 8 paths of its own (128 oplogs, so pushes share fsyncs of the
// write-ahead log across oplogs), keeps every op whose write returned; it
// restarts, replays its write-ahead log, and serves them.
func TestStore_SIGKILLKeepsAcknowledgedOps(t *testing.T) {
	sigkillWriters(t, false)
}

// The same with the 16 writers' pushes in flight together on one
// connection (remote.Remote pipelines them): a push is acknowledged only
// once durable, whatever else is in flight beside it.
func TestStore_SIGKILLKeepsPipelinedOps(t *testing.T) {
	sigkillWriters(t, true)
}

func sigkillWriters(t *testing.T, oneConn bool) {
	if testing.Short() {
		t.Skip("spawns store processes")
	}
	dir := t.TempDir()
	cmd, addr := startStoreProcess(t, dir)
	ctx := context.Background()

	const writers = 16
	var shared *remote.Remote
	if oneConn {
		var err error
		if shared, err = remote.Dial(ctx, addr, "kim", crashToken); err != nil {
			t.Fatal(err)
		}
		defer shared.Close()
	}
	var mu sync.Mutex
	acked := make(map[string]netstore.Record) // sha -> record
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := shared
			if r == nil {
				var err error
				if r, err = remote.Dial(ctx, addr, "kim", crashToken); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				defer r.Close()
			}
			var clk oplog.Clock
			origin := fmt.Sprintf("writer%d", w)
			for seq := uint64(1); ; seq++ {
				o, _ := oplog.NewOp(clk.Date(), origin, seq, []byte(fmt.Sprint(seq)))
				rec := netstore.Record{Type: "counter", Path: fmt.Sprintf("/w%d/p%d", w, seq%8), Op: o}
				res, err := r.Push(ctx, []netstore.Record{rec})
				if err != nil {
					return // the store died
				}
				if res[0].Outcome() != oplog.Accepted {
					t.Errorf("writer %d: %v", w, res[0])
					return
				}
				mu.Lock()
				acked[o.Sha] = rec
				mu.Unlock()
			}
		}(w)
	}
	// Let the writers run, then kill the store mid-flight.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 1000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}

	cmd2, addr2 := startStoreProcess(t, dir)
	defer func() { cmd2.Process.Kill(); cmd2.Wait() }()
	r, err := remote.Dial(ctx, addr2, "kim", crashToken)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	logs := make(map[string]*oplog.Log)
	missing := 0
	for sha, rec := range acked {
		l, ok := logs[rec.Path]
		if !ok {
			if l, err = r.Read(ctx, rec.Type, rec.Path); err != nil {
				t.Fatal(err)
			}
			logs[rec.Path] = l
		}
		if !l.Has(&rec.Op) {
			missing++
			t.Errorf("acknowledged op %.12s on %s lost", sha, rec.Path)
		}
	}
	t.Logf("%d acknowledged ops, %d lost", len(acked), missing)
}
