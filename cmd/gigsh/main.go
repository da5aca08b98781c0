// Command gigsh is the interactive GiG.fs shell over the commands of the
// gig-* tools; gigsh -h says more (the code is in package tools).
package main

import (
	"os"

	"gigfs.io/gigfs/tools"
)

func main() { os.Exit(tools.GigshMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
