package netstore

import (
	"errors"
	"testing"

	"gigfs.io/gigfs/gig"
)

// A confirm names the table the store will dial to check tokens: only an
// address of another server's form, and a unix socket only if allowed.
func TestConfirm_TableAddr(t *testing.T) {
	const storeID, secret = "5b0c4d2e-0000-4000-8000-000000000001", "0123456789abcdef0123456789abcdef"
	for _, allowUnix := range []bool{false, true} {
		s, err := Open(Config{Dir: t.TempDir(), AllowUnixTable: allowUnix})
		if err != nil {
			t.Fatal(err)
		}
		refused := []string{"tcp!*!5640", "tcp!0.0.0.0!5640", "tcp!table!9fs", ":5640"}
		if !allowUnix {
			refused = append(refused, "unix!/run/table.sock", "/run/table.sock")
		}
		code, err := s.AddUser("ann")
		if err != nil {
			t.Fatal(err)
		}
		for _, addr := range refused {
			if err := s.Confirm("ann", code, addr, storeID, secret); !errors.Is(err, gig.ErrInvalid) {
				t.Errorf("allowUnix=%v: confirm with table %s: %v, want invalid", allowUnix, addr, err)
			}
		}
		ok := "tls!table.example!5640"
		if allowUnix {
			ok = "unix!/run/table.sock"
		}
		if err := s.Confirm("ann", code, ok, storeID, secret); err != nil {
			t.Errorf("allowUnix=%v: confirm with table %s: %v", allowUnix, ok, err)
		}
		s.Close()
	}
}
