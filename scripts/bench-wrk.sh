#!/usr/bin/env bash
# KV v2 read and write throughput of a real "coffer server" on file storage,
# measured with wrk (-t2 -c16 keep-alive connections over loopback), as
# docs/BENCHMARKS.md describes. The KV v2 read is judged against its ceiling
# in the same run: a bare net/http handler ("coffer bench-bare-http") whose
# fixed JSON body is as long as the KV read's response, the two measured in
# turns (-rounds, default 3); each round prints req/s, p99 and the server's
# CPU per request (from /proc) of both, and the ratios.
# Needs wrk (apt-get install wrk) and curl.
# Usage: scripts/bench-wrk.sh [duration, default 10s] [rounds, default 3]
set -euo pipefail
dur=${1:-10s}
rounds=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid='' bare=''
trap 'kill $pid $bare 2>/dev/null || true; wait $pid $bare 2>/dev/null || true; rm -rf "$work"' EXIT
export GOTOOLCHAIN=local
(cd "$here" && go build -o "$work/coffer" ./cmd/coffer)
(umask 077 && head -c 32 /dev/urandom | base64 > "$work/seal.key")
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
# The root token goes to curl in a private file, never as an argument that
# every local user can read in ps.
(umask 077 && printf 'X-Vault-Token: %s\n' "$token" > "$work/token.hdr")
curl -fs -H @"$work/token.hdr" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$addr/v1/sys/mounts/secret"
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
check() { curl -fs -o /dev/null -w '%{http_code}' -H @"$work/token.hdr" "$addr/v1/secret/data/bench/key-7"; }
[ "$(check)" = 200 ] || { echo "seeded key not readable"; exit 1; }
# The bare handler answers with as many bytes as a KV read does.
size=$(curl -fs -H @"$work/token.hdr" "$addr/v1/secret/data/bench/key-7" | wc -c)
"$work/coffer" bench-bare-http -size="$size" > "$work/bare.addr" & bare=$!
for _ in $(seq 100); do [ -s "$work/bare.addr" ] && break; sleep 0.05; done
bare_addr="http://$(head -1 "$work/bare.addr")"
cat > "$work/bare.lua" <<LUA
wrk.headers["X-Vault-Token"] = "$token"
LUA
# cpu PID: user+system clock ticks the process has used so far.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# measure NAME PID LUA URL: one wrk run; prints "req/s p99-ms cpu-µs/req".
measure() {
  local c0 c1 out
  c0=$(cpu "$2")
  out=$(wrk -t2 -c16 -d"$dur" --latency -s "$3" "$4")
  c1=$(cpu "$2")
  echo "$out" | grep -q "Non-2xx" && { echo "$1: non-2xx answers" >&2; echo "$out" >&2; exit 1; }
  echo "$out" | awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { p99 = ms($2) }
    /requests in/ { n = $1 }
    END { printf "%.0f %.3f %.1f\n", rps, p99, (n > 0 ? c / hz * 1e6 / n : 0) }'
}
echo "== KV v2 read against the bare handler ($size-byte bodies): wrk -t2 -c16 -d$dur, 1,000 keys, file storage, $rounds rounds"
ratios=()
for r in $(seq "$rounds"); do
  read -r brps bp99 bcpu <<<"$(measure bare-http "$bare" "$work/bare.lua" "$bare_addr")"
  read -r krps kp99 kcpu <<<"$(measure kv-read "$pid" "$work/read.lua" "$addr")"
  ratio=$(awk -v a="$krps" -v b="$brps" 'BEGIN { printf "%.2f", a / b }')
  ratios+=("$ratio")
  printf "round %d  bare-http %7s req/s p99 %7s ms cpu/req %6s µs | kv-read %7s req/s p99 %7s ms cpu/req %6s µs | ratio req/s %s p99 %s× cpu %s×\n" \
    "$r" "$brps" "$bp99" "$bcpu" "$krps" "$kp99" "$kcpu" "$ratio" \
    "$(awk -v a="$kp99" -v b="$bp99" 'BEGIN { printf "%.2f", a / b }')" "$(awk -v a="$kcpu" -v b="$bcpu" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
done
echo "== median ratio kv-read/bare-http req/s: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')"
echo "== KV v2 write (fsynced, group-committed): wrk -t2 -c16 -d$dur"
wrk -t2 -c16 -d"$dur" --latency -s "$work/write.lua" "$addr" | grep -E "Requests/sec|Non-2xx|50%|75%|90%|99%|Latency "
sleep 2
echo "== idle RSS after the load: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
