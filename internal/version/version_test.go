package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestLineOf(t *testing.T) {
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "gigfs.io/gigfs", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "4bf5941a2c3d4e5f"}, {Key: "vcs.time", Value: "2026-12-02T08:01:07Z"}, {Key: "vcs.modified", Value: "true"}}},
			"gig-store gigfs.io/gigfs (devel) rev 4bf5941a2c3d+dirty 2026-12-02T08:01:07Z go1.26.8"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "gigfs.io/gigfs", Version: "v1.2.3"}},
			"gig-store gigfs.io/gigfs v1.2.3 go1.26.8"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "gigfs.io/gigfs"}},
			"gig-store gigfs.io/gigfs (devel) rev unknown go1.26.8"},
	} {
		if got := lineOf("gig-store", &tc.bi); got != tc.want {
			t.Errorf("lineOf = %q, want %q", got, tc.want)
		}
	}
}

func TestLine(t *testing.T) {
	if got := Line("x"); !strings.HasPrefix(got, "x ") || !strings.Contains(got, "go1.") {
		t.Errorf("Line = %q", got)
	}
}
