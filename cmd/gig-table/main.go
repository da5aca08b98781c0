// Command gig-table serves the GiG.fs table over 9P2000: users, masters,
// sessions, store tokens and mount tables (see package table and
// PROTOCOL.md).
//
//	gig-table [-addr tcp!127.0.0.1!5640] [-data $GIGFS_DATA] [-public-addr addr]
//
// It prints where the admin key is at start, and exits 0 after a clean
// shutdown on SIGINT or SIGTERM.
package main

import (
	"os"

	"gigfs.io/gigfs/table"
)

func main() { os.Exit(table.Main(os.Args[1:])) }
