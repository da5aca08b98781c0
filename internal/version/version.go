// Package version tells which build a program is, from the build
// information the Go toolchain records in every binary: the module's
// version and the VCS revision it was built from. Every GiG.fs program
// answers -version with Line.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Line is what prog -version prints: the program, the module and its
// version, the VCS revision and time (with "+dirty" when the work tree
// had changes), and the Go version.
//
//	gig-store gigfs.io/gigfs (devel) rev 4bf5941a2c3d+dirty 2026-12-02T08:01:07Z go1.26.8
func Line(prog string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return prog + " (no build information)"
	}
	return lineOf(prog, bi)
}

func lineOf(prog string, bi *debug.BuildInfo) string {
	mod, ver := bi.Main.Path, bi.Main.Version
	if mod == "" {
		mod = bi.Path // a test binary, or go run of a file
	}
	if ver == "" {
		ver = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	parts := []string{prog, mod, ver}
	switch {
	case rev != "":
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		parts = append(parts, "rev "+rev)
		if at != "" {
			parts = append(parts, at)
		}
	case !strings.HasPrefix(ver, "v"):
		parts = append(parts, "rev unknown")
	}
	return fmt.Sprintf("%s %s", strings.Join(parts, " "), bi.GoVersion)
}
