package tools

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"gigfs.io/gigfs/oplog"
)

// A mirrored op whose (origin, seq) another op holds is refused, not a
// harmless duplicate: gig-push reports the line and exits 5 (refused), the
// other lines are pushed, and the value is the first op's.
func TestTools_PushRefusedExitStatus(t *testing.T) {
	tc := startCluster(t, 1, map[string][]int{"b": {0}})
	now := time.Now().UnixMilli()
	first, _ := oplog.NewOp(now, "mirror", 1, json.RawMessage("1"))
	other, _ := oplog.NewOp(now+1, "mirror", 1, json.RawMessage("2"))
	next, _ := oplog.NewOp(now+2, "mirror", 2, json.RawMessage("10"))
	var in strings.Builder
	for _, o := range []oplog.Op{first, other, next} {
		fmt.Fprintf(&in, `{"type":"counter","path":"/n","op":%s}`+"\n", o.AppendJSON(nil))
	}
	r := run(PushMain, in.String(), tc.args("b")...)
	if r.code != exitRefused || strings.Count(r.stdout, `"new":true`) != 2 || strings.Contains(r.stdout, `"new":false`) {
		t.Fatalf("mirroring a conflicting op: %+v; want exit %d, two new ops, no no-op", r, exitRefused)
	}
	if !strings.Contains(r.stderr, "line 2: ") || !strings.Contains(r.stderr, "refused") {
		t.Errorf("stderr does not name the refused line: %q", r.stderr)
	}
	if r := run(GetMain, "", tc.args("b", "counter", "/n")...); r.stdout != "11\n" {
		t.Errorf("value: %+v, want 11", r)
	}
}
