package gig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestParseChannel(t *testing.T) {
	for _, ok := range []string{"demo", "a", "Ünïcode", "a.b", "x-y_z", strings.Repeat("c", MaxNameLen)} {
		if _, err := ParseChannel(ok); err != nil {
			t.Errorf("ParseChannel(%q) = %v, want ok", ok, err)
		}
	}
	// ".d" is the name the table once accepted and the store refused
	// (issue 11, reconnect storm): now one rule refuses it everywhere.
	for _, bad := range []string{"", ".d", ".", "..", "a/b", "a b", "a\tb", "a\x00", "a\u0085", "\xff", strings.Repeat("c", MaxNameLen+1)} {
		_, err := ParseChannel(bad)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseChannel(%q) = %v, want an ErrInvalid", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseChannel(%q): error is not one line: %q", bad, err)
		}
	}
}

func TestParseUser(t *testing.T) {
	for _, ok := range []string{"ana", "a", "a.b", "x-y_z9", strings.Repeat("u", MaxUserLen)} {
		if _, err := ParseUser(ok); err != nil {
			t.Errorf("ParseUser(%q) = %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{"", ".ana", "Ana", "a b", "a/b", "é", strings.Repeat("u", MaxUserLen+1)} {
		if _, err := ParseUser(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseUser(%q) = %v, want an ErrInvalid", bad, err)
		}
	}
}

func TestParsePath(t *testing.T) {
	for in, want := range map[string]Path{"a": "/a", "/a": "/a", "/a/b": "/a/b", "a/b c": "/a/b c"} {
		got, err := ParsePath(in)
		if err != nil || got != want {
			t.Errorf("ParsePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	deep := strings.Repeat("/x", MaxSegments)
	if _, err := ParsePath(deep); err != nil {
		t.Errorf("a path of %d elements: %v", MaxSegments, err)
	}
	for _, bad := range []string{"", "/", "//x", "/a//b", "/a/", "/a/./b", "/a/../b", "/.hidden", "/a\nb", "/a\x7fb",
		deep + "/x", "/" + strings.Repeat("n", MaxNameLen+1), strings.Repeat("/nnnnnnn", MaxPathLen/8+1)} {
		_, err := ParsePath(bad)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePath(%q) = %v, want an ErrInvalid", bad, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "bad path") || len(msg) > 200 {
			t.Errorf("ParsePath(%q): error %q should start with \"bad path\" and stay short", bad, msg)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/a/b", "a", "//", "/a/../b", "/\x00", "/é/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if KindOf(err) != ErrInvalid {
				t.Fatalf("ParsePath(%q): %v is of kind %v, want invalid", s, err, KindOf(err))
			}
			return
		}
		// One form: parsing it again gives it back, and every element is a
		// name any store accepts as a file name.
		if q, err := ParsePath(string(p)); err != nil || q != p {
			t.Fatalf("ParsePath(%q) = %q, but ParsePath(%q) = %q, %v", s, p, p, q, err)
		}
		for _, e := range p.Elements() {
			if err := ParseElement(e); err != nil {
				t.Fatalf("ParsePath(%q) = %q with element %q that ParseElement refuses: %v", s, p, e, err)
			}
		}
	})
}

// Every kind crosses the wire: Parse(Wire(err)) has err's kind and message.
func TestWireRoundTrip(t *testing.T) {
	for _, k := range wireKinds {
		err := fmt.Errorf("push /demo/x: %w", Errorf(k, "because %d", 7))
		text := Wire(err)
		if !strings.HasPrefix(text, k.Word()+": ") {
			t.Errorf("Wire(%v) = %q, want it to start with %q", err, text, k.Word())
		}
		back := Parse(text)
		if !errors.Is(back, k) || KindOf(back) != k {
			t.Errorf("Parse(%q) has kind %v, want %v", text, KindOf(back), k)
		}
		if back.Error() != err.Error() {
			t.Errorf("Parse(%q) says %q, want %q", text, back, err)
		}
		if bare := Parse(k.Word()); KindOf(bare) != k {
			t.Errorf("Parse(%q) has kind %v", k.Word(), KindOf(bare))
		}
	}
}

func TestWireTransportGoesAsUnavailable(t *testing.T) {
	err := Errorf(ErrTransport, "dial table: connection refused")
	back := Parse(Wire(err))
	if KindOf(back) != ErrUnavailable || errors.Is(back, ErrTransport) {
		t.Fatalf("a server's failed call came back as %v (%q); want unavailable, never transport", KindOf(back), Wire(err))
	}
}

func TestParseForeignText(t *testing.T) {
	for _, text := range []string{"file not found", "permissions: x", "", "Invalid: x"} {
		err := Parse(text)
		if KindOf(err) != ErrInternal || err.Error() != text {
			t.Errorf("Parse(%q) = %v of kind %v; want internal, same text", text, err, KindOf(err))
		}
	}
}

func TestKindOfStandardErrors(t *testing.T) {
	for err, want := range map[error]*Kind{
		fs.ErrNotExist:                      ErrNotExist,
		fmt.Errorf("x: %w", fs.ErrExist):    ErrExist,
		fs.ErrPermission:                    ErrPermission,
		fs.ErrClosed:                        ErrClosed,
		context.Canceled:                    ErrInterrupted,
		context.DeadlineExceeded:            ErrTimeout,
		errors.New("boom"):                  ErrInternal,
		Errorf(ErrLimit, "%w", fs.ErrExist): ErrLimit, // the first kind wins
	} {
		if got := KindOf(err); got != want {
			t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
		}
	}
	if KindOf(nil) != nil {
		t.Error("KindOf(nil) != nil")
	}
	// And the other way: a kind is the io/fs error it stands for.
	if !errors.Is(Errorf(ErrNotExist, "no oplog"), fs.ErrNotExist) || !errors.Is(ErrPermission, fs.ErrPermission) {
		t.Error("kinds do not match their io/fs errors")
	}
	if errors.Is(Errorf(ErrLimit, "x"), fs.ErrNotExist) {
		t.Error("ErrLimit matches fs.ErrNotExist")
	}
}
