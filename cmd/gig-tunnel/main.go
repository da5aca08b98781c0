// Command gig-tunnel is the GiG.fs tool of that name; gig-tunnel -h says
// what it does (the code is in package tools).
package main

import (
	"os"

	"gigfs.io/gigfs/tools"
)

func main() { os.Exit(tools.TunnelMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
