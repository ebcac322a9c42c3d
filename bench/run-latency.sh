#!/usr/bin/env bash
# run-latency.sh - wall time to start a container running /bin/true and wait for it:
# `duckc run --rm IMAGE /bin/true` next to `crun run` (Debian's crun) on the same busybox root
# filesystem, in one hyperfine run (-N: no shell in between), and the ratio duckc/crun.
#
#   crun run -b BUNDLE ID     OCI bundle from `crun spec` (new pid/mnt/ipc/uts/net namespaces,
#                             cgroups, read-only root), the rootfs below, terminal off
#   duckc run --rm busybox    the same rootfs loaded as a one-layer image; new pid/mnt/ipc/uts/net
#                             namespaces, overlay with a fresh upper dir, /dev, /proc, /sys, masks,
#                             capabilities, the sealed init; the container is removed afterwards;
#                             as root on duckc's default bridge (veth, lease, nftables)
#   ... --network none        the same with loopback only, like crun's bundle
#   crun run, seccomp         crun's bundle plus Docker's default seccomp profile (from
#                             runtime/seccomp/default.json, as Docker hands it to runc)
#
# Needs root, crun, umoci, hyperfine, python3 and /bin/busybox (busybox-static).
# Env: DUCKC=path/to/duckc (default: target/release/duckc, built if missing)  B=work dir
#      RUNS=200 WARMUP=10
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=${B:-/tmp/duckc-bench/run-latency}
RUNS=${RUNS:-200}; WARMUP=${WARMUP:-10}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
[ "$(id -u)" = 0 ] || { echo "run-latency.sh: needs root (crun run and the comparison run as root)"; exit 1; }
for t in crun umoci hyperfine python3; do command -v $t >/dev/null || { echo "missing: $t"; exit 1; }; done

DUCKC=${DUCKC:-$ROOT/target/release/duckc}
if [ ! -x "$DUCKC" ]; then (cd "$ROOT" && cargo build --release -p duckc); fi

# crun refuses a hybrid cgroup layout whose v2 tree owns controllers (hugetlb here): mount
# those controllers as v1 (see /work/shared/PEERS.md, "Workarounds").
fix_cgroups() {
  local u=/sys/fs/cgroup/unified/cgroup.controllers
  [ -f "$u" ] && [ -n "$(cat "$u")" ] || return 0
  for c in $(cat "$u"); do
    mountpoint -q "/sys/fs/cgroup/$c" && continue
    mkdir -p "/sys/fs/cgroup/$c" && mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
  done
}
fix_cgroups

rm -rf "$B"; mkdir -p "$B"
# One busybox root filesystem for both.
L=$B/layout
umoci init --layout "$L" >/dev/null
umoci new --image "$L:busybox:latest" >/dev/null
umoci unpack --image "$L:busybox:latest" "$B/bundle" >/dev/null
R=$B/bundle/rootfs
mkdir -p "$R"/{bin,etc,tmp,root,proc,sys,dev}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"; printf 'root:x:0:\n' > "$R/etc/group"
umoci repack --image "$L:busybox:latest" "$B/bundle" >/dev/null
"$DUCKC" --store "$B/store" load -i "$L" >/dev/null

# The crun bundle over the same rootfs.
(cd "$B/bundle" && rm -f config.json && crun spec)
python3 - "$B/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]; c["process"]["terminal"] = False
c["root"] = {"path": "rootfs", "readonly": True}
json.dump(c, open(p, "w"), indent=2)
PY
# The same bundle with Docker's default seccomp profile (duckc's embedded copy) turned into the
# OCI form, as Docker does for runc: the rules for this architecture, kernel and the bundle's
# bounding capabilities. crun compiles it with libseccomp at each start; duckc caches its
# compiled filter. Issue 15's goal compares with crun doing cgroups and seccomp.
mkdir -p "$B/bundle-seccomp"
python3 - "$B/bundle/config.json" "$ROOT/runtime/seccomp/default.json" "$B/bundle-seccomp/config.json" "$B/bundle/rootfs" <<'PY'
import json, os, platform, sys
c = json.load(open(sys.argv[1])); prof = json.load(open(sys.argv[2]))
arch = {"x86_64": "amd64", "aarch64": "arm64", "riscv64": "riscv64"}[platform.machine()]
native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "riscv64": "SCMP_ARCH_RISCV64"}[arch]
caps = set(c["process"]["capabilities"]["bounding"])
kernel = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
def wanted(r):
    inc, exc = r.get("includes", {}), r.get("excludes", {})
    if inc.get("arches") and arch not in inc["arches"]: return False
    if inc.get("caps") and not set(inc["caps"]) <= caps: return False
    if inc.get("minKernel") and kernel < tuple(int(x) for x in inc["minKernel"].split(".")[:2]): return False
    if arch in exc.get("arches", []) or caps & set(exc.get("caps", [])): return False
    return True
arches = [native]
for m in prof["archMap"]:
    if m["architecture"] == native: arches += m["subArchitectures"]
rules = []
for r in prof["syscalls"]:
    if not wanted(r): continue
    out = {"names": r["names"], "action": r["action"]}
    if "errnoRet" in r: out["errnoRet"] = r["errnoRet"]
    if r.get("args"): out["args"] = r["args"]
    rules.append(out)
c["linux"]["seccomp"] = {"defaultAction": prof["defaultAction"],
    "defaultErrnoRet": prof.get("defaultErrnoRet", 1), "architectures": arches, "syscalls": rules}
c["root"]["path"] = os.path.abspath(sys.argv[4])
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY
crun delete -f bench-crun >/dev/null 2>&1 || true
crun delete -f bench-crun-seccomp >/dev/null 2>&1 || true

# Both must work before they are timed.
crun run -b "$B/bundle" bench-crun
crun run -b "$B/bundle-seccomp" bench-crun-seccomp
"$DUCKC" --store "$B/store" run --rm busybox /bin/true

LOAD0=$(cut -d" " -f1 /proc/loadavg)
hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$B/result.json" \
  --command-name "crun run" "crun run -b $B/bundle bench-crun" \
  --command-name "crun run, seccomp" "crun run -b $B/bundle-seccomp bench-crun-seccomp" \
  --command-name "duckc run --rm" "$DUCKC --store $B/store run --rm busybox /bin/true" \
  --command-name "duckc --network none" "$DUCKC --store $B/store run --rm --network none busybox /bin/true"

echo
echo "== run-latency: /bin/true, $(nproc) cores, $(date -u '+%F %H:%M UTC'), loadavg $LOAD0 -> $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$B/result.json" <<'PY'
import json, sys
rs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
print(f"{'command':<22} {'mean ms':>8} {'median ms':>10} {'min ms':>8} {'runs':>5}")
for n, r in rs.items():
    print(f"{n:<22} {r['mean']*1e3:8.2f} {r['median']*1e3:10.2f} {r['min']*1e3:8.2f} {len(r['times']):5d}")
d, c = rs["duckc run --rm"]["median"], rs["crun run"]["median"]
n = rs["duckc --network none"]["median"]
print(f"ratio duckc/crun (median): {d / c:.2f}x  (goal: <= 0.5x)")
# crun's bundle has a network namespace with loopback only: the like-for-like figure.
print(f"ratio duckc --network none/crun (median): {n / c:.2f}x; the bridge adds {(d - n) * 1e3:.1f} ms")
# Issue 15's goal: against crun doing cgroups and seccomp, as duckc does.
s = rs["crun run, seccomp"]["median"]
print(f"against crun with seccomp (median): duckc run --rm {d / s:.2f}x, --network none {n / s:.2f}x  (goal: <= 0.5x)")
PY
