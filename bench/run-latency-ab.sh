#!/usr/bin/env bash
# run-latency-ab.sh - same-run A/B of two duckc binaries' start latency, next to crun with
# Docker's seccomp profile: BLOCKS blocks, each N runs of every command (after 3 warm-up runs),
# so that a drift of the machine's load hits all commands alike; medians over all blocks.
#
#   bench/run-latency-ab.sh OLD-DUCKC NEW-DUCKC
#
# Uses the store and crun bundles that bench/run-latency.sh leaves in $B (run it once first).
# Needs root, crun, hyperfine, python3. Env: B=work dir  N=20 BLOCKS=10
set -euo pipefail
B=${B:-/tmp/duckc-bench/run-latency}
N=${N:-20}; BLOCKS=${BLOCKS:-10}
[ $# = 2 ] || { echo "usage: $0 OLD-DUCKC NEW-DUCKC"; exit 2; }
OLD=$1; NEW=$2
[ -d "$B/store" ] && [ -f "$B/bundle-seccomp/config.json" ] ||
  { echo "run-latency-ab.sh: run bench/run-latency.sh first (it makes $B)"; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
LOAD0=$(cut -d" " -f1 /proc/loadavg)
for k in $(seq "$BLOCKS"); do
  hyperfine -N --style none --warmup 3 --runs "$N" --export-json "$OUT/$k.json" \
    -n "crun run, seccomp" "crun run -b $B/bundle-seccomp bench-crun-seccomp" \
    -n "old, bridge" "$OLD --store $B/store run --rm busybox /bin/true" \
    -n "new, bridge" "$NEW --store $B/store run --rm busybox /bin/true" \
    -n "old, --network none" "$OLD --store $B/store run --rm --network none busybox /bin/true" \
    -n "new, --network none" "$NEW --store $B/store run --rm --network none busybox /bin/true" \
    >/dev/null 2>&1
done
echo "== run-latency A/B: $BLOCKS blocks of $N, $(nproc) cores, $(date -u '+%F %H:%M UTC'), loadavg $LOAD0 -> $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$OUT" <<'PY'
import glob, json, statistics as st, sys
t = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    for r in json.load(open(f))["results"]:
        t.setdefault(r["command"], []).extend(r["times"])
s = st.median(t["crun run, seccomp"])
print(f"{'command':<22} {'median ms':>10} {'mean ms':>8} {'p90 ms':>7} {'/ crun+seccomp':>15}")
for n, v in t.items():
    v = sorted(v)
    print(f"{n:<22} {st.median(v)*1e3:10.2f} {st.mean(v)*1e3:8.2f} {v[int(len(v)*.9)]*1e3:7.2f} {st.median(v)/s:14.3f}x")
PY
