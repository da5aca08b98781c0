package gigfs

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

// A path that already carries 50,000 origins (a checkpoint made before
// origins were leased: one per run) is not stuck: its checkpoint (about
// 2.3 MB encoded, past the 1 MiB of an op) is read, extended and pruned
// again, and the stores agree.
func TestPrune_PathWithFiftyThousandOrigins(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 origins")
	}
	const n = 50_000
	w := newWorld(t, 2)
	cov := make(oplog.Coverage, n)
	for i := 0; i < n; i++ {
		cov[uuid.NewString()] = 1
	}
	cp, err := oplog.NewCheckpoint(time.Now().UnixMilli()-1000, "seed", json.RawMessage(fmt.Sprint(n)), cov)
	if err != nil {
		t.Fatal(err)
	}
	if size := len(cp.AppendJSON(nil)); size <= oplog.MaxOpSize {
		t.Fatalf("the checkpoint is %d bytes, want more than an op's limit", size)
	}
	ctx := context.Background()
	for i := range w.cl.Stores {
		res, err := w.cl.Stores[i].Service().Push(ctx, testUser, []netstore.Record{{Type: "counter", Path: storePath("c", "/many"), Op: cp}})
		if err != nil || res[0].Outcome() != oplog.Accepted {
			t.Fatalf("store %d: seeding the checkpoint: %v %v", i, res, err)
		}
	}
	cfg := w.config()
	cfg.OriginDir = filepath.Join(t.TempDir(), "leases")
	cfg.CallTimeout = 20 * time.Second
	c := w.client(cfg)
	if got := mustPush(t, c, "c", "counter", "/many", "1"); string(got) != fmt.Sprint(n+1) {
		t.Fatalf("value %s, want %d", got, n+1)
	}
	rep, err := c.Sync(ctx, "c", "counter", "/many", true)
	if err != nil || !rep.Agreed || rep.Pruned == "" {
		t.Fatalf("prune: %+v, %v", rep, err)
	}
	for i := range w.cl.Stores {
		l := w.storeLog(i, "counter", "/many")
		if l.Base().Sha != rep.Pruned || len(l.Base().Covers) != n+1 || len(l.Ops()) != 0 {
			t.Fatalf("store %d: base %.12s with %d covers and %d ops; want the new checkpoint %.12s, %d covers, no ops",
				i, l.Base().Sha, len(l.Base().Covers), len(l.Ops()), rep.Pruned, n+1)
		}
	}
	if got := mustGet(t, c, "c", "counter", "/many"); got != fmt.Sprint(n+1) {
		t.Fatalf("value after the prune %s", got)
	}
}
