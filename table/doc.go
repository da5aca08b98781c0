// Package table is the GiG.fs table: per user, the master, the sessions,
// the store tokens derived from them, the mount table
// (channel -> [{store_id, store_addr}]) and the secret shared with each
// store; served as a 9P2000 file tree, with its client side.
//
// # Layers
//
//   - Service (service.go and the files it names) holds the state and the
//     rules, with no 9P in it. Every operation of a user takes the
//     *Principal that Authenticate returned for the attach, and checks it
//     again: a connection attached with a session loses its rights when the
//     session is revoked or expires, one attached with the master when the
//     master changes.
//   - NewServer (tree.go, ctl.go) serves the trees of PROTOCOL.md over
//     srv9p: /user/<id>/{ctl,table,channel/,check/} and /admin/ctl.
//   - Client and Checker (client.go) are the client side, for clients and
//     for stores; NinePStores (ninepstores.go) is the table's own client of
//     the stores' ctl files.
//   - Main (main.go) is the gig-table program.
//
// # On disk
//
// Under the data folder ($GIGFS_DATA):
//
//	salt                    the name of the salt folder: random, made on first start
//	admin.key               the admin key (package internal/adminkey), mode 0600
//	<salt>/table.key        the table's HMAC key, 32 bytes in hex, mode 0600
//	<salt>/<user>/user.json      {"id", "created", "master": argon2id parameters, salt and hash}
//	<salt>/<user>/sessions.json  {"sessions": [{"id", "hash", "description", "timeout_ms",
//	                              "created", "expires", "stores", "revoked"}]}
//	<salt>/<user>/table.json     {"version", "mtime", "channels": {name: {"born", "stores"}},
//	                              "stores": {store_id: {"addr", "secret"}}}
//
// Times are unix milliseconds. Every file is written whole and atomically
// (package internal/atomicfile), mode 0600, before the request that changed
// it is answered. Session tokens are not stored: only their SHA-256
// ("hash"). Revoked and expired sessions stay as tombstones for
// Config.TombstoneAge, so that a check can say "token revoked" or "token
// expired" rather than "unknown token".
//
// One write is lazy: the sliding expiry of a session moves in memory on
// every use, and is written when it has moved by more than a tenth of the
// session's timeout (at most a minute), and on Close. A crash can thus end a
// session up to that much earlier than announced, never later.
//
// A corrupt file stops Open with an error naming the file.
package table
