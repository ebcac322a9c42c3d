#!/usr/bin/env bash
# Build times: one 3-stage, 10-step build (ENV, WORKDIR, RUN, COPY of a 60-file tree, COPY
# --from, CMD) built by duckc, by `docker build` with BuildKit, and by `podman build`, side by
# side with hyperfine; the ratios duckc / BuildKit are the figures to watch
# (goals: no-op <= 0.2x, one-file edit <= 0.5x).
#
#   bench/build.sh [WORKDIR]     (default /tmp/duckc-bench/build; run as root)
#
# Scenarios (median of RUNS, default 5):
#   cold   every step executed (--no-cache)
#   noop   rebuild, everything cached
#   edit   rebuild after appending a line to one copied source file (hyperfine --prepare)
# duckc builds the Dockerfile itself (the same layer graph a KDL spec lowers to) and, when
# `duckc convert` maps it one to one, the converted env.kdl too (SPEC=1, the default).
# The base is the host's /bin/busybox (busybox-static) as one-layer image in every tool.
# Env: RUNS=5 DUCKC=path/to/duckc (default: a release build of this checkout) TOOLS="duckc
# duckc-kdl docker podman" KEEP=1 (keep the work directory).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/duckc-bench/build}
RUNS=${RUNS:-5}
TOOLS=${TOOLS:-duckc duckc-kdl docker podman}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
. bench/lib.sh
duckc_binary
rm -rf "$W"
mkdir -p "$W/res"
RES=$W/res

# ---- the base: a busybox root filesystem
ROOTFS=$W/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp,root,proc,sys,dev,usr/bin,var}
cp /bin/busybox "$ROOTFS/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || [ -e "$ROOTFS/bin/$a" ] || ln -s busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\n' > "$ROOTFS/etc/group"
chmod 1777 "$ROOTFS/tmp"
tar -C "$ROOTFS" --numeric-owner -cf "$W/rootfs.tar" .

# ---- the build context: Dockerfile + 60 generated source files (deterministic)
CTX=$W/ctx
mkdir -p "$CTX/src"
for d in lib cmd web docs; do
    mkdir -p "$CTX/src/$d"
    for i in $(seq 1 15); do
        awk -v d=$d -v i=$i 'BEGIN{for(l=1;l<=60;l++) printf "# %s/file%02d line %d: lorem ipsum\n", d, i, l}' \
            > "$CTX/src/$d/file$(printf %02d "$i").sh"
    done
done
EDIT=$CTX/src/lib/file07.sh
cat > "$CTX/Dockerfile" <<'EOF'
FROM localhost/busybox:latest AS deps
ENV APP_HOME=/app
WORKDIR /app
RUN mkdir -p vendor && for i in $(seq 1 200); do echo "dep $i" > vendor/dep$i.txt; done
RUN dd if=/dev/urandom of=vendor/blob.bin bs=1M count=8 2>/dev/null

FROM localhost/busybox:latest AS build
WORKDIR /src
COPY src/ /src/
RUN find /src -type f | sort | xargs cat | md5sum > /src/checksum && mkdir -p /out && tar -C /src -czf /out/app.tgz .
COPY --from=deps /app/vendor /out/vendor

FROM localhost/busybox:latest
ENV APP=/opt/app
WORKDIR /opt/app
COPY --from=build /out/ /opt/app/
RUN mkdir -p bin && printf '#!/bin/sh\necho app\n' > bin/app && chmod +x bin/app
CMD ["/opt/app/bin/app"]
EOF

# ---- duckc: its own store; the base loaded from an OCI layout made with umoci
export DUCKC_STORE=$W/duckc-store
umoci init --layout "$W/layout" >/dev/null
umoci new --image "$W/layout:busybox:latest" >/dev/null
umoci unpack --image "$W/layout:busybox:latest" "$W/bundle" >/dev/null
tar -C "$W/bundle/rootfs" -xf "$W/rootfs.tar"
umoci repack --image "$W/layout:busybox:latest" "$W/bundle" >/dev/null
"$DUCKC" load -i "$W/layout" >/dev/null
"$DUCKC" tag busybox:latest localhost/busybox:latest
if "$DUCKC" convert "$CTX/Dockerfile" > "$W/env.kdl" 2> "$W/convert.err"; then
    cp "$W/env.kdl" "$CTX/env.kdl"
