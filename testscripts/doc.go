// Package testscripts holds the end-to-end tests of GiG.fs: scripts in
// testdata/*.txtar, run with rogpeppe/go-internal/testscript, that start
// the real servers (gig-table, gig-store) in the background and drive
// them with the real tools (gig-get, gig-push, gig-watch, gig-sync,
// gig-log, gig-session, gig-channel, gig-admin, gigsh, gig-quickstart).
//
// The test binary is each of these programs (testscript.Main), with their
// code from package tools, table and netstore. It adds script commands:
//
//	waitaddr addr...                 wait until each dial string accepts connections
//	waitfile [-count=N] re file      wait until file matches the regexp (N times)
//	envout NAME [re]                 set NAME to the last stdout (trimmed), or to
//	                                 the first group of re in it
//	until re prog args...            run prog until its stdout matches re
//	sleep duration                   sleep
//	dotenv file                      set the variables of a file's export lines
//	                                 (. ./gigfs-data/quickstart.env)
//
// and programs:
//
//	tofile out err prog args...      run a tool with stdout and stderr going to
//	                                 files as it writes (a background gig-watch's
//	                                 output can be waited for with waitfile)
//	pipe err prog args... '|' prog2 args...
//	                                 run two tools with the first's stdout piped
//	                                 into the second's stdin, both stderrs into
//	                                 the file err: testscript has no pipes, so
//	                                 gig-watch a | gig-push b is
//	                                 pipe mirror.err gig-watch a '|' gig-push b
//	head1                            copy one line from stdin to stdout, then exit
//	max-reducer                      a reducer program: the largest number
//	fail-reducer                     a reducer program that fails
//
// Servers listen on unix sockets in $WORK, never on fixed ports.
package testscripts
