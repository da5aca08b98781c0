package tools

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"gigfs.io/gigfs"
)

// Tab completes the paths the stores hold, not only those used in the
// session: one element at a time, folders with a "/" and no space.
func TestShell_CompleteFromStores(t *testing.T) {
	dir := t.TempDir()
	lt, err := gigfs.ParseLocalTable([]byte(`{"n":[{"storage_path":"d"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	local := resolveStorage(lt, dir)
	// Another shell writes the paths; this one has never used them.
	var out, errb bytes.Buffer
	script := "push n counter /notes/a 1\npush n counter /notes/b/c 1\npush n lww /now 2\npush n counter /x 1\n"
	if code := RunShell(&Settings{Local: local, Reducers: map[string]string{}}, strings.NewReader(script), &out, &errb); code != 0 {
		t.Fatalf("push: status %d: %s", code, errb.String())
	}
	sh := newShell(&Settings{Local: local, Reducers: map[string]string{}}, nil, nil, nil, false)
	defer sh.close()
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"get n counter /", []string{"/notes/", "/x "}},
		{"get n counter /no", []string{"/notes/"}},
		{"get n counter /notes/", []string{"/notes/a ", "/notes/b/"}},
		{"get n counter /notes/b/", []string{"/notes/b/c "}},
		{"get n lww /no", []string{"/now "}},
		{"ls n /no", []string{"/notes/", "/now "}},
		{"ls n", []string{"n "}},
		{"ls ", []string{"n "}},
	} {
		_, got, _ := sh.complete(tc.line, len(tc.line))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("complete(%q) = %q; want %q", tc.line, got, tc.want)
		}
	}
}
