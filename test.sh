#!/usr/bin/env bash
# The test command of the README: format, vet, the whole suite, and the
# concurrent packages again under the race detector. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/lib/plan9/bin"

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed: $unformatted" >&2
	exit 1
fi
go vet ./...
go test -count=1 ./...
go test -count=1 -race -short ./...
