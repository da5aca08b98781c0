package srv9p

// batch is what both ends of a connection keep to write several 9P
// messages in one write(2): the messages made while a write is under way,
// queued whole and in order, and the buffer of the last write, kept for
// the next queue. Its owner guards it with its own lock.
type batch struct {
	queue []byte // messages waiting for the write under way to end
	spare []byte // the buffer of the last write, empty
}

// maxSpare is the largest write buffer a batch keeps for the next one.
const maxSpare = 64 << 10

// take returns the queued messages and starts the next queue in the spare
// buffer.
func (b *batch) take() []byte {
	q := b.queue
	b.queue, b.spare = b.spare[:0], nil
	return q
}

// giveBack keeps the buffer of q, written, for a later queue, unless it
// is large.
func (b *batch) giveBack(q []byte) {
	if cap(q) <= maxSpare {
		b.spare = q[:0]
	}
}
