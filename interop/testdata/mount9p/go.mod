// This module only pins the versions that build mount9p, the FUSE client
// of github.com/knusbaum/go9p, for the interop tests (see ../../doc.go).
module gigfs.io/gigfs/interop/testdata/mount9p

go 1.26.0

require (
	9fans.net/go v0.0.8-0.20250307142834-96bdba94b63f // indirect
	github.com/Plan9-Archive/libauth v0.0.0-20180917063427-d1ca9e94969d // indirect
	github.com/emersion/go-sasl v0.0.0-20200509203442-7bfe0ed36a21 // indirect
	github.com/fhs/mux9p v0.3.1 // indirect
	github.com/hanwen/go-fuse/v2 v2.0.3 // indirect
	github.com/knusbaum/go9p v1.18.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
