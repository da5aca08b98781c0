package tools

import (
	"regexp"
	"testing"
)

// TestGigsh_HelpListsCommands: gigsh -h names every command the shell has.
func TestGigsh_HelpListsCommands(t *testing.T) {
	for name := range shellCommands {
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(gigshCmd.help) {
			t.Errorf("gigsh -h does not name its command %s", name)
		}
	}
}
