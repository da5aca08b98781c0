// Package bench is the body of gig-bench: in one run it measures the fsync
// limit of the disk it runs on, then the data path of GiG.fs against a
// table and a store it starts in-process (real 9P servers on 127.0.0.1,
// data on the same disk), and prints each figure with its share of the
// limit.
//
// The limit is a plain Go program's: 120-byte appends to one file, each
// durable before its writer goes on, with 1 writer (one fsync per record)
// and with 16 writers sharing fsyncs (group commit). The workloads are the
// ones of issue 12: durable pushes from one client in sequence, from 16
// clients on their own paths and on one shared path, and from one client
// with 16 pushes in flight; a cold Get (a client that never read the path)
// of paths of 1,000, 5,000 and 100,000 ops; and the bytes at rest per op of
// an unpruned counter, against the same ops as plain JSON lines, before and
// after the store compacts. The bytes at rest of the oplogs (their files,
// the journal, the store's small files) are counted apart from the user's
// call log, one line per push kept to the last -call-log calls: its size
// is bounded whatever the number of ops, and it is shown on its own row
// and in the total.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	gigfs "gigfs.io/gigfs"
	"gigfs.io/gigfs/internal/cluster"
	"gigfs.io/gigfs/internal/cputime"
	"gigfs.io/gigfs/netstore"
	"gigfs.io/gigfs/oplog"
)

const (
	benchUser   = "bench"
	benchMaster = "a long bench master"
	channel     = "b"
)

// Options says what a run measures and for how long.
type Options struct {
	Dir      string        // where the temporary data goes (the disk measured)
	Limit    time.Duration // length of each limit measurement
	SeqOps   int           // pushes of the sequential workload
	ConcOps  int           // pushes per writer of the concurrent workloads
	RestOps  int           // ops of the bytes-at-rest workload
	ColdSize []int         // sizes of the cold Get paths
	Runs     int           // runs of every figure; the median is printed
	Only     string        // if set, only figures whose name contains it
}

// Main runs gig-bench with its command-line arguments and returns the exit
// status.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gig-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.Dir, "dir", os.TempDir(), "folder for the temporary data: the disk measured")
	fs.DurationVar(&o.Limit, "limit", 2*time.Second, "length of each fsync limit measurement")
	fs.IntVar(&o.SeqOps, "seq", 2000, "pushes of the sequential workload")
	fs.IntVar(&o.ConcOps, "conc", 300, "pushes per writer of the concurrent workloads")
	fs.IntVar(&o.RestOps, "rest", 5000, "ops of the bytes-at-rest workload")
	sizes := fs.String("cold", "1000,5000,100000", "sizes of the cold Get paths, comma-separated")
	fs.IntVar(&o.Runs, "runs", 1, "runs of every figure (interleaved); the median is printed")
	fs.StringVar(&o.Only, "only", "", "only the figures whose name contains this")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gig-bench [flags]\n\nMeasures the disk's fsync limit, then GiG.fs's data path against a table and\nstore it starts on 127.0.0.1, and prints each figure with its share of the limit.\nExample: gig-bench -runs 3\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "gig-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	for _, s := range strings.Split(*sizes, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil || n <= 0 {
			fmt.Fprintf(stderr, "gig-bench: -cold: bad size %q\n", s)
			return 2
		}
		o.ColdSize = append(o.ColdSize, n)
	}
	if o.Runs < 1 || o.SeqOps < 1 || o.ConcOps < 1 || o.RestOps < 1 {
		fmt.Fprintln(stderr, "gig-bench: -runs, -seq, -conc and -rest must be at least 1")
		return 2
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "gig-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "gig-bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err := Run(context.Background(), o, stdout); err != nil {
		fmt.Fprintf(stderr, "gig-bench: %v\n", err)
		return 1
	}
	return 0
}

// A figure is one line of the report.
type figure struct {
	name  string
	unit  string // "ops/s", "ms", "B/op"
	limit string // the name of the figure it is a share of, if any
	runs  []float64
	syncs []float64 // the store's fsyncs per op, per run (push workloads)
	cpu   []float64 // CPU µs per op of the process (client and store), per run (push workloads)
	note  func(v float64, figs map[string]*figure) string
}

