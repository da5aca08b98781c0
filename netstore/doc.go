// Package netstore is the service of a GiG.fs store: the oplogs of its
// users on disk, their pushes made durable, their streams of accepted ops,
// and the tokens the table vouches for. It speaks no 9P: its 9P tree is
// package netstore/storefs (which uses only the Service's exported
// methods) and the client of a remote store is package netstore/remote.
// An on-disk local store of a client is a Service used in process.
//
// # On disk
//
// A data folder (Config.Dir) holds:
//
//	lock                   flock'd by the one process that serves the folder (ErrInUse)
//	salt                   a random name, made on first start
//	<salt>/                the users' folders, under a name a path from
//	                       outside cannot guess
//	<salt>/<user>/store.json  the user's binding to a table (table address
//	                       and fingerprint, store id, secret; a pending
//	                       confirmation code, hashed)
//	<salt>/<user>/root/<type>/<channel>/<path...>
//	                       one file per oplog (oplog.DiskLog: framed
//	                       records, compacted at rest); a path's folders are
//	                       folders here
//	<salt>/<user>/stream   with Config.KeepStream, the user's stream, so
//	                       that the next process on the folder goes on with
//	                       the same epoch and seqs (streamfile.go)
//	<salt>/<user>/calls.jsonl  the user's newest calls, shown in /user/<id>/calls
//	<salt>/<user>/calls.zst    the older ones, compressed (calls.go)
//	wal/                   the write-ahead log (oplog.Journal): a push is
//	                       acknowledged once its records are fsynced here,
//	                       one fsync for every push that arrives meanwhile;
//	                       they reach the oplog files later, and are replayed
//	                       into them on the next start
//
// Files are written whole by atomic rename (internal/atomicfile) or
// appended; temporary files a crash leaves are removed on start. Names
// below root/ are checked by package gig, so no name escapes its folder.
package netstore
