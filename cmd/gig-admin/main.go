// Command gig-admin is the GiG.fs tool of that name; gig-admin -h says what it
// does (the code is in package tools, shared with gigsh).
package main

import (
	"os"

	"gigfs.io/gigfs/tools"
)

func main() { os.Exit(tools.AdminMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
