# Plan 9 mk targets; they run the same commands as the README.
# Debian's 9base installs mk at /usr/lib/plan9/bin/mk.

all:V:
	go build ./...

test:V:
	./test.sh

install:V:
	go install ./cmd/...

bench:V:
	go run ./cmd/gig-bench
	go test -run '^$' -bench . -benchmem ./...
