package gigfs

import (
	"context"
	"testing"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// noCheckpoints is an in-memory store that takes ops but refuses
// checkpoints, as a store cut off between the copies and the checkpoint
// of a sync would leave it.
type noCheckpoints struct{ *memStore }

func (s noCheckpoints) Push(ctx context.Context, recs []netstore.Record) ([]oplog.Result, error) {
	res := make([]oplog.Result, len(recs))
	var ops []netstore.Record
	var at []int
	for i, r := range recs {
		if r.Op.Kind() != oplog.KindOp {
			res[i] = oplog.Result{Code: oplog.CodeInvalid, Reason: "checkpoints refused here"}
			continue
		}
		ops, at = append(ops, r), append(at, i)
	}
	got, err := s.memStore.Push(ctx, ops)
	for j, r := range got {
		res[at[j]] = r
	}
	return res, err
}

// A sync whose checkpoint one store did not take does not report the
// stores as agreeing: one holds the checkpoint, the other the ops.
func TestClient_SyncAgreedOnlyWhenTheLogsAreTheSame(t *testing.T) {
	cfg := testConfig(t)
	cfg.PruneOps = -1
	cfg.LocalTable = map[string][]LocalStore{"c": {{InMemory: true}}}
	c := mustClient(t, cfg)
	c.mu.Lock()
	c.local["c"] = append(c.local["c"], noCheckpoints{newMemStore("nocp")})
	c.mu.Unlock()
	for range 3 {
		mustPush(t, c, "c", "counter", "/n", "1")
	}
	rep, err := c.Sync(context.Background(), "c", "counter", "/n", true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pruned == "" {
		t.Fatalf("no checkpoint: %+v", rep)
	}
	if rep.Agreed {
		t.Fatalf("agreed, though one store holds the checkpoint and the other the ops: %+v", rep)
	}
	// Without a checkpoint, both hold the same ops: they agree.
	mustPush(t, c, "c", "counter", "/m", "1")
	rep, err = c.Sync(context.Background(), "c", "counter", "/m", false)
	if err != nil || !rep.Agreed {
		t.Fatalf("sync of /m: %+v, %v", rep, err)
	}
}
