package table

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// Limits on what clients may name and store.
const (
	maxUserLen        = 64
	maxChannelLen     = 255
	maxDescriptionLen = 256
	minMasterLen      = 8
	maxMasterLen      = 1024
	maxCodeLen        = 256
	maxAddrLen        = 255
	minTimeout        = time.Second

	// MaxSessions is how many live sessions one user may hold.
	MaxSessions = 1024
	// MaxChannels is how many channels one user's mount table may hold.
	MaxChannels = 4096
	// MaxStoresPerChannel is how many stores one channel may have.
	MaxStoresPerChannel = 64
)

// validUser reports whether id is a user id (gig.ParseUser).
func validUser(id string) bool {
	_, err := gig.ParseUser(id)
	return err == nil
}

// validTimeout checks a session timeout: between a second and max.
func validTimeout(d, max time.Duration) error {
	if d < minTimeout || d > max {
		return badRequest("bad timeout %v: want between %v and %v", d, minTimeout, max)
	}
	return nil
}

// parseTimeout parses a Go duration ("90m", "24h") and checks it.
func parseTimeout(s string, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, badRequest("bad timeout %q: want a duration such as 90m or 24h", gig.Clip(s))
	}
	return d, validTimeout(d, max)
}

// validStoreAddr checks the form of a store's dial string, as stored.
// What store add accepts is narrower: see checkStoreAddr.
func validStoreAddr(addr string) error {
	if len(addr) > maxAddrLen || hasSpaceOrControl(addr) {
		return badRequest("bad store address %q", gig.Clip(addr))
	}
	if _, _, err := srv9p.ParseAddr(addr); err != nil {
		return badRequest("bad store address %q: want tcp!host!port, unix!/path or host:port", gig.Clip(addr))
	}
	return nil
}

// validDescription checks a session description: 1–256 bytes of UTF-8
// without control characters.
func validDescription(s string) error {
	if s == "" || len(s) > maxDescriptionLen || !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return badRequest("bad description: want 1-256 bytes of text on one line")
	}
	return nil
}

// validMaster checks a master: 8–1024 bytes of UTF-8 without control
// characters. (Spaces are allowed inside.)
func validMaster(m string) error {
	if len(m) < minMasterLen || len(m) > maxMasterLen || !utf8.ValidString(m) || strings.IndexFunc(m, unicode.IsControl) >= 0 {
		return badRequest("bad master: want 8-1024 bytes of text on one line")
	}
	return nil
}

// validCode checks a store's confirmation code: one word.
func validCode(c string) error {
	if c == "" || len(c) > maxCodeLen || hasSpaceOrControl(c) {
		return badRequest("bad confirmation code")
	}
	return nil
}

// validID checks a session or store id as the table makes them: a uuid.
func validID(what, id string) error {
	if len(id) != 36 || strings.Trim(id, "0123456789abcdef-") != "" {
		return badRequest("bad %s id %q", what, gig.Clip(id))
	}
	return nil
}

func hasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
}

// checkStoreAddr checks a store address given to store add: what the
// table will dial (srv9p.CheckPeerAddr; unix sockets only if allowUnix).
func checkStoreAddr(addr string, allowUnix bool) error {
	if err := validStoreAddr(addr); err != nil {
		return err
	}
	if err := srv9p.CheckPeerAddr(addr, allowUnix); err != nil {
		return badRequest("bad store address: %w", err)
	}
	return nil
}
