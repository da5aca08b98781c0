// Command gig-status is the GiG.fs tool of that name; gig-status -h says what it
// does (the code is in package tools, shared with gigsh).
package main

import (
	"os"

	"gigfs.io/gigfs/tools"
)

func main() { os.Exit(tools.StatusMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
