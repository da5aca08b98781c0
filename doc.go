// Package gigfs is the GiG.fs client library: channels over local and remote
// stores, offline-first writes, sync and prune, and watches.
//
// A Client is configured with an optional remote table (address, user,
// session token) and an optional local table (channel -> local stores, in
// memory or on disk). With only a local table it works fully offline.
//
// Reads answer from memory once a path is loaded; a path never loaded waits,
// within a short bound, for the stores that answer and merges what they hold,
// so an empty store never wins over one that has the data. Writes apply at
// once and return when one store has durably accepted them; ops no remote
// store has accepted stay pending and are sent again when a store comes back.
// The client keeps loaded oplogs current from the remote stores' streams,
// and after reads, writes and stream events it syncs: it pushes to each store
// the ops it lacks and, when every store of the channel answered and all
// agree, and the tail is long or old enough, inserts a checkpoint covering
// exactly the agreed ops.
//
// On stores, the oplog of (channel, type, path) is the store's oplog
// (type, "/"+channel+path): a store may serve several channels of a user
// without mixing them.
package gigfs
