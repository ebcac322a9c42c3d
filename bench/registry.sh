#!/usr/bin/env bash
# registry.sh - push and pull through a loopback `docker-registry` (Debian's distribution v2):
# duckc next to skopeo and podman in the same hyperfine runs, as ratios. The image is IMAGE
# from an existing store (DUCKC_STORE; e.g. examples/python built with `duckc build --locked`,
# ~210 MB of gzip in 130 layers), else a one-layer image of SIZE_MB MB (half random, half
# zeros) made with `duckc import --compression none`, as a build leaves its layers.
#
#   push      the registry emptied (stopped, its data removed, started) before each run
#             duckc push        the store's layers, gzipped once (the gzip remembered, as after
#                               any first push), HEAD, upload; its records of what the
#                               registry holds are removed first, so every blob goes up
#             skopeo copy       the same gzip blobs, from an OCI layout → registry
#             podman push       the same image loaded into a private podman store (podman keeps
#                               layers uncompressed and gzips them on every push)
#   pull      into an empty store / directory each run, from what duckc pushed
#             duckc pull        manifest, config, layers streamed and verified by digest and
#                               size (`--progress plain`); diff_ids are checked at first unpack
#             skopeo copy       registry → an OCI layout directory (digests only)
#             podman pull       registry → a private podman store (layers unpacked on disk)
#   re-push   nothing changed: goal < 0.1 s and 0 layer bytes (the script fails on any
#             `Pushed` line of duckc's)
#   re-pull   every layer present: goal < 0.1 s
#
# Needs docker-registry, skopeo, podman, hyperfine and python3; root for podman's store.
# Env: DUCKC=path/to/duckc (default: target/release/duckc, built if missing)  B=work dir
#      IMAGE=name in DUCKC_STORE  SIZE_MB=200  RUNS=5 (push and pull)  FAST_RUNS=20
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=${B:-/tmp/duckc-bench/registry}
SIZE_MB=${SIZE_MB:-200}
RUNS=${RUNS:-5}
FAST_RUNS=${FAST_RUNS:-20}
for t in docker-registry skopeo podman hyperfine python3; do
    command -v $t >/dev/null || { echo "missing: $t"; exit 1; }
done
DUCKC=${DUCKC:-$ROOT/target/release/duckc}
if [ ! -x "$DUCKC" ]; then (cd "$ROOT" && cargo build --release -p duckc); fi

rm -rf "$B"; mkdir -p "$B"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
H=127.0.0.1:$PORT
cat > "$B/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $B/data
http:
  addr: $H
YML
# (Re)start the registry with no data: hyperfine's --prepare for the push runs.
cat > "$B/reset" <<SH
#!/usr/bin/env bash
set -e
if [ -s "$B/registry.pid" ]; then
    kill \$(cat "$B/registry.pid") 2>/dev/null || true
    while kill -0 \$(cat "$B/registry.pid") 2>/dev/null; do sleep 0.02; done
fi
rm -rf "$B/data"
setsid docker-registry serve "$B/config.yml" > "$B/registry.log" 2>&1 < /dev/null &
echo \$! > "$B/registry.pid"
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT))" 2>/dev/null; do sleep 0.05; done
SH
chmod +x "$B/reset"
trap 'kill $(cat "$B/registry.pid" 2>/dev/null) 2>/dev/null || true' EXIT
"$B/reset"

if [ -n "${IMAGE:-}" ]; then
    SRC=${DUCKC_STORE:?IMAGE needs DUCKC_STORE}
else
    SRC=$B/store IMAGE=bench/big:1
    mkdir -p "$B/tree"
    head -c $((SIZE_MB * 512 * 1024)) /dev/urandom > "$B/tree/random"
    head -c $((SIZE_MB * 512 * 1024)) /dev/zero > "$B/tree/zeros"
    DUCKC_STORE=$SRC "$DUCKC" import --compression none -t "$IMAGE" "$B/tree" > /dev/null
fi
export SRC DUCKC B H

