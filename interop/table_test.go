package interop

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	go9p "github.com/knusbaum/go9p/client"

	"gigfs.io/gigfs/internal/cluster"
)

// The table's tree through the go9p client (the 9fans client drives it in
// package table and internal/cluster): attach with a session, walks, stat,
// listing, the mount table, and a ctl request and reply.
func TestGo9p_Table(t *testing.T) {
	cl, err := cluster.Start(t.TempDir(), 1, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	session, err := cl.User(ctx, "tess", "a master of tess")
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.AddStore(ctx, "tess", "a master of tess", "notes", cl.Stores[0], ""); err != nil {
		t.Fatal(err)
	}
	dial := func(aname string) (*go9p.Client, error) {
		nc, err := net.Dial("tcp", cl.TableAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return go9p.NewClient(nc, "tess", aname)
	}
	c, err := dial("session " + session)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Stat("/user/tess/table")
	if err != nil || st.Name != "table" {
		t.Fatalf("stat: %+v %v", st, err)
	}
	mt := go9pRead(t, c, "/user/tess/table")
	var table map[string][]struct {
		StoreID   string `json:"store_id"`
		StoreAddr string `json:"store_addr"`
	}
	if err := json.Unmarshal([]byte(mt), &table); err != nil || len(table["notes"]) != 1 {
		t.Fatalf("mount table %q: %v", mt, err)
	}
	if int(st.Length) != len(mt) {
		t.Errorf("stat length %d, content %d bytes", st.Length, len(mt))
	}
	if got := go9pRead(t, c, "/user/tess/channel/notes"); !strings.Contains(got, table["notes"][0].StoreID) {
		t.Errorf("channel file %q", got)
	}
	ents, err := c.Readdir("/user/tess")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(ents), ","); !strings.Contains(got, "ctl") || !strings.Contains(got, "table") {
		t.Errorf("/user/tess lists %s", got)
	}
	// Walks that fail at the first or a later name.
	for _, p := range []string{"/nope", "/user/tess/nope", "/user/someone-else/table", "/user/tess/channel/nope"} {
		if _, err := c.Stat(p); err == nil {
			t.Errorf("stat %s succeeded", p)
		}
	}
	// ctl: request and reply on one fid.
	tok, err := go9pCtl(c, "/user/tess/ctl", "store token "+table["notes"][0].StoreID)
	if err != nil || !strings.HasPrefix(tok, table["notes"][0].StoreID+".") {
		t.Fatalf("store token: %q %v", tok, err)
	}
	if _, err := go9pCtl(c, "/user/tess/ctl", "frobnicate"); err == nil {
		t.Error("an unknown command succeeded")
	}
	// Refused attaches.
	if _, err := dial("session not-a-token"); err == nil {
		t.Error("attach with a bad session")
	}
}
