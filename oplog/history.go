package oplog

// Until returns a copy of the log with its checkpoint and only the ops
// dated at or before date: reduced, it gives the value as it was at that
// date, as far as the log knows it (history before the checkpoint is
// pruned: the checkpoint's value stands for it). An op that arrived late
// counts from its date, as everywhere.
func (l *Log) Until(date int64) *Log {
	out := &Log{base: l.base}
	for i := range l.ops {
		if l.ops[i].Date <= date {
			out.ops = append(out.ops, l.ops[i])
		}
	}
	if len(out.ops) > indexMin {
		out.reindex()
	}
	return out
}
