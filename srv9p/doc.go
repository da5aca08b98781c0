// Package srv9p holds the 9P2000 building blocks of the GiG.fs servers
// (the store and the table). It is the only package of ours that imports
// a 9P server library, and it holds no GiG.fs logic.
//
// # What it provides
//
// A server describes its namespace with Nodes built on demand: a Dir
// answers Walk (one name) and List, a File answers Open with a per-fid
// Handle (Read, Write, Close). Info carries what a stat and a qid need;
// Info.Version becomes qid.vers, so feeding it the oplog sequence makes the
// version move on every change. Optional interfaces add Tcreate (Creator),
// Tremove (Remover) and truncation (Truncater). NewDir and NewFile build
// the fixed parts of a tree.
//
// Server.Attach authenticates each attach (uname is the user id, aname the
// credential) and returns the root the new fid sees. Server.Serve accepts
// on a listener until its context is cancelled; ParseAddr and Listen take
// Plan 9 dial strings (tcp!host!port, unix!/path) and host:port.
//
// Three handles cover the Plan 9 idioms:
//   - NewCtl: a request/reply file. Each write is one command, passed to a
//     CtlFunc; reads on the same fid return its reply from offset 0.
//   - NewStream: a blocking read file fed by a Source whose Next blocks
//     until a record is ready (and, with Ready, returns every record that
//     is ready in one read). A Tflush of the read, or a hang-up, cancels
//     Next's context and the read ends at once.
//   - NewStatic: small read-only contents (JSON computed at open).
//
// Errors: a tree returns gig.ErrNotExist, gig.ErrPermission, gig.ErrInvalid and the
// like, or errors wrapping them; ErrorString makes the one-line 9P error
// ("file does not exist", "permission denied", a cancelled context gives
// "interrupted"; an os error gives its cause without server paths).
// ParseError maps the strings back to the kinds for our client sides.
//
// Limits, per connection (Server fields, defaults in Default*): message
// size (64 KiB; a client may ask for less), fids (4096), stream reads in
// progress (1024), largest write (MaxWrite, off by default), and an idle
// timeout (no traffic and no request in progress, 10 minutes). Going past
// a limit fails the request with a plain error ("too many fids: limit
// 4096"); a message over the message size hangs up.
//
// Floods are bounded by back-pressure (flow.go): a connection has at most
// MaxInFlight requests in flight and MaxPending bytes of requests and
// replies pending; past either the server stops reading from it, so a
// client that sends without taking its replies holds a bounded amount of
// memory and others are served. Connections not attached yet are capped
// (MaxUnauth, MaxUnauthPerAddr), may have 4 requests in flight, and are
// closed after AuthTimeout. Failed attaches are slowed per source address
// (AttachDelay), never for other addresses (guard.go). Each of these logs
// a line when it bites, at most one per kind a minute.
//
// A Tclunk releases its fid at once and answers with the error of
// Handle.Close, if any (logged too); if a read or write on the fid is in
// progress, the fid is released when it ends, and a Close error is only
// logged. When a connection ends (hang-up, idle timeout, Serve's context
// cancelled), every request context of it is cancelled and every fid is
// released: Handle.Close is called once per open fid, after the reads and
// writes in progress on it have returned. Handles must honour their
// context, or a hang-up waits for them, and Close must not block for long.
//
// # Why 9fans.net/go/plan9/srv9p
//
// ../shared/NOTES-9P.md measured both candidates on this machine. The
// github.com/knusbaum/go9p v1.18.0 server keeps running a flushed request
// and sends its reply after the Rflush; never clunks the fids of a
// connection that drops, so a blocking stream's publisher freezes; panics
// the whole process past 200 pending requests on a connection; answers a
// partial Twalk with Rerror; leaves qid.vers at 0; ignores Tversion
// "9P2000.L"; and has data races. 9fans.net/go/plan9/srv9p (a port of
// Plan 9's lib9p) gets flush, walk and clunk-on-hang-up right, served
// 1,000 blocked reads on one connection with ctl still answered in about
// a millisecond, and listed 10,000 entries correctly in a quarter of the
// time. It has no tagged release: go.mod pins a pseudo-version.
//
// # Library behaviours worked around
//
//   - Its Tree helper increments Qid.Vers without a lock (a data race) and
//     suits static trees: we do not use it. Walk, Open, Read (directories
//     included), Stat and Wstat are served from our Nodes.
//   - Request contexts are cancelled only by Tflush, not when the
//     connection ends, and a request still running at hang-up keeps its
//     fid (and the fid's Clunk) alive. When a connection ends, our reader
//     hands the library a Tflush of every request in flight (on tags of
//     their own, their replies going nowhere), so the library's request
//     context is the request's whole context, with no context of ours
//     made per request; and our own fid registry releases every fid at the
//     connection's end, once the fid's requests have returned, instead of
//     waiting for the library.
//   - It accepts any msize in Tversion, and below 24 bytes its read count
//     check wraps around (a client could make it allocate gigabytes). We
//     read each message before it does: a Tversion with msize under 256 is
//     made to get version "unknown", and a message over the negotiated
//     size hangs up.
//   - A reply it cannot write is logged to the standard logger and the
//     connection goes on. Our writer closes the connection instead, logs
//     one line to Server.Logf, and gives the library no error.
//   - It keeps no read deadline: our reader implements IdleTimeout.
//   - A panic in a request handler would kill the process: ours recover it,
//     log it, and answer "internal server error".
//   - Its Clunk hook runs after the Rclunk and returns nothing, so a
//     Handle.Close error (a store's partial line dropped) could not reach
//     the client. The reader hands the library each Tclunk as a Tremove,
//     which forgets the fid and answers with our error, and the writer
//     makes the reply an Rclunk again (clunk.go): a Tclunk gets Close's
//     error as its Rerror, the fid gone either way, as clunk(5) says.
//
// Behaviours left as they are: a Tversion in mid-session does not reset
// the session; Rcreate carries no iounit; a Tauth is answered
// "<program>: authentication not required" (credentials go in aname); each
// read allocates a buffer of its count before it blocks, so a connection's
// blocked reads may hold up to MaxBlockedReads × msize bytes (64 MiB at the
// defaults); requests of one connection run concurrently, in no guaranteed
// order; and a Tclunk of a fid whose read is blocked takes effect when that
// read ends, so clients flush first (as Plan 9 does).
package srv9p
