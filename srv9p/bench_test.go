package srv9p_test

import (
	"testing"

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
