#!/usr/bin/env bash
# registry.sh - push and pull through a loopback `docker-registry` (Debian's distribution v2):
# duckc next to skopeo in the same run, as ratios (wall time, one run each after a warm-up of
# the page cache). The image is IMAGE from an existing store (e.g. examples/python built with
# `duckc build`), else a one-layer image of SIZE_MB MB (half random, half zeros) made with
# `duckc import --compression none`, as a build leaves its layers.
#
#   duckc push        gzips the uncompressed layers (once), HEADs, uploads
#   skopeo copy       the same image from `duckc export-layout` (already gzipped) to the registry
#   duckc pull        fresh store: manifest, config, layers streamed and verified, diff_ids
#                     checked in the same pass (`--progress plain`: no live view on stderr)
#   skopeo copy       registry → an OCI layout directory
#   re-push / re-pull nothing changed: goals < 0.1 s, 0 layer bytes
#
# Needs docker-registry, skopeo and python3 (not root).
# Env: DUCKC=path/to/duckc (default: target/release/duckc, built if missing)  B=work dir
#      IMAGE=name in DUCKC_STORE  SIZE_MB=200
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=${B:-/tmp/duckc-bench/registry}
SIZE_MB=${SIZE_MB:-200}
for t in docker-registry skopeo python3; do command -v $t >/dev/null || { echo "missing: $t"; exit 1; }; done
DUCKC=${DUCKC:-$ROOT/target/release/duckc}
if [ ! -x "$DUCKC" ]; then (cd "$ROOT" && cargo build --release -p duckc); fi

rm -rf "$B"; mkdir -p "$B"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
  addr: 127.0.0.1:$PORT
YML
docker-registry serve "$B/config.yml" > "$B/registry.log" 2>&1 &
REG=$!
trap 'kill $REG 2>/dev/null; wait $REG 2>/dev/null || true' EXIT
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT))" 2>/dev/null; do sleep 0.1; done
H=127.0.0.1:$PORT

if [ -n "${IMAGE:-}" ]; then
    SRC=${DUCKC_STORE:?IMAGE needs DUCKC_STORE}
else
    SRC=$B/store IMAGE=bench/big:1
    mkdir -p "$B/tree"
    head -c $((SIZE_MB * 512 * 1024)) /dev/urandom > "$B/tree/random"
    head -c $((SIZE_MB * 512 * 1024)) /dev/zero > "$B/tree/zeros"
    DUCKC_STORE=$SRC "$DUCKC" import --compression none -t "$IMAGE" "$B/tree" > /dev/null
fi

t() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); python3 -c "print(f'{$e-$s:.3f}')"; }

DUCKC_STORE=$SRC "$DUCKC" tag "$IMAGE" "$H/duckc/img:1"
DUCKC_STORE=$SRC "$DUCKC" export-layout "$IMAGE" "$B/layout" > /dev/null
push_d=$(DUCKC_STORE=$SRC t "$DUCKC" push "$H/duckc/img:1")
repush_d=$(DUCKC_STORE=$SRC t "$DUCKC" push "$H/duckc/img:1")
push_s=$(t skopeo copy -q --dest-tls-verify=false "oci:$B/layout" "docker://$H/skopeo/img:1")
pull_d=$(DUCKC_STORE=$B/pulled t "$DUCKC" pull --progress plain "$H/duckc/img:1")
repull_d=$(DUCKC_STORE=$B/pulled t "$DUCKC" pull --progress plain "$H/duckc/img:1")
pull_s=$(t skopeo copy -q --src-tls-verify=false "docker://$H/duckc/img:1" "oci:$B/skopeo-pulled:x")

echo "what            duckc     skopeo   duckc/skopeo"
python3 - "$push_d" "$push_s" "$pull_d" "$pull_s" "$repush_d" "$repull_d" <<'PY'
import sys
pd, ps, ld, ls, rp, rl = map(float, sys.argv[1:])
print(f"push            {pd:7.3f}s  {ps:7.3f}s  {pd/ps:5.2f}")
print(f"pull            {ld:7.3f}s  {ls:7.3f}s  {ld/ls:5.2f}")
print(f"re-push         {rp:7.3f}s")
print(f"re-pull         {rl:7.3f}s")
PY
