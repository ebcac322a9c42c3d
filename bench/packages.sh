#!/usr/bin/env bash
# Debian bases from a warm package cache: (a) bookworm minbase and (b) minbase + python3, built
# by duckc (`from "std/debian:bookworm"`, + `packages "python3"`) and by
# `mmdebstrap --variant=minbase` (+ `--include=python3`), side by side with hyperfine; the
# ratios duckc / mmdebstrap are the figures to watch (goal: <= 0.1x).
#
#   bench/packages.sh [WORKDIR]     (default /tmp/duckc-bench/packages; run as root)
#
# Scenarios (every one from a warm package cache):
#   cold store  duckc builds in a fresh store holding only a copy of the download cache
#               (`downloads/`: the .debs and the Packages index) of a fill build made first;
#               no layers, no build cache, no duck.lock: duckc fetches InRelease and resolves
#               again, as apt does in mmdebstrap, and writes every layer.
#   warm store  (b) only: duckc builds minbase + python3 in a copy of a store that already
#               holds the minbase build (its package layers, snapshots and build cache) and
#               the python3 .debs, again without duck.lock ("resolve"), and once more with the
#               duck.lock of the fill build in place ("locked": no InRelease, no resolution).
#               The layer cache at work: only python3's 22 packages, the dpkg database and
#               their configure step are built. mmdebstrap has no such cache; its figure is
#               the same (b) run as in the cold rows.
#   mmdebstrap  the man page's cache recipe: --skip=essential/unlink, sync-in of the cached
#               .debs and apt lists in a setup hook, sync-out in a customize hook; output is a
#               tarball. apt revalidates its lists (InRelease) on every run.
# Repository: the one duckc reads by default, the first `deb` entry of the host's apt sources
# (first URI, first suite, its components); mmdebstrap gets that same single line, so both
# install the same package set (duckc reads one repository; -updates/-security are left out).
# Env: RUNS=3 DUCKC=path/to/duckc (default: a release build of this checkout) KEEP=1 (keep the
# work directory's stores and tarballs).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/duckc-bench/packages}
RUNS=${RUNS:-3}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
. bench/lib.sh
duckc_binary
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is not installed (apt-get install -y mmdebstrap)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 1; }
unset DUCKC_STORE DUCKC_APT_REPOSITORY

# ---- the repository: the first `deb` entry of the host's apt configuration, as duckc reads it
host_repo() {  # prints "URI SUITE COMPONENTS..."
    local f
    if [ -f /etc/apt/sources.list ]; then
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' /etc/apt/sources.list | awk '$1 == "deb" { $1 = ""; print; exit }'
    fi
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        case $f in
        *.list) sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { $1 = ""; print; exit }' ;;
        *.sources) awk 'BEGIN { RS = ""; FS = "\n" }
            { t = u = s = c = ""; en = 1
              for (i = 1; i <= NF; i++) { split($i, kv, ": *"); k = kv[1]; v = substr($i, index($i, ":") + 1); gsub(/^ +/, "", v)
                if (k == "Types") t = v; else if (k == "URIs") u = v; else if (k == "Suites") s = v
                else if (k == "Components") c = v; else if (k == "Enabled" && v == "no") en = 0 }
              if (en && (" " t " ") ~ / deb /) { split(u, uu, " "); split(s, ss, " "); print uu[1], ss[1], c; exit } }' "$f" ;;
        esac
    done | head -n 1
}
REPO=$(host_repo)
[ -n "$REPO" ] || { echo "no deb entry in the host's apt sources" >&2; exit 1; }
read -r MIRROR SUITE COMPONENTS <<<"$REPO"
echo "repository: the host's first apt source (suite $SUITE, components $COMPONENTS)"

rm -rf "$W"
mkdir -p "$W/res" "$W/spec-minbase" "$W/spec-python3" "$W/mm/cache/archives" "$W/mm/cache/lists" "$W/mm/out"
RES=$W/res
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

cat >"$W/spec-minbase/env.kdl" <<'EOF'
env "minbase" {
    from "std/debian:bookworm"
    tag "bench/minbase:latest"
}
EOF
cat >"$W/spec-python3/env.kdl" <<'EOF'
env "python3" {
    from "std/debian:bookworm"
    packages "python3"
    tag "bench/python3:latest"
}
EOF

# ---- duckc: fill the download cache once (both specs), then keep only downloads/; keep a copy
# of the store as it is after minbase (for the warm-store runs) and python3's lock
FILL=$W/duckc-fill
for s in minbase python3; do
    echo "== duckc fill build: $s"
    /usr/bin/time -f "   %es" "$DUCKC" --store "$FILL" build --progress plain "$W/spec-$s/env.kdl" >"$RES/duckc-fill-$s.log" 2>&1 ||
        { tail -20 "$RES/duckc-fill-$s.log"; exit 1; }
    tail -n 1 "$RES/duckc-fill-$s.log"
    if [ "$s" = minbase ]; then cp -a "$FILL" "$W/warm-minbase"; fi
