package tools

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"gigfs.io/gigfs/oplog"
)

// BenchmarkPush_OneShotRuns is issue 10's bound on origins at full size:
// b.N one-shot gig-push runs (each a whole run of the tool: settings,
// client, lease, push, flush, close) on one counter, one after another and
// 8 at a time, against a table and two stores in this process. After them
// the checkpoint's covers has at most 16 entries, the value is exactly
// b.N, and a prune works. The bound's size is 30,000 runs:
//
//	go test ./tools -run '^$' -bench OneShotRuns -benchtime 30000x -timeout 2h
func BenchmarkPush_OneShotRuns(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("%d-at-a-time", par), func(b *testing.B) {
			b.Setenv("XDG_STATE_HOME", b.TempDir())
			tc := startCluster(b, 2, map[string][]int{"demo": {0, 1}})
			args := tc.args("demo", "counter", "/runs", "1")
			sem := make(chan struct{}, par)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var failed []string
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					if r := run(PushMain, "", args...); r.code != 0 {
						mu.Lock()
						failed = append(failed, fmt.Sprintf("run %d: %+v", i, r))
						mu.Unlock()
					}
				}()
				if (i+1)%5000 == 0 {
					wg.Wait()
					mustPrune(b, tc, i+1)
				}
			}
			wg.Wait()
			b.StopTimer()
			if len(failed) > 0 {
				b.Fatalf("%d runs failed; first: %s", len(failed), failed[0])
			}
			covers := mustPrune(b, tc, b.N)
			b.ReportMetric(float64(covers), "covers")
		})
	}
}

// mustPrune prunes the counter, checks the value is n and the covers
// small, and returns how many entries the covers has.
func mustPrune(b *testing.B, tc *testCluster, n int) int {
	b.Helper()
	if r := run(SyncMain, "", tc.args("-prune", "demo", "counter", "/runs")...); r.code != 0 || !strings.Contains(r.stdout, `"agreed":true`) {
		b.Fatalf("prune after %d runs: %+v", n, r)
	}
	if r := run(GetMain, "", tc.args("demo", "counter", "/runs")...); strings.TrimSpace(r.stdout) != fmt.Sprint(n) {
		b.Fatalf("value after %d runs: %+v", n, r)
	}
	worst := 0
	for _, s := range tc.c.Stores {
		l, err := s.Service().Log("demo", "counter", "/demo/runs")
		if err != nil {
			b.Fatal(err)
		}
		origins := make(map[string]bool)
		for o := range l.Base().Covers {
			origins[o] = true
		}
		for _, o := range l.Ops() {
			origins[o.Origin] = true
		}
		if v, _ := oplog.Reduce(oplog.Counter, l); string(v) != fmt.Sprint(n) {
			b.Fatalf("a store's value after %d runs: %s", n, v)
		}
		worst = max(worst, len(origins))
	}
	if worst > 16 {
		b.Fatalf("after %d runs a store's oplog has %d origins, want at most 16", n, worst)
	}
	return worst
}
