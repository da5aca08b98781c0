// Command gig-store serves a GiG.fs store over 9P2000: per user, oplogs on
// disk, the stream of accepted ops, and token checks with the user's table
// (see package netstore and PROTOCOL.md).
//
//	gig-store [-addr tcp!127.0.0.1!5641] [-data $GIGFS_DATA]
//
// It exits 0 after a clean shutdown on SIGINT or SIGTERM.
package main

import (
	"os"

	"gigfs.io/gigfs/netstore/storefs"
	"gigfs.io/gigfs/table"
)

func main() { os.Exit(storefs.Main(os.Args[1:], table.NewChecker())) }
