package srv9p_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"gigfs.io/gigfs/internal/cputime"
	"gigfs.io/gigfs/srv9p"

	"9fans.net/go/plan9"
)

// BenchmarkCtlRoundTrip measures ctl round trips (a write of a command,
// then a read of its reply) on one connection over loopback.
func BenchmarkCtlRoundTrip(b *testing.B) {
	ts := startServer(b, nil)
	_, fsys := ts.mount(b)
	fid, err := fsys.Open("ctl", plan9.ORDWR)
	if err != nil {
		b.Fatal(err)
	}
	defer fid.Close()
	for b.Loop() {
		if got, err := ctlRoundTrip(fid, "echo ping"); got != "ping\n" || err != nil {
			b.Fatalf("got %q, %v", got, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}

// BenchmarkOpenClunk measures walking to a file, opening it and clunking
// it, one at a time on one connection: what a Tclunk costs the server
// (handed to the library as a Tremove, clunk.go) on top of a round trip.
func BenchmarkOpenClunk(b *testing.B) {
	ts := startServer(b, nil)
	_, fsys := ts.mount(b)
	for b.Loop() {
		fid, err := fsys.Open("static", plan9.OREAD)
		if err != nil {
			b.Fatal(err)
		}
		if err := fid.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "opens/s")
}

// BenchmarkMux_ExchangeLines measures one push-like exchange at a time on
// one connection over loopback (a numbered write of one line and the read
// that names it, as netstore's remote Push makes), client and server in
// this process: cpu-µs/op is both sides' CPU per exchange, the figure the
// 9P layer adds to a push.
func BenchmarkMux_ExchangeLines(b *testing.B) {
	f := pushServer(b, func() *echoLines { return &echoLines{reads: new(atomic.Int64), named: true} })
	line := []byte(`{"type":"counter","path":"/a","op":{"date":1,"sha":"x","payload":1}}` + "\n")
	start := cputime.Used()
	for b.Loop() {
		if _, err := f.ExchangeLines(context.Background(), line, 32<<10, 1); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkMux_ExchangeLines16 is BenchmarkMux_ExchangeLines with 16
// exchanges in flight on one connection, each on its own fid (16 pushes in
// flight of one client).
func BenchmarkMux_ExchangeLines16(b *testing.B) {
	f := pushServer(b, func() *echoLines { return &echoLines{reads: new(atomic.Int64), named: true} })
	m := srv9p.FileMux(f)
	files := make(chan *srv9p.MuxFile, 16)
	for range 16 {
		g, err := m.Open(context.Background(), "/push")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { g.Close() })
		files <- g
	}
	line := []byte(`{"type":"counter","path":"/a","op":{"date":1,"sha":"x","payload":1}}` + "\n")
	b.SetParallelism(16)
	start := cputime.Used()
	b.RunParallel(func(pb *testing.PB) {
		g := <-files
		defer func() { files <- g }()
		for pb.Next() {
			if _, err := g.ExchangeLines(context.Background(), line, 32<<10, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCPU(b, start)
}

// reportCPU reports the CPU time since start per op, in µs.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cputime.Used()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
