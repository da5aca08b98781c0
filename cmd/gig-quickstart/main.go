// Command gig-quickstart brings up a table, two stores, a user and a
// channel on loopback and opens gigsh on them: go run ./cmd/gig-quickstart
// (gig-quickstart -h says more; the code is in package tools).
package main

import (
	"os"

	"gigfs.io/gigfs/tools"
)

func main() { os.Exit(tools.QuickstartMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
