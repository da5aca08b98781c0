package oplog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// parseChunk is how many bytes of a store's answer one goroutine of
// ParseLog decodes and checks at a time; an answer of one chunk or less
// is parsed by the caller's goroutine alone.
var parseChunk = 256 << 10 // a variable for the fuzz test

// ParseLog decodes an oplog read as JSON lines (a store's answer), checking
// every record once, and merges them. A line that is not a valid op, or
// that the log refuses, is an error naming the line (the first one, in
// the answer's order). The log's payloads and shas share data's memory:
// data must not change afterwards.
//
// A long answer is cut into chunks at line ends that several goroutines
// (up to GOMAXPROCS) decode and check at once, each record into its own
// slot of one array; the caller merges the chunks in order as they are
// ready. Records in the log's order (what a store sends) are appended to
// the log in place, in that same array, with one look-up of the (origin,
// seq) index each; any other record is merged the general way (Log.Merge
// without the check).
func ParseLog(data []byte) (*Log, error) {
	l, _, err := parseLines(data, decodeShared, true)
	return l, err
}

// parseRecords decodes the records of a log file (each record's sha is
// computed again: see appendStored) and merges them as ParseLog does,
// but for what a file may hold and a store's answer may not: the same
// record twice, records that a later checkpoint prunes, and records the
// log refuses are merged the general way and the refusals ignored (the
// store accepted each when it came). Payloads are copies: data is not
// kept. It returns the log and the number of records.
func parseRecords(data []byte) (*Log, int, error) {
	return parseLines(data, decodeStored, false)
}

// parseLines is ParseLog and parseRecords, decoding each line with dec;
// answer says which of the two it is. It also returns the number of
// records (lines not blank).
func parseLines(data []byte, dec func([]byte, *interner) (Op, error), answer bool) (*Log, int, error) {
	chunks, slots := cutChunks(data)
	recs := make([]Op, slots)
	l := NewLog()
	if slots-1 > indexMin { // a shorter log scans its ops (Log.seqOf)
		l.bySeq = make(map[originSeq]string, slots-1)
	}
	p := &parser{l: l, recs: recs, answer: answer}
	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	if workers <= 1 {
		in := &interner{alias: answer}
		for i := range chunks {
			chunks[i].decode(recs, in, dec)
			if err := p.mergeChunk(&chunks[i]); err != nil {
				return nil, 0, err
			}
		}
		return p.done(), p.records, nil
	}
	var (
		next atomic.Int64 // the next chunk to decode
		stop atomic.Bool  // the caller found an error: decode no more
		wg   sync.WaitGroup
	)
	for i := range chunks {
		chunks[i].ready = make(chan struct{})
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := &interner{alias: answer}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(chunks) {
					return
				}
				if !stop.Load() {
					chunks[i].decode(recs, in, dec)
				}
				close(chunks[i].ready)
			}
		}()
	}
	for i := range chunks {
		<-chunks[i].ready
		if err := p.mergeChunk(&chunks[i]); err != nil {
			stop.Store(true)
			wg.Wait()
			return nil, 0, err
		}
	}
	wg.Wait()
	return p.done(), p.records, nil
}

// A chunk is a run of whole lines of a store's answer, and where its
// records go.
type chunk struct {
	b     []byte
	slot  int // the slot of its first line; its line number is slot+1
	n     int // its lines
	ready chan struct{}
	errAt int // the index of the line that failed to decode, or n
	err   error
}

// cutChunks cuts data into chunks of about parseChunk bytes at line ends
// and returns them with the number of lines of data.
func cutChunks(data []byte) ([]chunk, int) {
	var chunks []chunk
	slots := 0
	for len(data) > 0 {
		end := len(data)
		if end > parseChunk {
			if i := bytes.IndexByte(data[parseChunk:], '\n'); i >= 0 {
				end = parseChunk + i + 1
			}
		}
		b := data[:end]
		data = data[end:]
		n := bytes.Count(b, []byte{'\n'})
		if b[len(b)-1] != '\n' {
			n++
		}
		chunks = append(chunks, chunk{b: b, slot: slots, n: n})
		slots += n
	}
	return chunks, slots
}

// decode decodes the chunk's lines with dec into their slots of recs; a
// blank line leaves its slot zero (no sha). It stops at the first line
// that fails.
func (c *chunk) decode(recs []Op, in *interner, dec func([]byte, *interner) (Op, error)) {
	b := c.b
	c.errAt = c.n
	for i := 0; i < c.n; i++ {
		rec := b
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			rec, b = b[:j], b[j+1:]
		} else {
			b = nil
		}
		rec = bytes.TrimSpace(rec)
		if len(rec) == 0 {
			continue
		}
		o, err := dec(rec, in)
		if err != nil {
			c.errAt, c.err = i, err
			return
		}
		recs[c.slot+i] = o
	}
}

