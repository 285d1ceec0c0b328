#!/bin/sh
# Runs the tests of every Go module of the repository: go test -race
# -count=1 ./... in each directory that holds a go.mod. Modules are found
# anew on every run, so a new module needs no edit here; directories that
# the go command ignores too (names starting with "." or "_", testdata,
# vendor) are not searched. Arguments go to every go test, for example
#
#	./test.sh -v                  # every test's name and result
#	./test.sh -json               # one JSON event per line
#	./test.sh -run TestConformance
#
# Every module runs even when one fails; the exit status is non-zero if
# any failed, and the last line names them.
#
# Each module is tested on its own, as its users build it: GOWORK=off, so
# that the go.work at the root (which lets go run ./cmd/sessiondemo work
# from here) never lends a module a dependency its own go.mod lacks.
set -eu
cd "$(dirname "$0")"
export GOWORK=off

# The root module first, then the others in lexical order.
others=$(find . -mindepth 1 \( -name '.*' -o -name '_*' -o -name testdata -o -name vendor \) -prune \
  -o -name go.mod -print | sed -n 's#/go\.mod$##; /^\.$/!p' | sort)
failed=""
for dir in . $others; do
  echo "test.sh: module $dir" >&2
  (cd "$dir" && go test -race -count=1 "$@" ./...) || failed="$failed $dir"
done
if [ -n "$failed" ]; then
  echo "test.sh: FAIL in$failed" >&2
  exit 1
fi
