package gigfs

import "gigfs.io/gigfs/netstore"

// checkType validates a type name: one path element.
func checkType(typ string) error { return netstore.CheckSegment(typ) }

// cleanPath validates a path and returns its one form ("/a/b").
func cleanPath(path string) (string, error) { return netstore.CleanPath(path) }