# The first push gzips the store's uncompressed layers and remembers each gzip: done once
# here, so the timed pushes all send remembered gzip blobs.
DUCKC_STORE=$SRC "$DUCKC" tag "$IMAGE" "$H/duckc/img:1"
DUCKC_STORE=$SRC "$DUCKC" push "$H/duckc/img:1" > /dev/null
# The same image for skopeo: an OCI layout of exactly those gzip blobs (skopeo would gzip an
# uncompressed layout's layers on every push, as podman does), and for podman: its own store,
# loaded from that layout.
skopeo copy -q --src-tls-verify=false "docker://$H/duckc/img:1" "oci:$B/layout:img"
PODMAN="podman --root $B/podman/root --runroot $B/podman/run --storage-driver overlay"
$PODMAN pull -q "oci:$B/layout:img" > /dev/null
$PODMAN tag "$($PODMAN images -q | head -1)" localhost/bench/img:1
BYTES=$(python3 - "$B/layout" <<'PY'
import json, sys, os
root = sys.argv[1]
idx = json.load(open(os.path.join(root, "index.json")))
m = idx["manifests"][0]["digest"].split(":")[1]
man = json.load(open(os.path.join(root, "blobs/sha256", m)))
print(sum(l["size"] for l in man["layers"]) + man["config"]["size"])
PY
)

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "image: $IMAGE, $BYTES bytes of blobs; $(nproc) cores; load before: $(load)"

FORGET="rm -rf $SRC/registry/sources $SRC/registry/uploads"
hyperfine -N --runs "$RUNS" --export-json "$B/push.json" \
    --prepare "bash -c '$B/reset && $FORGET'" \
    -n "duckc push" "env DUCKC_STORE=$SRC $DUCKC push $H/duckc/img:1" \
    -n "skopeo copy (push)" "skopeo copy -q --dest-tls-verify=false oci:$B/layout:img docker://$H/skopeo/img:1" \
    -n "podman push" "$PODMAN push -q --tls-verify=false localhost/bench/img:1 docker://$H/podman/img:1"
echo "load after push: $(load)"

# What the pulls read: duckc's push, the registry kept from here on.
"$B/reset"
DUCKC_STORE=$SRC "$DUCKC" push "$H/duckc/img:1" > /dev/null
hyperfine -N --runs "$RUNS" --export-json "$B/pull.json" \
    -n "duckc pull" --prepare "rm -rf $B/pulled" \
    "env DUCKC_STORE=$B/pulled $DUCKC pull --progress plain $H/duckc/img:1" \
    -n "skopeo copy (pull)" --prepare "rm -rf $B/skopeo-pulled" \
    "skopeo copy -q --src-tls-verify=false docker://$H/duckc/img:1 oci:$B/skopeo-pulled:x" \
    -n "podman pull" --prepare "rm -rf $B/podman-pulled" \
    "podman --root $B/podman-pulled/root --runroot $B/podman-pulled/run --storage-driver overlay pull -q --tls-verify=false $H/duckc/img:1"
echo "load after pull: $(load)"

# Nothing changed since: duckc sends no layer byte.
if DUCKC_STORE=$SRC "$DUCKC" push "$H/duckc/img:1" | grep -q ': Pushed'; then
    echo "re-push sent a layer"; exit 1
fi
hyperfine -N --warmup 2 --runs "$FAST_RUNS" --export-json "$B/again.json" \
    -n "duckc re-push" "env DUCKC_STORE=$SRC $DUCKC push $H/duckc/img:1" \
    -n "duckc re-pull" "env DUCKC_STORE=$B/pulled $DUCKC pull --progress plain $H/duckc/img:1" \
    -n "skopeo re-copy (push)" "skopeo copy -q --dest-tls-verify=false oci:$B/layout:img docker://$H/duckc/img:1" \
    -n "podman re-pull" "podman --root $B/podman-pulled/root --runroot $B/podman-pulled/run --storage-driver overlay pull -q --tls-verify=false $H/duckc/img:1"
echo "load after: $(load)"

python3 - "$B" "$BYTES" <<'PY'
import json, sys
b, size = sys.argv[1], int(sys.argv[2])
def res(f):
    return {r["command"]: r for r in json.load(open(f"{b}/{f}.json"))["results"]}
print()
print("what                   median      mean ± σ            MB/s   time / skopeo's")
for f, ref in (("push", "skopeo copy (push)"), ("pull", "skopeo copy (pull)")):
    rs = res(f)
    for name, r in rs.items():
        med = r["median"]
        print(f"{name:22} {med:7.3f} s  {r['mean']:7.3f} ± {r['stddev'] or 0:.3f} s  {size / med / 1e6:7.1f}"
              f"   {med / rs[ref]['median']:.2f}")
for name, r in res("again").items():
    print(f"{name:22} {r['median']:7.3f} s  {r['mean']:7.3f} ± {r['stddev'] or 0:.3f} s"
          f"  (min {r['min']:.3f} s, max {r['max']:.3f} s)")
PY
