#!/usr/bin/env bash
# Idle RSS and exec-to-healthy of one or more coffer binaries, as
# docs/BENCHMARKS-GROWTH.md describes. For each of RUNS rounds, every binary
# in turn (so drifting machine load hits all alike):
#   dev   - "coffer server -dev" on 127.0.0.1:PORT, VmRSS (and its anonymous
#           and file-backed parts) two seconds after sys/health answers;
#   file  - "coffer bench -keys=1000 -startups=10 rss startup": a file-storage
#           server with 1,000 keys, restarted on that existing store: idle RSS
#           two seconds after the restart, and the median exec → 200 from
#           sys/health over 10 restarts.
# Prints one line per binary and round, then the medians per binary.
# Usage: scripts/bench-idle.sh [-runs N] [-port P] BINARY…   (default: build ./cmd/coffer)
set -euo pipefail
runs=5 port=25100
while [[ $# -gt 0 && $1 == -* ]]; do
  case $1 in
    -runs) runs=$2; shift 2 ;;
    -port) port=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null && wait $pid 2>/dev/null; rm -rf "$work"' EXIT
bins=("$@")
if [[ ${#bins[@]} -eq 0 ]]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  (cd "$here" && GOTOOLCHAIN=local go build -o "$work/coffer" ./cmd/coffer)
  bins=("$work/coffer")
fi

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# dev BIN: idle RSS of a dev server, "rss anon file" in KiB.
dev() {
  env -u GOGC -u GOMEMLIMIT "$1" server -dev -dev-listen-address="127.0.0.1:$port" -log-level=warn >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 400); do curl -fs "http://127.0.0.1:$port/v1/sys/health" >/dev/null && break; sleep 0.025; done
  sleep 2
  echo "$(kib VmRSS $pid) $(kib RssAnon $pid) $(kib RssFile $pid)"
  kill -INT $pid; wait $pid || true; pid=
}

for r in $(seq "$runs"); do
  for i in "${!bins[@]}"; do
    b=${bins[$i]}
    read -r rss anon file < <(dev "$b")
    out=$(env -u GOGC -u GOMEMLIMIT "$b" bench -keys=1000 -startups=10 rss startup 2>&1)
    frss=$(sed -n 's/^rss *idle RSS \([0-9.]*\) MiB after a restart.*/\1/p' <<<"$out")
    fstart=$(sed -n 's/^startup *exec to 200 from sys\/health: median \([^ ]*\) .*/\1/p' <<<"$out")
    [[ -n $frss && -n $fstart ]] || { echo "bench output not understood:" >&2; echo "$out" >&2; exit 1; }
    echo "round $r $b: dev idle RSS $(mib $rss) MiB (anon $(mib $anon), file $(mib $file)); file store idle RSS $frss MiB, exec→healthy median $fstart"
    echo "$rss" >>"$work/dev.$i"; echo "$frss" >>"$work/file.$i"
    # exec→healthy as milliseconds
    awk -v s="$fstart" 'BEGIN { if (s ~ /ms$/) { sub(/ms$/, "", s); print s } else if (s ~ /µs$/) { sub(/µs$/, "", s); print s / 1000 } else { sub(/s$/, "", s); print s * 1000 } }' >>"$work/start.$i"
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in "${!bins[@]}"; do
  echo "median of $runs: ${bins[$i]}: dev idle RSS $(mib "$(median <"$work/dev.$i")") MiB; file store idle RSS $(median <"$work/file.$i") MiB; exec→healthy $(median <"$work/start.$i") ms"
done
