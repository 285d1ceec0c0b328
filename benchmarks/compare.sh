#!/bin/sh
# Runs the comparison from anywhere: sessionkit against scs, go-redis and
# raw rueidis on a redis-server this run starts and stops itself.
# Arguments go to the command, e.g. ./benchmarks/compare.sh -duration 1s
set -eu
cd "$(dirname "$0")"
exec go run ./cmd/compare "$@"
