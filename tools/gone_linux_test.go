package tools

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestReaderGone(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gone := readerGone(ctx, w)
	if gone == nil {
		t.Fatal("no channel for a pipe")
	}
	select {
	case <-gone:
		t.Fatal("gone while the reader is open")
	case <-time.After(100 * time.Millisecond):
	}
	r.Close()
	select {
	case <-gone:
	case <-time.After(time.Minute):
		t.Fatal("not gone after the reader closed")
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if readerGone(ctx, f) != nil {
		t.Error("a channel for a plain file")
	}
}
