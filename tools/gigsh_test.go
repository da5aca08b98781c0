package tools

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"gigfs.io/gigfs"
)

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"get demo lww /x", []string{"get", "demo", "lww", "/x"}},
		{"  push\tdemo  merge /x {\"a\": 1, \"b\": [1, 2]}  ", []string{"push", "demo", "merge", "/x", `{"a": 1, "b": [1, 2]}`}},
		{`push demo lww /x "a b \" c"`, []string{"push", "demo", "lww", "/x", `"a b \" c"`}},
		{`push demo lww /x {"s": "}"}`, []string{"push", "demo", "lww", "/x", `{"s": "}"}`}},
		{`push demo lww '/it''s' 'two words'`, []string{"push", "demo", "lww", "/it's", "two words"}},
		{"# a comment", nil},
		{"", nil},
	} {
		got, err := splitWords(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{`push demo lww /x {"a": 1`, `get 'x`, `push x "abc`} {
		if _, err := splitWords(bad); err == nil {
			t.Errorf("splitWords(%q): no error", bad)
		}
	}
}

func TestShell_Complete(t *testing.T) {
	sh := newShell(&Settings{Reducers: map[string]string{"score": "max"}}, nil, nil, nil, false)
	sh.note("notes", "merge", "/todo")
	sh.note("notes", "merge", "todo2")
	sh.note("work", "lww", "/x")
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"ge", []string{"get "}},
		{"s", []string{"session ", "status ", "sync "}},
		{"get ", []string{"notes ", "work "}},
		{"get n", []string{"notes "}},
		{"get notes m", []string{"merge "}},
		{"get notes s", []string{"score ", "set "}},
		{"get notes merge /", []string{"/todo ", "/todo2 "}},
		{"watch -values notes merge /todo ", []string{"/todo ", "/todo2 "}},
		{"get notes merge /todo ", nil},
		{"session r", []string{"revoke "}},
		{"help wa", []string{"watch "}},
	} {
		head, got, tail := sh.complete(tc.line, len(tc.line))
		if !reflect.DeepEqual(got, tc.want) || tail != "" || !strings.HasPrefix(tc.line, head) {
			t.Errorf("complete(%q) = %q, %q, %q; want %q", tc.line, head, got, tail, tc.want)
		}
	}
}

func TestShell_Script(t *testing.T) {
	dir := t.TempDir()
	lt, err := gigfs.ParseLocalTable([]byte(`{"n":[{"storage_path":"d"}],"m":[{"in_memory":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	set := &Settings{Local: resolveStorage(lt, dir), Reducers: map[string]string{}}
	script := `push n counter /c 2
push n counter /c 40
get n counter /c
channels
get nope lww /x
push m lww /x "still here"
`
	var out, errb bytes.Buffer
	code := RunShell(set, strings.NewReader(script), &out, &errb)
	if code != exitOK {
		t.Errorf("status = %d, want 0 (the last command's)", code)
	}
	if want := "2\n42\n42\nm\nn\n\"still here\"\n"; out.String() != want {
		t.Errorf("stdout = %q, want %q", out.String(), want)
	}
	if !strings.Contains(errb.String(), `get: unknown channel "nope"`) || !strings.Contains(errb.String(), "line 5: get failed") {
		t.Errorf("stderr = %q", errb.String())
	}
}
