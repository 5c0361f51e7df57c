#!/usr/bin/env bash
# KV v2 read and write throughput of a real "coffer server" on file storage,
# measured with wrk (-t2 -c16 keep-alive connections over loopback), as
# docs/BENCHMARKS.md describes. Needs wrk (apt-get install wrk) and curl.
# Usage: scripts/bench-wrk.sh [duration, default 10s]
set -euo pipefail
dur=${1:-10s}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
export GOTOOLCHAIN=local
(cd "$here" && go build -o "$work/coffer" ./cmd/coffer)
head -c 32 /dev/urandom | base64 > "$work/seal.key"
port=$((20000 + RANDOM % 20000))
cat > "$work/coffer.hcl" <<HCL
storage "file" { path = "$work/data" }
listener "tcp" {
  address     = "127.0.0.1:$port"
  tls_disable = true
}
seal "static" { key_file = "$work/seal.key" }
log_level = "warn"
HCL
addr="http://127.0.0.1:$port"
"$work/coffer" server -config="$work/coffer.hcl" & pid=$!
for _ in $(seq 200); do curl -fs "$addr/v1/sys/health?uninitcode=200" >/dev/null && break; sleep 0.05; done
token=$(curl -fs -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$addr/v1/sys/init" | sed -E 's/.*"root_token":"([^"]+)".*/\1/')
curl -fs -H "X-Vault-Token: $token" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$addr/v1/sys/mounts/secret"
for i in $(seq 0 999); do
  echo "next"
  echo "url = \"$addr/v1/secret/data/bench/key-$i\""
  echo "request = \"PUT\""
  echo "header = \"X-Vault-Token: $token\""
  echo "data = \"{\\\"data\\\":{\\\"value\\\":\\\"0123456789abcdef0123456789abcdef\\\",\\\"n\\\":\\\"$i\\\"}}\""
done > "$work/seed.cfg"
curl -fsS --no-progress-meter --parallel --parallel-max 16 -K "$work/seed.cfg" >/dev/null
cat > "$work/read.lua" <<LUA
wrk.headers["X-Vault-Token"] = "$token"
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/secret/data/bench/key-" .. (n * 7919 % 1000))
end
LUA
cat > "$work/write.lua" <<LUA
wrk.headers["X-Vault-Token"] = "$token"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format("PUT", "/v1/secret/data/bench/w-" .. (n % 1000), nil, '{"data":{"value":"0123456789abcdef0123456789abcdef"}}')
end
LUA
check() { curl -fs -o /dev/null -w '%{http_code}' -H "X-Vault-Token: $token" "$addr/v1/secret/data/bench/key-7"; }
[ "$(check)" = 200 ] || { echo "seeded key not readable"; exit 1; }
echo "== KV v2 read: wrk -t2 -c16 -d$dur, 1,000 keys, file storage"
wrk -t2 -c16 -d"$dur" --latency -s "$work/read.lua" "$addr" | grep -E "Requests/sec|Non-2xx|50%|75%|90%|99%|Latency "
echo "== KV v2 write (fsynced, group-committed): wrk -t2 -c16 -d$dur"
wrk -t2 -c16 -d"$dur" --latency -s "$work/write.lua" "$addr" | grep -E "Requests/sec|Non-2xx|50%|75%|90%|99%|Latency "
sleep 2
echo "== idle RSS after the load: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
