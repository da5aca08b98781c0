// Package oplog holds the core of GiG.fs: operations, their total order,
// merging, checkpoints and pruning, reducers, and the compressed crash-safe
// file an oplog lives in. It knows no protocol and imports nothing of
// GiG.fs but the leaf helper internal/atomicfile.
//
// # Ops
//
// An op is a JSON object, one per line wherever ops travel as text:
//
//	{"date":1732550000123,"origin":"6f1c…","seq":7,"sha":"<hex>","payload":{…}}
//	{"date":1732550000999,"origin":"6f1c…","sha":"<hex>","value":{…},"covers":{"6f1c…":7,"a90e…":3}}
//
// The date comes from a hybrid Clock. The origin is the client instance that
// made the op (a random id) and seq numbers that origin's ops on one
// (type, path) from 1 without gaps; (origin, seq) is the op's nonce, so two
// clients pushing the same payload in the same millisecond make two ops. The
// sha is the SHA-256 of the canonical encoding described at Hash; it is made
// once, by the client, and a store refuses an op whose sha does not match.
// Payloads and values are any JSON value (0, "", false and null included),
// kept in canonical form (keys sorted, no spaces, numbers as written).
//
// # Order and checkpoints
//
// Ops are ordered by (date, sha): two logs holding the same records reduce to
// the same value whatever order the records arrived in.
//
// A checkpoint carries a value and covers, a version vector: origin -> the
// highest seq it stands for. Since each origin's seqs have no gaps, an op is
// covered exactly when its seq is at most its origin's entry. The vector is
// complete: a checkpoint covers all history, so a store that missed earlier
// checkpoints converges on the latest one. A log keeps the latest checkpoint
// (the base) and the ops it does not cover:
//
//   - an op the base covers is a no-op (an echo of a pruned op is not
//     applied twice);
//   - an op the base does not cover is kept and replayed after the base in
//     (date, sha) order, however old its date (a late op is never dropped);
//   - a checkpoint whose coverage includes the base's replaces it and prunes
//     what it covers; one included in the base's is a no-op; with equal
//     coverage the larger (date, sha) wins; an incomparable one is refused.
//
// There is no retention window: the vector never forgets, so no late op can
// outlive the bookkeeping that recognises it. The bookkeeping is one entry per
// origin that ever wrote the path, which stays small as long as an origin
// names a lasting writer, reused by its every run (the client's origin
// leases), rather than one process. The refusals are explicit: an op whose
// (origin, seq) is held by another op, and a checkpoint incomparable with the
// base. A client's own op that no store accepted can always be re-issued.
//
// # The file
//
// A log file is a sequence of frames. Each frame is a zstd skippable frame
// (magic 0x184D2A5E, 8 bytes of content: the length of the next frame and
// its CRC-32C, little endian) followed by a zstd frame (with its content
// checksum) holding records as JSON lines. The file is thus a valid zstd
// stream: zstdcat prints the records.
//
// An append writes one frame and fsyncs before it is acknowledged; appends
// that arrive during a write are written together by the next writer, with
// one fsync (group commit). Records are kept in arrival order; loading merges
// them into a Log, so duplicates and pruned records are harmless. When most
// records of a file are pruned, the file is rewritten with the live ones: a
// temporary file is written and fsynced, renamed over the file, and the folder
// fsynced.
//
// On load, a last frame that is incomplete, fails its checksum or does not
// decode, and zero bytes at the end, are what a crash in the middle of an
// append leaves: they are cut off, and every acknowledged append is before
// them. Damage followed by more frames cannot come from a torn append, so it
// is reported as ErrCorrupt, naming the offset, and nothing is cut.
//
// Files of older formats are kept in testdata/ and loaded by the tests.
//
// # The journal
//
// A store acknowledges pushes from a Journal, a write-ahead log shared by
// all its oplogs, and brings the oplogs' files up to date from it in the
// background (DiskLog.MergeJournaled, then DiskLog.Flush). The journal is a
// folder of segment files named by a 16-digit hex number, in order
// (0000000000000001.wal, …). Records are enqueued with a key, naming what
// they are for, and a body, both the journal user's (package netstore: the
// key names the user, type and path, the body is the accepted ops as the
// oplog's file keeps them). Records enqueued while a write is in progress
// are written together by the next writer, with one fdatasync, whatever
// oplogs they are for (group commit); a writer's records are durable, and
// its push acknowledged, once that fdatasync returns. A new segment's name
// is made durable (the folder fsynced) before a record in it is
// acknowledged.
//
// A segment (version 2) starts with the 8 bytes "GIGWAL2\n" and holds
// frames, one per write (more for a write of over 1 MiB of records). A
// frame is a header of 8 bytes, the length of its content and the
// content's CRC-32C (little endian), then the content: one byte saying how
// the rest is stored, 0 as it is or 1 as one zstd frame (written when the
// entries are 256 bytes or more and zstd saves an eighth of them: a group
// commit of many small records, never one small record), and the entries.
// An entry is a reference (uvarint) to its key, then the body's length
// (uvarint) and the body. Reference 0 defines a key: its length (uvarint)
// and bytes follow, and it is from then on, in that segment, the next
// number from 1; so each key is written once per segment, and every frame
// is read with the keys of the frames before it. testdata/journal-v2 pins
// the format.
//
// Version 1 segments ("GIGWAL1\n", testdata/journal-v1) are still read: a
// record per frame, the content its body, with no key and no compression
// (the netstore body then starts with the user, type and path). A store
// upgraded over a journal it did not flush replays it; it writes version
// 2 only, so an older store cannot read a journal a newer one left
// unflushed (a clean stop flushes it, and the oplogs' files are
// unchanged).
//
// A segment may be preallocated (Journal.Preallocate; gig-store
// -wal-prealloc): made ahead of need as spare.tmp, the magic then zeros
// up to its size, written and fsynced once in the background, then
// renamed to the next segment's name (the folder fsynced) when the writer
// needs it. Frames overwrite the zeros in place, so a record's fdatasync
// commits no metadata; a segment whose zeros run out moves on to the next
// spare, or is appended to past them if none is ready. Zeros after the
// last frame are the segment's unused part, in any segment, and stay:
// a frame header of zero length followed by zeros to the end marks it.
// spare.tmp is never a segment: one left by a crash is removed on open.
// testdata/journal-v2-prealloc pins the shape (two segments of 512
// bytes, the first filled, the second ending in zeros). The frames are
// unchanged and the magic is still "GIGWAL2\n": a store of the previous
// version meeting zeros at the end of the last segment cuts them off as
// a torn tail and replays everything; zeros ending an earlier segment (a
// crash while a segment that filled up was followed by another) it
// reports as ErrCorrupt, and it refuses to start without cutting or
// losing anything. A clean stop leaves no segment (the flush removes
// them) and removes the spare, so going back a version after a clean
// stop is safe.
//
// Rotate closes the open segment; once every oplog file holds what the
// closed segments hold (appended and fsynced), Remove deletes them. On
// open every segment is replayed in order: merging a record an oplog
// already holds is a no-op, so replaying twice is harmless. As with log
// files, an incomplete last frame, a last frame that fails its checksum,
// and bytes of a torn frame followed by zeros at the end of the last
// segment are a torn write, cut off;
// damage followed by more frames, a frame with a good checksum that does
// not decode (a bad reference, length or zstd frame), or damage in a
// segment before the last, is ErrCorrupt and nothing is cut.
package oplog
