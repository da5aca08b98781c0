package tools

import (
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

func TestTools_Fs(t *testing.T) {
	tc := startCluster(t, 1, map[string][]int{"demo": {0}})
	if r := run(PushMain, "", tc.args("demo", "counter", "/visits", "41")...); r.code != 0 {
		t.Fatalf("push: %+v", r)
	}
	sock := filepath.Join(t.TempDir(), "fs.sock")
	stderr := new(syncBuffer)
	done := make(chan int, 1)
	go func() {
		done <- FsMain(tc.args("-addr", "unix!"+sock), strings.NewReader(""), io.Discard, stderr)
	}()
	var fsys *client.Fsys
	waitFor(t, "gig-fs to listen", func() bool {
		conn, err := client.Dial("unix", sock)
		if err != nil {
			return false
		}
		t.Cleanup(func() { conn.Close() })
		fsys, err = conn.Attach(nil, "me", "")
		return err == nil
	})
	fid, err := fsys.Open("/demo/counter/visits", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fid.Write([]byte("1\n")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 100)
	n, _ := fid.ReadAt(b, 0)
	fid.Close()
	if string(b[:n]) != "42\n" {
		t.Fatalf("value file reads %q", b[:n])
	}
	if r := run(GetMain, "", tc.args("demo", "counter", "/visits")...); strings.TrimSpace(r.stdout) != "42" {
		t.Fatalf("gig-get after a write through gig-fs: %+v", r)
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM) // as a user stopping it
	if code := <-done; code != 0 {
		t.Fatalf("gig-fs exit %d: %s", code, stderr)
	}
}
