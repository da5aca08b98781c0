package gigfs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkLocalShare_PushToWatch measures, across processes on one
// on-disk local store, the time from a push in this process to the line of
// the op in the channel watch of another (its own clock, the same
// machine's), one push at a time, for each placement of the process that
// serves the store. It reports the p50 and p99 of that latency and of the
// push itself.
func BenchmarkLocalShare_PushToWatch(b *testing.B) {
	for _, server := range []string{"third", "pusher", "watch"} {
		b.Run("server="+server, func(b *testing.B) {
			dir := storeDir(b)
			cfg := testConfig(b)
			cfg.Logf = func(string, ...any) {}
			cfg.LocalTable = map[string][]LocalStore{"n": {{StoragePath: dir}}}
			var c *Client
			switch server {
			case "third":
				if l := startHelper(b, "serve", dir).next(); l != "serving" {
					b.Fatalf("serve: %q", l)
				}
			case "pusher":
				c = mustClient(b, cfg)
			}
			watch := startHelper(b, "watch", dir, "GIGFS_TEST_TIMES=1")
			if l := watch.next(); l != "ready" {
				b.Fatalf("watch: %q", l)
			}
			if c == nil {
				c = mustClient(b, cfg)
			}
			if c.disk[dir].serving() != (server == "pusher") {
				b.Fatalf("the pusher serves: %v", c.disk[dir].serving())
			}
			mustPush(b, c, "n", "lww", "/b", `"warm"`)
			if l := watch.next(); !strings.HasPrefix(l, "warm ") {
				b.Fatalf("watch: %q", l)
			}
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			push := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, _ := json.Marshal(fmt.Sprintf("b-%d", i))
				t0 := time.Now()
				if _, err := c.Push(ctx, "n", "lww", "/b", p); err != nil {
					b.Fatal(err)
				}
				push = append(push, time.Since(t0))
				name, at, _ := strings.Cut(watch.next(), " ")
				if name != fmt.Sprintf("b-%d", i) {
					b.Fatalf("watch line %q, want b-%d", name, i)
				}
				ns, _ := strconv.ParseInt(at, 10, 64)
				lat = append(lat, time.Unix(0, ns).Sub(t0))
			}
			b.StopTimer()
			report(b, lat, "watch")
			report(b, push, "push")
		})
	}
}

// report reports the p50 and p99 of ds, in ms.
func report(b *testing.B, ds []time.Duration, what string) {
	slices.Sort(ds)
	q := func(f float64) float64 { return float64(ds[int(f*float64(len(ds)-1))]) / 1e6 }
	b.ReportMetric(q(0.50), what+"-p50-ms")
	b.ReportMetric(q(0.99), what+"-p99-ms")
}