done
mv "$FILL/downloads" "$W/downloads"
rm -rf "$FILL" "$W/warm-minbase/downloads"
cp -a "$W/downloads" "$W/warm-minbase/downloads"
cp "$W/spec-python3/duck.lock" "$W/python3.lock"
# prepare: a fresh store with only the download cache, and no lock next to the spec
duckc_prep() { echo "rm -rf $W/store $W/spec-$1/duck.lock && mkdir -p $W/store && cp -a $W/downloads $W/store/downloads && sync"; }
duckc_cmd() { echo "$DUCKC --store $W/store build --progress plain $W/spec-$1/env.kdl"; }
# prepare (warm store): the store after the minbase build, plus every .deb; no lock, or the lock
warm_prep() {
    local lock="rm -f $W/spec-python3/duck.lock"
    [ "$1" = locked ] && lock="cp $W/python3.lock $W/spec-python3/duck.lock"
    echo "rm -rf $W/store && cp -a $W/warm-minbase $W/store && $lock && sync"
}

# ---- mmdebstrap: the man page's cache recipe
MM_SRC="deb $MIRROR $SUITE $COMPONENTS"
mm_cmd() {  # minbase|python3
    local inc=""
    [ "$1" = python3 ] && inc="--include=python3"
    printf '%s' "mmdebstrap --quiet --variant=minbase $inc --skip=essential/unlink \
--setup-hook='mkdir -p \"\$1\"/var/cache/apt/archives/ \"\$1\"/var/lib/apt/lists/' \
--setup-hook='sync-in $W/mm/cache/archives /var/cache/apt/archives/' \
--setup-hook='sync-in $W/mm/cache/lists /var/lib/apt/lists/' \
--customize-hook='sync-out /var/cache/apt/archives $W/mm/cache/archives' \
--customize-hook='sync-out /var/lib/apt/lists $W/mm/cache/lists' \
$SUITE $W/mm/out/$1.tar '$MM_SRC'"
}
for s in minbase python3; do
    echo "== mmdebstrap fill run: $s"
    /usr/bin/time -f "   %es" bash -c "$(mm_cmd $s)" >"$RES/mm-fill-$s.log" 2>&1 || { tail -20 "$RES/mm-fill-$s.log"; exit 1; }
    tail -n 1 "$RES/mm-fill-$s.log"
done
echo "   cached: $(find "$W/mm/cache/archives" -name '*.deb' | wc -l) .debs for mmdebstrap, $(find "$W/downloads" -type f | wc -l) files for duckc"

# ---- timed runs
for s in minbase python3; do
    echo "== $s, cold store: hyperfine, $RUNS runs each"
    hyperfine --runs "$RUNS" --style basic --export-json "$RES/$s.json" \
        --prepare "$(duckc_prep $s)" -n "duckc $s" "$(duckc_cmd $s)" \
        --prepare "rm -f $W/mm/out/$s.tar && sync" -n "mmdebstrap $s" "$(mm_cmd $s)"
done
for v in resolve locked; do
    echo "== python3, warm store ($v): hyperfine, $RUNS runs"
    hyperfine --runs "$RUNS" --style basic --export-json "$RES/warm-$v.json" \
        --prepare "$(warm_prep $v)" -n "duckc python3 warm $v" "$(duckc_cmd python3)"
done

# ---- what each built: packages installed
mm_pkgs() { tar -xOf "$W/mm/out/$1.tar" ./var/lib/dpkg/status | grep -c '^Status: install ok installed'; }
duckc_pkgs() {  # the dpkg status inside the image, through duckc run
    "$DUCKC" --store "$W/store" run --rm "bench/$1:latest" /bin/sh -c \
        "grep -c '^Status: install ok installed' /var/lib/dpkg/status" 2>/dev/null || echo "?"
}
PK_D_P=$(duckc_pkgs python3); PK_M_P=$(mm_pkgs python3); PK_M_M=$(mm_pkgs minbase)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "== packages: $(nproc) cores, $(date -u '+%F %H:%M UTC'), loadavg $LOAD0 -> $LOAD1"
echo "   installed packages: mmdebstrap minbase $PK_M_M, mmdebstrap python3 $PK_M_P, duckc python3 $PK_D_P"
python3 - "$RES" <<'EOF' | tee "$RES/table.txt"
import json, sys, statistics
res = sys.argv[1]
def times(name):
    return {x["command"]: x["times"] for x in json.load(open(f"{res}/{name}.json"))["results"]}
med = statistics.median
print(f"{'scenario':<31} {'duckc med s':>11} {'min-max':>12} {'mmdebstrap med s':>16} {'min-max':>12} {'ratio':>7}  goal <= 0.1x")
rows = []
for s in ("minbase", "python3"):
    r = times(s)
    rows.append((f"{s}, cold store", r[f"duckc {s}"], r[f"mmdebstrap {s}"]))
mm_py = times("python3")["mmdebstrap python3"]
for v in ("resolve", "locked"):
    rows.append((f"python3, warm store ({v})", times(f"warm-{v}")[f"duckc python3 warm {v}"], mm_py))
for name, d, m in rows:
    ratio = med(d) / med(m)
    print(f"{name:<31} {med(d):11.2f} {min(d):5.2f}-{max(d):<6.2f} {med(m):16.2f} {min(m):5.2f}-{max(m):<6.2f} {ratio:6.2f}x  {'met' if ratio <= 0.1 else 'missed'}")
EOF
[ "${KEEP:-0}" = 1 ] || rm -rf "$W/store" "$W/warm-minbase" "$W/mm/out"
