#!/usr/bin/env bash
# Store size: the same builds in duckc's store and in a private dockerd's data root (overlay2,
# BuildKit), measured with `du` after the builds (build cache included on both sides).
#
#   bench/store-size.sh [WORKDIR]     (default /tmp/duckc-bench/store-size; run as root)
#
# Workloads, each in fresh stores:
#   seeds   tests/dockerfiles/seed-*.Dockerfile over a busybox base (loaded / imported)
#   app     a multi-stage Dockerfile over debian:bookworm (RUN making 64 MiB and a copy of
#           /usr/share, a deletion, COPY of a 32 MiB context, COPY --from); the base is
#           duckc's std/debian:bookworm, saved once and loaded into every store and dockerd
#   python  examples/python (std/debian:bookworm + python3 + numpy from the apt repository);
#           duckc only, with and without its .deb download cache
#   hello   examples/hello; duckc only
# Env: DUCKC=path (default: a release build of this checkout); OLD=path/to/an/older/duckc to
# measure it too (e.g. the build before layers were kept once); SKIP="python hello ..."; KEEP=1;
# BASE=debian.tar (the base's docker archive from an earlier run, instead of building it).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/duckc-bench/store-size}
SKIP=${SKIP:-}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
. bench/lib.sh
duckc_binary
rm -rf "$W"
mkdir -p "$W/res"
REPO=$(pwd)
kib() { du -sk "$1" | cut -f1; }
skip() { [[ " $SKIP " == *" $1 "* ]]; }

# ---- the busybox base: the host's busybox-static as a one-layer image
ROOTFS=$W/rootfs
mkdir -p "$ROOTFS"/{bin,etc,tmp,root,usr/bin,var}
cp /bin/busybox "$ROOTFS/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || [ -e "$ROOTFS/bin/$a" ] || ln -s busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\n' > "$ROOTFS/etc/group"
chmod 1777 "$ROOTFS/tmp"
tar -C "$ROOTFS" --numeric-owner -cf "$W/rootfs.tar" .
umoci init --layout "$W/layout" >/dev/null
umoci new --image "$W/layout:busybox:latest" >/dev/null
umoci unpack --image "$W/layout:busybox:latest" "$W/bundle" >/dev/null
tar -C "$W/bundle/rootfs" -xf "$W/rootfs.tar"
umoci repack --image "$W/layout:busybox:latest" "$W/bundle" >/dev/null

# ---- contexts
for f in tests/dockerfiles/seed-*.Dockerfile; do
    n=$(basename "$f" .Dockerfile)
    mkdir -p "$W/ctx/$n"
    cp "$f" "$W/ctx/$n/Dockerfile"
    echo quack > "$W/ctx/$n/duck.txt"
done
APP=$W/ctx/app
mkdir -p "$APP/data"
for i in $(seq 1 32); do head -c 1048576 /dev/urandom > "$APP/data/part$i.bin"; done
cat > "$APP/Dockerfile" <<'EOF'
FROM debian:bookworm AS build
RUN mkdir -p /out && head -c 67108864 /dev/urandom > /out/blob.bin && cp -a /usr/share /out/share
RUN rm -rf /out/share/doc /out/share/locale
FROM debian:bookworm
COPY data /srv/data
COPY --from=build /out /opt/out
RUN echo done > /opt/out/done.txt
EOF

# ---- the debian base, built once by duckc and saved (a docker archive both sides load)
if [ -n "${BASE:-}" ]; then
    cp "$BASE" "$W/debian.tar"
elif ! skip app; then
    mkdir -p "$W/base"
    printf 'env "base" {\n    from "std/debian:bookworm"\n    tag "debian:bookworm"\n}\n' > "$W/base/env.kdl"
    DUCKC_STORE=$W/base-store "$DUCKC" build "$W/base/env.kdl" > "$W/base/build.log" 2>&1
    DUCKC_STORE=$W/base-store "$DUCKC" save --format docker -o "$W/debian.tar" debian:bookworm
fi

# ---- duckc: one store per workload and binary
duckc_run() { # NAME BINARY
    local name=$1 bin=$2 s
    if ! skip seeds; then
        s=$W/$name-seeds
        DUCKC_STORE=$s "$bin" load -i "$W/layout" >/dev/null
        DUCKC_STORE=$s "$bin" tag busybox:latest busybox:1.36
        for c in "$W"/ctx/seed-*; do DUCKC_STORE=$s "$bin" build -t "bench/$(basename "$c")" "$c" >/dev/null; done
        echo "$name seeds $(kib "$s")" >> "$W/res/sizes"
    fi
    if ! skip app; then
        s=$W/$name-app
        DUCKC_STORE=$s "$bin" load -i "$W/debian.tar" >/dev/null
        DUCKC_STORE=$s "$bin" build -t bench/app "$APP" >/dev/null
        echo "$name app $(kib "$s")" >> "$W/res/sizes"
    fi
    if ! skip python; then
        s=$W/$name-python
        DUCKC_STORE=$s "$bin" build "$REPO/examples/python/env.kdl" > "$W/res/$name-python.log" 2>&1
        echo "$name python $(kib "$s")" >> "$W/res/sizes"
        echo "$name python-without-downloads $(( $(kib "$s") - $(kib "$s/downloads") ))" >> "$W/res/sizes"
    fi
    if ! skip hello; then
        s=$W/$name-hello
        examples/hello/fetch-busybox.sh > /dev/null
        DUCKC_STORE=$s "$bin" build "$REPO/examples/hello/env.kdl" > "$W/res/$name-hello.log" 2>&1
        echo "$name hello $(kib "$s")" >> "$W/res/sizes"
    fi
}
duckc_run duckc "$DUCKC"
[ -n "${OLD:-}" ] && duckc_run old "$(readlink -f "$OLD")"

# ---- docker: a private dockerd (PEERS.md), BuildKit, one data root per workload
docker_run() { # WORKLOAD
    local D=$W/docker-$1 pid
    mkdir -p "$D"
    export DOCKER_HOST=unix://$D/docker.sock
    dockerd --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/pid" -H "$DOCKER_HOST" \
        --storage-driver overlay2 --exec-opt native.cgroupdriver=cgroupfs > "$D/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do /usr/bin/docker version > /dev/null 2>&1 && break; sleep 0.2; done
    case $1 in
        seeds)
            /usr/bin/docker import "$W/rootfs.tar" busybox:latest > /dev/null
            /usr/bin/docker tag busybox:latest busybox:1.36
            for c in "$W"/ctx/seed-*; do
                DOCKER_BUILDKIT=1 /usr/bin/docker build -t "bench/$(basename "$c")" "$c" > /dev/null
            done ;;
        app)
            /usr/bin/docker load -i "$W/debian.tar" > /dev/null
            DOCKER_BUILDKIT=1 /usr/bin/docker build -t bench/app "$APP" > /dev/null ;;
    esac
    sync
    echo "docker $1 $(kib "$D/data")" >> "$W/res/sizes"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
if command -v dockerd > /dev/null; then
    for w in seeds app; do skip "$w" || docker_run "$w"; done
fi

echo "KiB per store:"
column -t "$W/res/sizes"
[ "${KEEP:-0}" = 1 ] || rm -rf "$W"/duckc-* "$W"/old-* "$W"/docker-*/data "$W/base-store"
