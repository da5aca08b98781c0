package srv9p_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

func TestErrorString(t *testing.T) {
	_, notExist := os.Open(filepath.Join(t.TempDir(), "secret-server-path"))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{gig.ErrNotExist, "notfound: file does not exist"},
		{gig.ErrPermission, "permission: permission denied"},
		{gig.ErrExist, "exists: file already exists"},
		{gig.ErrClosed, "closed: file already closed"},
		{fmt.Errorf("user %q: %w", "bob", gig.ErrNotExist), `notfound: user "bob": file does not exist`},
		{notExist, "notfound: no such file or directory"},
		{fmt.Errorf("load: %w", notExist), "notfound: no such file or directory"},
		{&os.PathError{Op: "write", Path: "/srv/x", Err: syscall.ENOSPC}, "internal: no space left on device"},
		{&os.PathError{Op: "write", Path: "/srv/x", Err: errors.New("odd")}, "internal: i/o error"},
		{context.Canceled, "interrupted"},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), "timeout: timed out"},
		{errors.New("two\nlines\r\n\tand tabs  "), "internal: two lines and tabs"},
		{errors.New(""), "internal"},
		{errors.New(strings.Repeat("é", 150)), "internal: " + strings.Repeat("é", 93) + "..."},
	} {
		got := srv9p.ErrorString(tc.err)
		if got != tc.want {
			t.Errorf("ErrorString(%q): got %q, want %q", tc.err, got, tc.want)
		}
		if strings.Contains(got, "secret-server-path") {
			t.Errorf("ErrorString leaks a path: %q", got)
		}
	}
}

func TestParseError(t *testing.T) {
	for _, tc := range []struct {
		text, msg string
		kind      error
	}{
		{"notfound: file does not exist", "file does not exist", gig.ErrNotExist},
		{`notfound: user "bob": file does not exist`, `user "bob": file does not exist`, gig.ErrNotExist},
		{"permission: bad credential", "bad credential", gig.ErrPermission},
		{"limit: write of 5 bytes", "write of 5 bytes", gig.ErrLimit},
		{"invalid: want since N", "want since N", gig.ErrInvalid},
		{"interrupted", "interrupted", gig.ErrInterrupted},
		{"unavailable: table down", "table down", gig.ErrUnavailable},
		// A server may not make a client hang up by naming a transport error.
		{"transport: go away", "transport: go away", gig.ErrInternal},
		{"file does not exist", "file does not exist", gig.ErrInternal},
		{"something else", "something else", gig.ErrInternal},
	} {
		err := srv9p.ParseError(tc.text)
		if err.Error() != tc.msg {
			t.Errorf("ParseError(%q).Error() = %q, want %q", tc.text, err.Error(), tc.msg)
		}
		if got := gig.KindOf(err); got != tc.kind {
			t.Errorf("ParseError(%q) is %v, want %v", tc.text, got.Word(), tc.kind)
		}
		// What a client parses, a server relaying it sends on as it came.
		if got := srv9p.ErrorString(err); got != tc.text && gig.KindOf(err) != gig.ErrInternal {
			t.Errorf("ErrorString(ParseError(%q)) = %q", tc.text, got)
		}
	}
}
