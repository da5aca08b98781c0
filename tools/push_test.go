package tools

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// gig-push's stdin mode with many pushes in flight reports every line in
// input order, each with the value its own op made (a counter's running
// sum), the bad lines by number, and exits 1 for them; every good op is in
// the stores.
func TestTools_PushStdinInFlightKeepsOrder(t *testing.T) {
	tc := startCluster(t, 1, map[string][]int{"demo": {0}})
	var in strings.Builder
	const n = 300
	for i := 1; i <= n; i++ {
		switch {
		case i == 50:
			in.WriteString("not json\n")
		case i == 120:
			in.WriteString(`{"type":"counter","path":"/a","payload":"x"}` + "\n") // the reducer refuses it
		case i%3 == 0:
			fmt.Fprintf(&in, `{"type":"list","path":"/b","payload":%d}`+"\n", i)
		default:
			in.WriteString(`{"type":"counter","path":"/a","payload":1}` + "\n")
		}
	}
	r := run(PushMain, in.String(), tc.args("-inflight", "16", "demo")...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (two bad lines); stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "line 50: ") || !strings.Contains(r.stderr, "line 120: ") || strings.Count(r.stderr, ": line ") != 2 {
		t.Fatalf("stderr %q, want lines 50 and 120 reported, and only them", r.stderr)
	}
	sum, list, last := 0, 0, 0
	outs := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(outs) != n-2 {
		t.Fatalf("%d output lines, want %d", len(outs), n-2)
	}
	for _, line := range outs {
		var l struct {
			Path   string
			Value  json.RawMessage
			Stored bool
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		if !l.Stored {
			t.Fatalf("line %q not stored", line)
		}
		switch l.Path {
		case "/a":
			sum++
			if string(l.Value) != fmt.Sprint(sum) {
				t.Fatalf("line %q: value %s, want %d (out of order)", line, l.Value, sum)
			}
		case "/b":
			list++
			last += 3
			if last == 120 {
				last += 3 // line 120 is the refused payload
			}
			var v []int
			json.Unmarshal(l.Value, &v)
			if len(v) != list || v[len(v)-1] != last {
				t.Fatalf("line %q: want a list of %d ending in %d", line, list, last)
			}
		}
	}
	if r := run(GetMain, "", tc.args("demo", "counter", "/a")...); r.stdout != fmt.Sprintf("%d\n", sum) {
		t.Fatalf("get /a: %+v, want %d", r, sum)
	}
	if r := run(PushMain, "", tc.args("-inflight", "0", "demo")...); r.code != 2 || !strings.Contains(r.stderr, "-inflight") {
		t.Fatalf("-inflight 0: %+v, want exit 2 naming the flag", r)
	}
}
