package srv9p

// Reads that name their write.
//
// A file that answers each write with a reply read from offset 0 of the
// same fid (a push file) may also number its writes: a Twrite at offset k
// > 0 is write number k of its fid, and a Tread at NamedOffset(k, off)
// reads its reply from off, once write k is done, even if the Tread was
// read from the connection first (9P lets a server run a fid's requests in
// any order). A client may then send the Twrite and the Tread together,
// without waiting for the Rwrite in between: a round trip less. A server
// that does not know the convention answers such a read with 0 bytes (the
// offset is past any reply), which tells the client to read at plain
// offsets once it has the Rwrite.

const (
	namedBase  = 1 << 62
	namedShift = 24 // bits of the offset within a reply: up to 16 MiB
	// MaxNamedWrite is the largest write number a named read can carry.
	MaxNamedWrite = 1<<(62-namedShift) - 1
	// MaxNamedOffset is the largest offset within a reply it can carry.
	MaxNamedOffset = 1<<namedShift - 1
)

// NamedOffset is the Tread offset that reads the reply of write k of the
// fid (its Twrite's offset, 1 to MaxNamedWrite) from off (0 to
// MaxNamedOffset).
func NamedOffset(k, off int64) int64 { return namedBase | k<<namedShift | off }

// ParseNamedOffset splits a Tread offset made by NamedOffset into the
// write it names and the offset within that write's reply; ok is false
// for a plain offset.
func ParseNamedOffset(o int64) (k, off int64, ok bool) {
	if o < namedBase {
		return 0, o, false
	}
	return (o &^ namedBase) >> namedShift, o & MaxNamedOffset, true
}
