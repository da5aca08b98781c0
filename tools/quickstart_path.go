package tools

import (
	"os"
	"path/filepath"
)

// toolsDir is the folder of the running program when the other tools are
// installed beside it (go install ./cmd/... puts them all in one folder),
// else "" (go run builds the quickstart alone, in a temporary folder).
func toolsDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	dir := filepath.Dir(exe)
	for _, tool := range []string{"gig-push", "gig-get", "gig-watch", "gigsh"} {
		if fi, err := os.Stat(filepath.Join(dir, tool)); err != nil || fi.IsDir() {
			return ""
		}
	}
	return dir
}

// pathLine is the line of quickstart.env that puts dir on PATH, once.
func pathLine(dir string) string {
	q := shQuote(dir)
	return "case \":$PATH:\" in *:" + q + ":*) ;; *) export PATH=" + q + ":\"$PATH\" ;; esac\n"
}
