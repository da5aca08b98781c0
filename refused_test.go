package gigfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/oplog"
)

// An op every store answers and refuses is its own outcome: ErrRefused
// with the store's kind, not ErrPending; the client takes it back (value,
// log, clock as before), never sends it again, and the path still syncs
// and prunes. Here the op is dated past the stores' horizon (24 h) but
// within a client's that was configured wider.
func TestFailure_RefusedOpIsTakenBack(t *testing.T) {
	w := newWorld(t, 2)
	cfg := w.config()
	cfg.DateHorizon = 48 * time.Hour
	c := w.client(cfg)
	ctx := context.Background()
	mustPush(t, c, "c", "counter", "/n", "1")

	late, err := oplog.NewOp(time.Now().Add(30*time.Hour).UnixMilli(), "elsewhere", 1, json.RawMessage("5"))
	if err != nil {
		t.Fatal(err)
	}
	dials := w.proxies[0].Accepted() + w.proxies[1].Accepted()
	isNew, stored, err := c.PushOpAck(ctx, "c", "counter", "/n", late)
	if !errors.Is(err, ErrRefused) || errors.Is(err, ErrPending) || gig.KindOf(err) != gig.ErrLimit {
		t.Fatalf("push of an op every store refuses: %v (kind %v); want ErrRefused of kind limit", err, gig.KindOf(err))
	}
	if isNew || stored {
		t.Fatalf("a refused op reported new %v, stored %v", isNew, stored)
	}
	if got := mustGet(t, c, "c", "counter", "/n"); got != "1" {
		t.Fatalf("value %s after the refusal, want 1: the op was not taken back", got)
	}

	// A refusal is the store's answer, not a broken connection: the
	// client hung up on no store (issue 11's reconnect storm).
	if now := w.proxies[0].Accepted() + w.proxies[1].Accepted(); now != dials {
		t.Fatalf("the client dialled the stores %d more times after a refusal", now-dials)
	}

	// The refused op did not move the clock: the next op is dated now,
	// and accepted.
	a, err := c.PushAck(ctx, "c", "counter", "/n", json.RawMessage("2"))
	if err != nil || string(a.Value) != "3" {
		t.Fatalf("push after the refusal: %s, %v", a.Value, err)
	}
	if a.Op.Date > time.Now().Add(time.Hour).UnixMilli() {
		t.Fatalf("the next op is dated %d: the refused op moved the clock", a.Op.Date)
	}

	// A sync does not send it again, and the path prunes.
	rep, err := c.Sync(ctx, "c", "counter", "/n", true)
	if err != nil || !rep.Agreed || rep.Pruned == "" {
		t.Fatalf("sync -prune after the refusal: %+v, %v", rep, err)
	}
	for _, s := range rep.Stores {
		if len(s.Refused) > 0 {
			t.Fatalf("the sync sent the refused op again: %+v", rep)
		}
	}
	for i := range w.cl.Stores {
		if l := w.storeLog(i, "counter", "/n"); l.Has(&late) {
			t.Fatalf("store %d holds the refused op", i)
		}
	}
}

// An op of an (origin, seq) that another op holds is a conflict, refused
// before any store is asked: not a harmless duplicate.
func TestFailure_ConflictingMirroredOp(t *testing.T) {
	w := newWorld(t, 1)
	c := w.client(w.config())
	ctx := context.Background()
	now := time.Now().UnixMilli()
	first, _ := oplog.NewOp(now, "mirror", 1, json.RawMessage("1"))
	other, _ := oplog.NewOp(now+1, "mirror", 1, json.RawMessage("2"))
	if isNew, _, err := c.PushOpAck(ctx, "c", "counter", "/m", first); err != nil || !isNew {
		t.Fatalf("first op: new %v, %v", isNew, err)
	}
	isNew, _, err := c.PushOpAck(ctx, "c", "counter", "/m", other)
	if !errors.Is(err, ErrRefused) || !errors.Is(err, gig.ErrConflict) || isNew {
		t.Fatalf("conflicting op: new %v, %v; want ErrRefused, a conflict", isNew, err)
	}
	if got := mustGet(t, c, "c", "counter", "/m"); got != "1" {
		t.Fatalf("value %s, want 1", got)
	}

	if l := w.storeLog(0, "counter", "/m"); l.Has(&other) || !l.Has(&first) {
		t.Fatal("the store holds the conflicting op, or lacks the first")
	}
}

// Failure mode "reconnect storm": a store's error answer (a name it
// refuses, as a store once refused a channel the table accepted) leaves
// the connection up; only a broken connection makes the client hang up
// and redial, which would drop the stream of every channel on the store.
func TestFailure_ErrorAnswerKeepsTheConnection(t *testing.T) {
	w := newWorld(t, 1)
	c := w.client(w.config())
	ctx := context.Background()
	mustPush(t, c, "c", "counter", "/a", "1")
	ss, err := c.Stores(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	dials := w.proxies[0].Accepted()
	for i := 0; i < 20; i++ {
		_, err := ss[0].Read(ctx, "counter", fmt.Sprintf("/.d/x%d", i))
		if !errors.Is(err, gig.ErrInvalid) {
			t.Fatalf("read of a bad name: %v, want an ErrInvalid", err)
		}
	}
	if now := w.proxies[0].Accepted(); now != dials {
		t.Fatalf("%d redials after error answers", now-dials)
	}
	if got := mustGet(t, c, "c", "counter", "/a"); got != "1" {
		t.Fatalf("value %s", got)
	}
}