// decodeShared is Decode for ParseLog: the payload and sha alias line,
// and origins are interned and checked once each.
func decodeShared(line []byte, in *interner) (Op, error) {
	if len(line) > MaxLineSize {
		return Op{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(line), MaxLineSize)
	}
	o, ok := decodeFast(line, in)
	if !ok || o.Sha == "" {
		return decodeSlow(line, true)
	}
	if err := o.check(o.Origin != "" && o.Origin == in.checked); err != nil {
		return Op{}, err
	}
	if o.Origin != "" {
		in.checked = o.Origin
	}
	return o, nil
}

// decodeStored is decode without the check, for parseRecords: origins are
// interned, and the payload is copied.
func decodeStored(line []byte, in *interner) (Op, error) {
	o, ok := decodeFast(line, in)
	if !ok {
		return decodeSlow(line, false)
	}
	o.Payload = append(json.RawMessage(nil), o.Payload...)
	if o.Sha == "" { // a record of a log file: see appendStored
		o.Sha = Hash(&o)
	}
	return o, nil
}

// aliasString returns a string that shares b's memory: b must not change
// afterwards (ParseLog's data does not).
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// A parser merges decoded records into l. The log's ops live in recs:
// from the first record on, l.ops is a slice of recs that never reaches
// past the slot being merged, so appending to it in place moves each
// record at most back, over slots already merged.
type parser struct {
	l       *Log
	recs    []Op
	start   int  // the slot l.ops begins at
	began   bool // l.ops is a slice of recs
	answer  bool // a store's answer (ParseLog), not a file's records
	records int  // records merged
}

// mergeChunk merges the records of a decoded chunk, in order, and returns
// the error of the first line that failed to decode or was refused.
func (p *parser) mergeChunk(c *chunk) error {
	l := p.l
	for i := 0; i < c.errAt; i++ {
		j := c.slot + i
		if p.recs[j].Sha == "" { // a blank line
			continue
		}
		o := p.recs[j]
		p.records++
		if !p.began {
			// Ops are appended from this slot on (from the next one
			// when this record is a checkpoint: it becomes the base).
			p.start = j
			if o.Kind() == KindCheckpoint {
				p.start++
			}
			l.ops, p.began = p.recs[p.start:p.start], true
		}
		if o.Kind() == KindOp && (len(l.ops) == 0 || Less(&l.ops[len(l.ops)-1], &o)) && !l.base.Covers.Covers(&o) {
			key := originSeq{o.Origin, o.Seq}
			if l.bySeq == nil { // a short log (or one a checkpoint pruned): no map
				if _, held := l.seqOf(o.Origin, o.Seq); !held {
					l.ops = append(l.ops, o)
					l.indexed(&l.ops[len(l.ops)-1])
					continue
				}
			} else if p.answer {
				// One index access: an answer holds each (origin, seq)
				// once, so a held one is rare enough to look for.
				n := len(l.bySeq)
				l.bySeq[key] = o.Sha
				if len(l.bySeq) > n {
					l.ops = append(l.ops, o)
					continue
				}
				// The (origin, seq) was held: give it back its sha, and
				// let the general merge say what o is (a duplicate, or
				// refused).
				for k := range l.ops {
					if l.ops[k].Origin == o.Origin && l.ops[k].Seq == o.Seq {
						l.bySeq[key] = l.ops[k].Sha
						break
					}
				}
			} else if _, held := l.bySeq[key]; !held {
				l.bySeq[key] = o.Sha
				l.ops = append(l.ops, o)
				continue
			}
		}
		if r := l.merge(o); r.Outcome() == Refused && p.answer {
			return &LineError{Line: j + 1, Err: r.Err()}
		}
	}
	if c.err != nil {
		return &LineError{Line: c.slot + c.errAt + 1, Err: c.err}
	}
	return nil
}

// done returns the log, its array cleared past its ops (and before them)
// so that it holds no record twice.
func (p *parser) done() *Log {
	if len(p.l.ops) == 0 {
		p.l.ops = nil
	}
	if p.began && len(p.l.ops) > 0 && &p.l.ops[0] == &p.recs[p.start] {
		clear(p.recs[:p.start])
		clear(p.recs[p.start+len(p.l.ops):])
	} else {
		clear(p.recs)
	}
	return p.l
}
