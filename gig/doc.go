// Package gig is the vocabulary every part of GiG.fs shares: the names of
// things (users, channels, types, paths) with one parser each, and the kinds
// of errors, which survive the 9P wire as a stable leading word.
//
// It imports nothing of ours, so the table, the stores, the client, the
// tools, and the 9P glue in srv9p can all use it: a name one part accepts no
// other part refuses, and an error's kind is tested with errors.Is wherever
// it ends up, never by its text.
package gig
