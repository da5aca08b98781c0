// Command gig-bench measures, in one run, the fsync limit of the disk it
// runs on and GiG.fs's data path against a table and a store it starts on
// 127.0.0.1, and prints each figure with its share of the limit (see
// package internal/bench).
//
//	gig-bench [-runs 3] [-dir /var/tmp] [-only cold]
package main

import (
	"os"

	"gigfs.io/gigfs/internal/bench"
)

func main() { os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr)) }
