#!/usr/bin/env bash
# KV v2 read throughput of one coffer binary under two GC settings, as
# docs/BENCHMARKS.md describes: server A runs with GOGC=300 in its
# environment (the setting before the soft memory limit), server B with the
# server's own default (GOGC 100 and a soft memory limit). Both run at once
# on file storage with 1,000 keys; wrk -t2 -c16 alternates between them in
# ABBA order for ROUNDS rounds, so drifting machine load hits both alike.
# Prints every run, the medians, and the ratio B/A. Needs wrk and curl.
# Usage: scripts/bench-gc.sh [duration per run, default 5s] [rounds, default 6]
set -euo pipefail
dur=${1:-5s}
rounds=${2:-6}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; wait $p 2>/dev/null || true; done; rm -rf "$work"' EXIT
export GOTOOLCHAIN=local
(cd "$here" && go build -o "$work/coffer" ./cmd/coffer)

# start NAME ENV… : a server on file storage, initialised, with 1,000 keys;
# sets addr_NAME and token_NAME.
start() {
  local name=$1; shift
  local dir="$work/$name" port=$((20000 + RANDOM % 20000))
  mkdir -p "$dir"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/seal.key"
  chmod 600 "$dir/seal.key"
  cat > "$dir/coffer.hcl" <<HCL
storage "file" { path = "$dir/data" }
listener "tcp" {
  address     = "127.0.0.1:$port"
  tls_disable = true
}
seal "static" { key_file = "$dir/seal.key" }
log_level = "warn"
HCL
  env -u GOGC -u GOMEMLIMIT "$@" "$work/coffer" server -config="$dir/coffer.hcl" & pids+=($!)
  local addr="http://127.0.0.1:$port"
  for _ in $(seq 200); do curl -fs "$addr/v1/sys/health?uninitcode=200" >/dev/null && break; sleep 0.05; done
  local token
  token=$(curl -fs -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$addr/v1/sys/init" | sed -E 's/.*"root_token":"([^"]+)".*/\1/')
  curl -fs -H "X-Vault-Token: $token" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$addr/v1/sys/mounts/secret"
  for i in $(seq 0 999); do
    echo "next"
    echo "url = \"$addr/v1/secret/data/bench/key-$i\""
    echo "request = \"PUT\""
    echo "header = \"X-Vault-Token: $token\""
    echo "data = \"{\\\"data\\\":{\\\"value\\\":\\\"0123456789abcdef0123456789abcdef\\\",\\\"n\\\":\\\"$i\\\"}}\""
  done > "$dir/seed.cfg"
  curl -fsS --no-progress-meter --parallel --parallel-max 16 -K "$dir/seed.cfg" >/dev/null
  cat > "$dir/read.lua" <<LUA
wrk.headers["X-Vault-Token"] = "$token"
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/secret/data/bench/key-" .. (n * 7919 % 1000))
end
LUA
  eval "addr_$name=$addr"
}
start A GOGC=300
start B
run() { # run NAME: one wrk run, prints req/s
  local name=$1 addr_var="addr_$1"
  wrk -t2 -c16 -d"$dur" -s "$work/$name/read.lua" "${!addr_var}" | awk '/Requests\/sec/ {print $2}'
}
a=() b=()
for r in $(seq "$rounds"); do
  if (( r % 2 )); then x=$(run A); y=$(run B); else y=$(run B); x=$(run A); fi
  a+=("$x"); b+=("$y")
  echo "round $r: A (GOGC=300) $x req/s, B (default: GOGC 100 + soft memory limit) $y req/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
ma=$(median "${a[@]}"); mb=$(median "${b[@]}")
echo "== median A (GOGC=300): $ma req/s; median B (default): $mb req/s; B/A = $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", b/a}')"
for i in 0 1; do
  n=$([ $i = 0 ] && echo A || echo B)
  echo "== $n idle RSS after the load: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/${pids[$i]}/status)"
done