func (f *figure) median() float64 {
	v := append([]float64(nil), f.runs...)
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

// Run measures everything Options asks for and prints the report to w.
func Run(ctx context.Context, o Options, w io.Writer) error {
	dir, err := os.MkdirTemp(o.Dir, "gig-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(w, "gig-bench: data in %s, %d run(s), median shown\n", dir, o.Runs)

	var order []*figure
	figs := make(map[string]*figure)
	add := func(f *figure) {
		order = append(order, f)
		figs[f.name] = f
	}
	want := func(name string) bool { return o.Only == "" || strings.Contains(name, o.Only) }

	const lim1, lim16 = "limit: 1 writer, fsync per 120-byte append", "limit: 16 writers sharing fsyncs"
	add(&figure{name: lim1, unit: "records/s"})
	// Informational: the store's write-ahead log overwrites preallocated
	// zeros (no metadata per fdatasync); shares stay of the append limit.
	const limZero = "limit: 1 writer, fsync per 120-byte write into a pre-zeroed file"
	add(&figure{name: limZero, unit: "records/s", note: func(v float64, figs map[string]*figure) string {
		a := figs[lim1].median()
		if a == 0 {
			return "informational"
		}
		return fmt.Sprintf("informational, %.2f× the append limit (the write-ahead log's segments are preallocated so)", v/a)
	}})
	add(&figure{name: lim16, unit: "records/s"})
	seq := fmt.Sprintf("durable push, 1 client, sequential (%d ops)", o.SeqOps)
	own := fmt.Sprintf("durable push, 16 clients, each its own path (%d ops each)", o.ConcOps)
	shared := fmt.Sprintf("durable push, 16 clients, one shared path (%d ops each)", o.ConcOps)
	inflight := fmt.Sprintf("durable push, 1 client, 16 in flight on 16 paths (%d ops each)", o.ConcOps)
	add(&figure{name: seq, unit: "ops/s", limit: lim1})
	add(&figure{name: own, unit: "ops/s", limit: lim16})
	add(&figure{name: shared, unit: "ops/s", limit: lim16})
	add(&figure{name: inflight, unit: "ops/s", limit: lim16})
	cold := make([]string, len(o.ColdSize))
	for i, n := range o.ColdSize {
		cold[i] = fmt.Sprintf("cold Get, %s-op path", thousands(float64(n)))
		n := n
		add(&figure{name: cold[i], unit: "ms", note: func(v float64, _ map[string]*figure) string {
			cpu := (&figure{runs: coldCPU[n]}).median()
			return fmt.Sprintf("%s ops/s, %.1f µs/op; CPU %.1f ms (client and store)", thousands(float64(n)/(v/1000)), v*1000/float64(n), cpu)
		}})
	}
	restJSON := fmt.Sprintf("plain JSON lines of the same ops (%d counter ops)", o.RestOps)
	rest := fmt.Sprintf("oplog data at rest per op, %d unpruned ops", o.RestOps)
	flushed := "oplog data at rest per op, once flushed (store restarted)"
	compacted := "oplog data at rest per op, after compaction"
	calls := "the user's call log at rest after these pushes"
	whole := "all at rest per op (call log too), after compaction"
	spare := "the write-ahead log's spare segment after these pushes"
	ratio := func(v float64, figs map[string]*figure) string {
		j := figs[restJSON].median()
		if j == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f× plain JSON lines", v/j)
	}
	add(&figure{name: restJSON, unit: "B/op"})
	add(&figure{name: rest, unit: "B/op", note: ratio})
	add(&figure{name: flushed, unit: "B/op", note: ratio})
	add(&figure{name: compacted, unit: "B/op", note: ratio})
	add(&figure{name: calls, unit: "bytes", note: func(float64, map[string]*figure) string {
		return "its last 1,000–2,250 calls (gig-store -call-log), one line per push, the older ones compressed"
	}})
	add(&figure{name: whole, unit: "B/op", note: ratio})
	add(&figure{name: spare, unit: "bytes", note: func(float64, map[string]*figure) string {
		return "zeros made ahead of need (gig-store -wal-prealloc), removed by a clean stop; not in the rows above"
	}})

	// A limit is measured if it is wanted or a wanted figure is a share of it.
	wantLimit := func(lim string) bool {
		if want(lim) {
			return true
		}
		for _, f := range order {
			if f.limit == lim && want(f.name) {
				return true
			}
		}
		return false
	}
	for run := 0; run < o.Runs; run++ {
		if wantLimit(lim1) {
			v, err := fsyncLimit(dir, 1, o.Limit)
			if err != nil {
				return fmt.Errorf("limit: %w", err)
			}
			figs[lim1].runs = append(figs[lim1].runs, v)
		}
		if wantLimit(lim1) || want(limZero) {
			v, err := fsyncLimitPrezeroed(dir, o.Limit)
			if err != nil {
				return fmt.Errorf("limit: %w", err)
			}
			figs[limZero].runs = append(figs[limZero].runs, v)
		}
		if wantLimit(lim16) {
			v, err := fsyncLimit(dir, 16, o.Limit)
			if err != nil {
				return fmt.Errorf("limit: %w", err)
			}
			figs[lim16].runs = append(figs[lim16].runs, v)
		}
		e, err := startEnv(ctx, filepath.Join(dir, fmt.Sprintf("run%d", run)))
		if err != nil {
			return err
		}
		steps := []struct {
			name string
			fn   func() (float64, error)
		}{
			{seq, func() (float64, error) { return e.pushes(ctx, 1, 1, false, o.SeqOps) }},
			{own, func() (float64, error) { return e.pushes(ctx, 16, 1, false, o.ConcOps) }},
			{shared, func() (float64, error) { return e.pushes(ctx, 16, 1, true, o.ConcOps) }},
			{inflight, func() (float64, error) { return e.pushes(ctx, 1, 16, false, o.ConcOps) }},
		}
		for i, n := range o.ColdSize {
			n := n
			steps = append(steps, struct {
				name string
				fn   func() (float64, error)
			}{cold[i], func() (float64, error) { return e.coldGet(ctx, n) }})
		}
		for _, s := range steps {
			if !want(s.name) {
				continue
			}
			e.lastSyncs, e.lastCPU = -1, -1
			v, err := s.fn()
			if err != nil {
				e.close()
				return fmt.Errorf("%s: %w", s.name, err)
			}
			figs[s.name].runs = append(figs[s.name].runs, v)
			if e.lastSyncs >= 0 {
				figs[s.name].syncs = append(figs[s.name].syncs, e.lastSyncs)
			}
			if e.lastCPU >= 0 {
				figs[s.name].cpu = append(figs[s.name].cpu, e.lastCPU)
			}
		}
		if want(restJSON) || want(rest) || want(flushed) || want(compacted) || want(calls) || want(whole) || want(spare) {
			// A store of its own, so that the data folder grows by these ops alone.
			e.close()
			if e, err = startEnv(ctx, filepath.Join(dir, fmt.Sprintf("rest%d", run))); err != nil {
				return err
			}
			r, err := e.atRest(ctx, o.RestOps)
			if err != nil {
				e.close()
				return fmt.Errorf("bytes at rest: %w", err)
			}
			figs[flushed].runs = append(figs[flushed].runs, r.flushed)
			figs[restJSON].runs = append(figs[restJSON].runs, r.json)
			figs[rest].runs = append(figs[rest].runs, r.unpruned)
			figs[compacted].runs = append(figs[compacted].runs, r.compacted)
			figs[calls].runs = append(figs[calls].runs, r.calls)
			figs[whole].runs = append(figs[whole].runs, r.whole)
			figs[spare].runs = append(figs[spare].runs, r.spare)
		}
		e.close()
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "| %-62s | %14s | %s |\n", "workload", "figure", "share of the limit / note")
	fmt.Fprintf(w, "| %s | %s | %s |\n", strings.Repeat("-", 62), strings.Repeat("-", 14), strings.Repeat("-", 30))
	for _, f := range order {
		if len(f.runs) == 0 {
			continue
		}
		v := f.median()
		val := thousands(v) + " " + f.unit
		if f.unit == "ms" || f.unit == "B/op" {
			val = fmt.Sprintf("%.1f %s", v, f.unit)
		}
		note := ""
		if f.limit != "" && len(figs[f.limit].runs) > 0 {
			note = fmt.Sprintf("%.0f%% of %s", 100*v/figs[f.limit].median(), strings.TrimPrefix(f.limit, "limit: "))
		}
		if f.note != nil {
			note = f.note(v, figs)
		}
		if len(f.syncs) > 0 {
			note += fmt.Sprintf("; %.2f fsyncs/op", (&figure{runs: f.syncs}).median())
		}
		if len(f.cpu) > 0 {
			note += fmt.Sprintf("; CPU %.0f µs/op", (&figure{runs: f.cpu}).median())
		}
		if len(f.runs) > 1 {
			note += fmt.Sprintf(" [runs: %s]", runList(f))
		}
		fmt.Fprintf(w, "| %-62s | %14s | %s |\n", f.name, val, note)
	}
	return nil
}

func runList(f *figure) string {
	parts := make([]string, len(f.runs))
	for i, v := range f.runs {
		if f.unit == "ms" || f.unit == "B/op" {
			parts[i] = fmt.Sprintf("%.1f", v)
		} else {
			parts[i] = thousands(v)
		}
	}
	return strings.Join(parts, " ")
}

// thousands formats v rounded, with commas.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// env is a table and a store on 127.0.0.1, a user and a channel on it.
type env struct {
	cl      *cluster.Cluster
	session string
	n       int // paths made so far, so every workload has fresh ones
	// lastSyncs is the store's fsyncs per op in the last pushes workload.
	lastSyncs float64
	// lastCPU is the process's CPU µs per op in the last pushes workload.
	lastCPU float64
	coldCPU map[int][]float64
}

func quiet(string, ...any) {}

// coldCPU collects, per cold Get size, the CPU time of the process (client
// and store) during each Get, in ms: on a loaded machine it tells the cost
// better than the wall clock.
var coldCPU = make(map[int][]float64)

func startEnv(ctx context.Context, dir string) (*env, error) {
	cl, err := cluster.Start(dir, 1, quiet)
	if err != nil {
		return nil, fmt.Errorf("start table and store: %w", err)
	}
	session, err := cl.User(ctx, benchUser, benchMaster)
	if err == nil {
		err = cl.AddStore(ctx, benchUser, benchMaster, channel, cl.Stores[0], "")
	}
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("set up user: %w", err)
	}
	return &env{cl: cl, session: session, coldCPU: coldCPU}, nil
}

func (e *env) close() { e.cl.Close() }

// client makes a client of the bench user; prune false never prunes.
func (e *env) client(prune bool) (*gigfs.Client, error) {
	cfg := gigfs.Config{
		RemoteTable: &gigfs.RemoteTable{Addr: e.cl.TableAddr, User: benchUser, Session: e.session},
		Logf:        quiet,
	}
	if !prune {
		cfg.PruneOps, cfg.PruneAge = -1, -1
	}
	return gigfs.New(cfg)
}

func (e *env) path() string {
	e.n++
	return fmt.Sprintf("/p%d", e.n)
}

// pushes runs clients clients, each with inflight goroutines pushing
// {"add":1} perWriter times, each to a path of its own or all to one, and
// returns the pushes per second. Each client pushes once to each of its
// paths before the clock starts (loading the path, connecting).
func (e *env) pushes(ctx context.Context, clients, inflight int, oneplace bool, perWriter int) (float64, error) {
	shared := e.path()
	type writer struct {
		c    *gigfs.Client
		path string
	}
	var ws []writer
	var cs []*gigfs.Client
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := 0; i < clients; i++ {
		c, err := e.client(true)
		if err != nil {
			return 0, err
		}
		cs = append(cs, c)
		for j := 0; j < inflight; j++ {
			p := shared
			if !oneplace {
				p = e.path()
			}
			if _, err := c.Push(ctx, channel, "counter", p, json.RawMessage(`{"add":1}`)); err != nil {
				return 0, fmt.Errorf("first push: %w", err)
			}
			ws = append(ws, writer{c, p})
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(ws))
	svc := e.cl.Stores[0].Service()
	syncs0 := svc.Syncs()
	cpu0 := cputime.Used()
	start := time.Now()
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				if _, err := w.c.Push(ctx, channel, "counter", w.path, json.RawMessage(`{"add":1}`)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cputime.Used() - cpu0
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	e.lastSyncs = float64(svc.Syncs()-syncs0) / float64(len(ws)*perWriter)
	e.lastCPU = float64(cpu.Microseconds()) / float64(len(ws)*perWriter)
	return float64(len(ws)*perWriter) / el.Seconds(), nil
}

// fill pushes n counter ops to a path straight into the store's service,
// in batches, as a long history would have left it.
func (e *env) fill(ctx context.Context, path string, n int) error {
	svc := e.cl.Stores[0].Service()
	var clk oplog.Clock
	const batch = 1000
	for seq := 1; seq <= n; {
		var recs []netstore.Record
		for ; seq <= n && len(recs) < batch; seq++ {
			o, err := oplog.NewOp(clk.Date(), "bench-filler", uint64(seq), json.RawMessage(`{"add":1}`))
			if err != nil {
				return err
			}
			recs = append(recs, netstore.Record{Type: "counter", Path: "/" + channel + path, Op: o})
		}
		res, err := svc.Push(ctx, benchUser, recs)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Outcome() != oplog.Accepted {
				return fmt.Errorf("fill: %v", r)
			}
		}
	}
	// A long history is at rest in its file: the store's background flush
	// of the ops just filled is not part of the read that follows.
	return svc.Flush()
}

// coldGet fills a path with n ops, then times the first Get of it by a
// client that is connected (it read another path first) but never read
// this one. It returns milliseconds.
func (e *env) coldGet(ctx context.Context, n int) (float64, error) {
	p := e.path()
	if err := e.fill(ctx, p, n); err != nil {
		return 0, err
	}
	c, err := e.client(false)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.Get(ctx, channel, "counter", e.path()); err != nil {
		return 0, fmt.Errorf("warm-up get: %w", err)
	}
	// Client and store share this process: the garbage of the fill is
	// collected before, not during, the read timed (apart, the client
	// would not see the store's garbage at all).
	runtime.GC()
	cpu0 := cputime.Used()
	start := time.Now()
	v, err := c.Get(ctx, channel, "counter", p)
	el := time.Since(start)
	cpu := cputime.Used() - cpu0
	if err != nil {
		return 0, err
	}
	e.coldCPU[n] = append(e.coldCPU[n], float64(cpu.Microseconds())/1000)
	if string(v) != fmt.Sprint(n) {
		return 0, fmt.Errorf("value %s, want %d", v, n)
	}
	return float64(el.Microseconds()) / 1000, nil
}

// restFigures are bytes per op of the bytes-at-rest workload: the ops as
// plain JSON lines, and the growth of the store's data folder without the
// call log at each stage; calls is the call log's bytes at the end and
// whole the folder with it after compaction, per op.
type restFigures struct{ json, unpruned, flushed, compacted, calls, whole, spare float64 }

// atRest pushes n counter ops to one path through a client that never
// prunes, from 16 goroutines, and measures what the store's data folder
// grew by, per op; then what it holds once flushed and once compacted.
// The user's call log (one line per push, kept to the last -call-log
// calls) is counted apart: its size is bounded whatever the ops.
func (e *env) atRest(ctx context.Context, n int) (restFigures, error) {
	var r restFigures
	st := e.cl.Stores[0]
	c, err := e.client(false)
	if err != nil {
		return r, err
	}
	p := e.path()
	if _, err := c.Get(ctx, channel, "counter", p); err != nil {
		c.Close()
		return r, err
	}
	before, calls0, err := dirBytes(st.Dir)
	if err != nil {
		c.Close()
		return r, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		k := n / 16
		if g < n%16 {
			k++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < k; i++ {
				if _, err := c.Push(ctx, channel, "counter", p, json.RawMessage(`{"add":1}`)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	c.Close()
	close(errs)
	if err := <-errs; err != nil {
		return r, err
	}
	data, _, err := st.Service().Read(benchUser, "counter", "/"+channel+p)
	if err != nil {
		return r, err
	}
	r.json = float64(len(data)) / float64(n)
	after, _, err := dirBytes(st.Dir)
	if err != nil {
		return r, err
	}
	r.unpruned = float64(after-before) / float64(n)
	r.spare = float64(spareBytes(st.Dir))
	st.Stop() // a clean stop flushes what the store holds
	if err := st.Start(); err != nil {
		return r, err
	}
	flushed, _, err := dirBytes(st.Dir)
	if err != nil {
		return r, err
	}
	r.flushed = float64(flushed-before) / float64(n)
	if err := compact(st, "counter", "/"+channel+p); err != nil {
		return r, err
	}
	compacted, calls, err := dirBytes(st.Dir)
	if err != nil {
		return r, err
	}
	r.compacted = float64(compacted-before) / float64(n)
	r.calls = float64(calls)
	r.whole = float64(compacted+calls-before-calls0) / float64(n)
	return r, nil
}
