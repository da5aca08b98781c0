package storefs

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"gigfs.io/gigfs/internal/latency"
	"gigfs.io/gigfs/srv9p"
)

// treeStats are the counts the tree keeps for its status file.
type treeStats struct {
	accepted, refused atomic.Int64 // records pushed (push file and oplog writes)
	streams           atomic.Int64 // stream files open
	push              latency.Recorder
}

// countResults counts the results of a write by their code's word.
func (st *treeStats) countResults(results []string) {
	for _, r := range results {
		switch w, _, _ := strings.Cut(r, ":"); w {
		case "accepted":
			st.accepted.Add(1)
		case "duplicate", "covered", "superseded":
		default:
			st.refused.Add(1)
		}
	}
}

// streamHandle is an open stream file, counted while open.
type streamHandle struct {
	srv9p.Handle
	n *atomic.Int64
}

func (h *streamHandle) Close() error {
	h.n.Add(-1)
	return h.Handle.Close()
}

// statusFile is /status at the root of every attach: how the store is
// doing, one "name value" line each (PROTOCOL.md).
func (t *Tree) statusFile(user string) srv9p.Node {
	return srv9p.NewSnapshotFile(srv9p.Info{Name: "status", Mode: 0o444, Path: qpath(user, "/status")}, func(context.Context) ([]byte, error) {
		return []byte(t.Status()), nil
	})
}

// Status is the text of the status file.
func (t *Tree) Status() string {
	var st srv9p.StatusText
	line := st.Line
	line("server", "gig-store")
	line("epoch", "%s", t.S.Epoch())
	if !t.Started.IsZero() {
		line("uptime", "%v", time.Since(t.Started).Round(time.Second))
	}
	line("users", "%d", len(t.S.Users()))
	line("oplogs_open", "%d", t.S.OpenOplogs())
	line("oplogs_memory", "%s", t.S.MemoryText())
	line("ops_accepted", "%d", t.stats.accepted.Load())
	line("ops_refused", "%d", t.stats.refused.Load())
	line("streams", "%d", t.stats.streams.Load())
	st.Server(t.Server)
	line("push_durable", "%s", t.stats.push.Text())
	line("fsyncs", "%d", t.S.Syncs())
	line("fsync_latency", "%s", t.S.FsyncLatency())
	st.Memory()
	return st.String()
}
