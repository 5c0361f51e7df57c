#!/usr/bin/env bash
# The whole test suite (the README's test command): first brings up what
# the tests need (the cached kube-apiserver and etcd of the Kubernetes
# tests, the databases of the database engine's tests), then runs go test on
# every package. Arguments go to go test (.ci/run adds -race -count=1).
#
# With CI=true anything missing is an error; locally the tests that need it
# skip with a message saying how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

# --- A real Kubernetes API server (test/kube, test/kubetest) -------------
# kube-apiserver and etcd are built from upstream sources once, into
# ${COFFER_CACHE_DIR:-~/.cache/coffer}/kube/<key>; the tests start them. The
# first build takes many minutes on a small machine and prints progress.
echo "== kube-apiserver and etcd for the Kubernetes tests"
if ! go run ./test/kubetest/kubeup -build; then
  if [ "${CI:-}" = true ]; then
    echo "scripts/test.sh: building the kube binaries failed" >&2
    exit 1
  fi
  echo "scripts/test.sh: warning: no kube binaries; the Kubernetes tests will skip" >&2
fi

# --- Databases: PostgreSQL and MariaDB answer --------------------------------
scripts/testdb.sh

# --- The suite ---------------------------------------------------------------
go test "$@" ./...

# The Helm chart's tests are a module of their own (test/helm), so that the
# Helm SDK's dependencies stay out of Coffer's go.mod: go test ./... above does
# not reach them.
echo "== test/helm (the chart, rendered with the Helm SDK and applied to kube-apiserver)"
(cd test/helm && go test "$@" ./...)
