#!/usr/bin/env bash
# The whole test suite (the README's test command): makes sure the
# databases the database engine's tests use answer, then runs go test on
# every package. Arguments go to go test (.ci/run adds -race -count=1).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
scripts/testdb.sh
go test "$@" ./...