else
    echo "duckc-kdl: skipped, the Dockerfile does not convert one to one:"
    sed 's/^/   /' "$W/convert.err"
    TOOLS=${TOOLS//duckc-kdl/}
fi

# ---- docker: a private dockerd (PEERS.md), BuildKit
D=$W/docker
export DOCKER_HOST=unix://$D/docker.sock
DOCKERD_PID=
stop() {
    [ -n "$DOCKERD_PID" ] && kill "$DOCKERD_PID" 2>/dev/null && wait "$DOCKERD_PID" 2>/dev/null || true
    [ "${KEEP:-0}" = 1 ] || { rm -rf "$W/podman" "$D/data" 2>/dev/null || true; }
}
trap stop EXIT
if [[ " $TOOLS " == *" docker "* ]]; then
    mkdir -p "$D"
    dockerd --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/pid" -H "$DOCKER_HOST" \
        --storage-driver overlay2 --exec-opt native.cgroupdriver=cgroupfs > "$D/log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 1 100); do /usr/bin/docker version > /dev/null 2>&1 && break; sleep 0.2; done
    /usr/bin/docker import "$W/rootfs.tar" localhost/busybox:latest > /dev/null
fi

# ---- podman: private storage, the ulimits this machine needs (PEERS.md)
P=$W/podman
mkdir -p "$P"
cat > "$P/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
EOF
cat > "$P/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$P/root"
runroot = "$P/run"
EOF
export CONTAINERS_CONF=$P/containers.conf CONTAINERS_STORAGE_CONF=$P/storage.conf
if [[ " $TOOLS " == *" podman "* ]]; then
    podman import "$W/rootfs.tar" localhost/busybox:latest > /dev/null
fi

build_cmd() { # tool [--no-cache]
    local t=$1
    shift
    case $t in
        duckc) echo "$DUCKC build --progress plain -f $CTX/Dockerfile $* -t bench/app $CTX" ;;
        duckc-kdl) echo "$DUCKC build --progress plain $* $CTX/env.kdl" ;;
        docker) echo "env DOCKER_BUILDKIT=1 /usr/bin/docker build -q $* -t bench/app $CTX" ;;
        podman) echo "podman build -q $* -t bench/app $CTX" ;;
    esac
}

for t in $TOOLS; do
    echo "== $t"
    $(build_cmd "$t") > "$RES/$t.log" 2>&1 || { echo "   build failed, see $RES/$t.log"; continue; }
    hf() {
        local sc=$1
        shift
        hyperfine -N --style basic --export-json "$RES/$t.$sc.json" --command-name "$t $sc" "$@" |
            grep -E "Time" || true
    }
    hf cold --runs "$RUNS" "$(build_cmd "$t" --no-cache)"
    hf noop --warmup 1 --runs "$RUNS" "$(build_cmd "$t")"
    hf edit --runs "$RUNS" --prepare "sh -c 'echo \"# edit \$(date +%s%N)\" >> $EDIT'" "$(build_cmd "$t")"
done

echo
echo "== build: 3-stage, 10-step build, median seconds of $RUNS runs, $(nproc) cores, $(date -u '+%F %H:%M UTC'), loadavg $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$RES" << 'EOF'
import glob, json, os, sys
rows = {}
for p in glob.glob(os.path.join(sys.argv[1], "*.json")):
    r = json.load(open(p))["results"][0]
    tool, sc = r["command"].rsplit(" ", 1)
    rows.setdefault(tool, {})[sc] = r["median"]
order = [t for t in ["duckc", "duckc-kdl", "docker", "podman"] if t in rows]
print(f"| tool | cold | no-op | one-file edit |")
print(f"|---|---|---|---|")
for t in order:
    m = rows[t]
    cell = lambda s: f"{m[s]:.3f} s" if s in m else "-"
    print(f"| {t} | {cell('cold')} | {cell('noop')} | {cell('edit')} |")
if "docker" in rows:
    for t in [t for t in order if t.startswith("duckc")]:
        ratios = [f"{s} {rows[t][s] / rows['docker'][s]:.2f}x" for s in ["cold", "noop", "edit"] if s in rows[t] and s in rows["docker"]]
        print(f"{t} / BuildKit: " + ", ".join(ratios))
EOF
