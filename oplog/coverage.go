package oplog

import (
	"fmt"
	"sort"
	"strconv"
)

// Coverage is the version vector of a checkpoint: for each origin, the
// highest seq it covers. Since an origin numbers its ops on a path from 1
// without gaps, "covered" is a prefix per origin: op (origin, seq) is
// covered when seq <= Coverage[origin]. The vector is exact, complete (it
// describes all history, not only what came since the previous checkpoint)
// and as small as the number of origins that ever wrote the path.
type Coverage map[string]uint64

// Covers reports whether the op o is among the ops c stands for.
func (c Coverage) Covers(o *Op) bool {
	return o.Kind() == KindOp && o.Seq <= c[o.Origin]
}

// Clone returns a copy of c (never nil).
func (c Coverage) Clone() Coverage {
	d := make(Coverage, len(c))
	for k, v := range c {
		d[k] = v
	}
	return d
}

// Compare tells how c relates to d: le is true when everything c covers d
// covers too, ge when everything d covers c covers too. Both are true when
// they are equal, neither when they are incomparable.
func (c Coverage) Compare(d Coverage) (le, ge bool) {
	le, ge = true, true
	for k, v := range c {
		if v > d[k] {
			le = false
		}
	}
	for k, v := range d {
		if v > c[k] {
			ge = false
		}
	}
	return le, ge
}

func (c Coverage) check() error {
	for k, v := range c {
		if err := checkOrigin(k, false); err != nil {
			return fmt.Errorf("covers: %w", err)
		}
		if v == 0 {
			return fmt.Errorf("%w: covers %s: seq must be >= 1", ErrMalformed, k)
		}
	}
	return nil
}

// appendJSON appends the canonical JSON of c: keys sorted, no spaces.
func (c Coverage) appendJSON(b []byte) []byte {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...) // origins are plain ASCII, see checkOrigin
		b = append(b, '"', ':')
		b = strconv.AppendUint(b, c[k], 10)
	}
	return append(b, '}')
}
