package gigfs

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gigfs.io/gigfs/internal/cluster"
	"gigfs.io/gigfs/oplog"
)

// offlineConfig is a client of the world with an on-disk local store for
// channel c, whose way to the table goes through a proxy the test cuts.
func (w *world) offlineConfig(dir string) (Config, *cluster.Proxy) {
	tp, err := cluster.NewProxy(w.cl.TableAddr)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(tp.Close)
	tp.Cut()
	cfg := w.config()
	cfg.RemoteTable.Addr = tp.Addr
	cfg.LocalTable = map[string][]LocalStore{"c": {{StoragePath: dir}}}
	return cfg, tp
}

// Failure mode "silent loss of late ops": an offline client (on-disk local
// store) pushes 100 ops while another client prunes the channel; when it
// reconnects none of the 100 is lost and nothing is applied twice.
func TestFailure_LostLateOp_OfflineClientWhileOtherPrunes(t *testing.T) {
	w := newWorld(t, 2)
	cfg, tableRoute := w.offlineConfig(filepath.Join(t.TempDir(), "local"))
	off := w.client(cfg)
	onCfg := w.config()
	onCfg.PruneOps = 10
	on := w.client(onCfg)
	ctx := context.Background()

	for i := 0; i < 100; i++ {
		mustPush(t, off, "c", "counter", "/late", "1") // accepted by the local store
		if i%2 == 0 {
			mustPush(t, on, "c", "counter", "/late", "1000")
		}
	}
	if got := mustGet(t, off, "c", "counter", "/late"); got != "100" {
		t.Fatalf("offline client reads %s, want its own 100", got)
	}
	// The online client has pruned: the stores hold a checkpoint dated no
	// earlier than every offline op.
	// The two clocks are independent (off's may run ahead of the wall
	// clock after 100 quick pushes): prune again, with a push of 0 that
	// changes nothing, until the checkpoint's date has passed them all.
	offLog, _ := off.Log(ctx, "c", "counter", "/late")
	lastOffline := offLog.Ops()[len(offLog.Ops())-1].Date
	eventually(t, 20*time.Second, func() error {
		mustPush(t, on, "c", "counter", "/late", "0")
		if _, err := on.Sync(ctx, "c", "counter", "/late", true); err != nil {
			t.Fatal(err)
		}
		for i := range w.cl.Stores {
			if b := w.storeLog(i, "counter", "/late").Base(); b.Date < lastOffline {
				return fmt.Errorf("store %d: checkpoint dated %d, before the last offline op (%d)", i, b.Date, lastOffline)
			}
		}
		return nil
	})

	tableRoute.Heal() // back online: the client finds its stores and syncs
	want := strconv.Itoa(100 + 50*1000)
	eventually(t, 20*time.Second, func() error {
		for i := range w.cl.Stores {
			v, _ := oplog.Reduce(oplog.Counter, w.storeLog(i, "counter", "/late"))
			if string(v) != want {
				return fmt.Errorf("store %d holds %s, want %s", i, v, want)
			}
		}
		for _, c := range []*Client{off, on} {
			if got := mustGet(t, c, "c", "counter", "/late"); got != want {
				return fmt.Errorf("a client reads %s, want %s", got, want)
			}
		}
		return nil
	})
}

// A client restarted with pending ops sends them.
func TestRemote_RestartedClientSendsPending(t *testing.T) {
	w := newWorld(t, 2)
	dir := filepath.Join(t.TempDir(), "local")
	cfg, tableRoute := w.offlineConfig(dir)
	a := w.client(cfg)
	for i := 0; i < 10; i++ {
		mustPush(t, a, "c", "list", "/todo", strconv.Quote(fmt.Sprint("item", i)))
	}
	a.Close()
	for i := range w.cl.Stores {
		if n := len(w.storeLog(i, "list", "/todo").Ops()); n != 0 {
			t.Fatalf("store %d has %d ops while the client was offline", i, n)
		}
	}
	tableRoute.Heal()
	w.client(cfg) // restarted, online: nothing read or written yet
	eventually(t, 20*time.Second, func() error {
		for i := range w.cl.Stores {
			if n := len(w.storeLog(i, "list", "/todo").Ops()); n != 10 {
				return fmt.Errorf("store %d holds %d of the 10 pending ops", i, n)
			}
		}
		return nil
	})
}
