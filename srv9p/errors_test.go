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

	"gigfs.io/gigfs/srv9p"
)

func TestErrorString(t *testing.T) {
	_, notExist := os.Open(filepath.Join(t.TempDir(), "secret-server-path"))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{srv9p.ErrNotExist, "file does not exist"},
		{srv9p.ErrPermission, "permission denied"},
		{srv9p.ErrExist, "file already exists"},
		{srv9p.ErrClosed, "file already closed"},
		{fmt.Errorf("user %q: %w", "bob", srv9p.ErrNotExist), `user "bob": file does not exist`},
		{notExist, "file does not exist"},
		{fmt.Errorf("load: %w", notExist), "file does not exist"},
		{&os.PathError{Op: "write", Path: "/srv/x", Err: syscall.ENOSPC}, "no space left on device"},
		{&os.PathError{Op: "write", Path: "/srv/x", Err: errors.New("odd")}, "i/o error"},
		{context.Canceled, "interrupted"},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), "timed out"},
		{errors.New("two\nlines\r\n\tand tabs  "), "two lines and tabs"},
		{errors.New(""), "error"},
		{errors.New(strings.Repeat("é", 150)), strings.Repeat("é", 98) + "..."},
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
		msg  string
		kind error
	}{
		{"file does not exist", srv9p.ErrNotExist},
		{`user "bob": file does not exist`, srv9p.ErrNotExist},
		{"permission denied: bad credential", srv9p.ErrPermission},
		{"too large: write of 5 bytes", srv9p.ErrTooLarge},
		{"bad request: want since N", srv9p.ErrBadRequest},
		{"interrupted", srv9p.ErrInterrupted},
		{"file does not exist yet", nil},
		{"something else", nil},
	} {
		err := srv9p.ParseError(tc.msg)
		if err.Error() != tc.msg {
			t.Errorf("ParseError(%q).Error() = %q", tc.msg, err.Error())
		}
		if tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("ParseError(%q) is not %v", tc.msg, tc.kind)
		}
		if tc.kind == nil && errors.Unwrap(err) != nil {
			t.Errorf("ParseError(%q) has kind %v", tc.msg, errors.Unwrap(err))
		}
	}
}
