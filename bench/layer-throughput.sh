#!/usr/bin/env bash
# Layer write+hash throughput on a 1 GiB tree, as a ratio of plain sha256 throughput over the
# same files on the same machine (goal: >= 0.8). Both read from a warm page cache.
#
#   bench/layer-throughput.sh [WORKDIR]     (default /tmp/duckc-bench/layer)
#
# The tree: 1 GiB in files of 64 KiB to 16 MiB (random bytes), in nested directories.
# Baseline: `cat` of every file (sorted) piped to `openssl dgst -sha256` (SHA-NI, like the
# sha2 crate); coreutils `sha256sum` (no SHA-NI) is printed too.
# duckc:    the `write-layer` example of duckc-layer: sorted walk, tar headers, sha256 of the
#           uncompressed tar (the diff_id), written to /dev/null, uncompressed. zstd (and gzip
#           with ALL=1) figures are printed for information.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/duckc-bench/layer}
tree=$work/tree
mkdir -p "$work"

if [ ! -f "$tree/.complete" ]; then
    rm -rf "$tree"
    mkdir -p "$tree"
    total=0 i=0
    sizes=(65536 262144 1048576 4194304 16777216)
    while [ "$total" -lt $((1 << 30)) ]; do
        size=${sizes[$((i % 5))]}
        dir="$tree/d$((i % 16))/e$((i % 7))"
        mkdir -p "$dir"
        head -c "$size" /dev/urandom > "$dir/f$i"
        total=$((total + size)) i=$((i + 1))
    done
    touch "$tree/.complete"
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --quiet --release -p duckc-layer --example write-layer
bin=$CARGO_TARGET_DIR/release/examples/write-layer
bytes=$(find "$tree" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')

# Warm the page cache, then time each side twice and keep the better run. Wall and CPU
# (user+sys) seconds are both reported: on a busy shared machine the CPU ratio is the steadier.
find "$tree" -type f -print0 | sort -z | xargs -0 cat > /dev/null
TIMEFORMAT='%R %U %S'
measure() { # command… → "wall cpu" of the better of two runs
    for _ in 1 2; do
        { time "$@" > /dev/null 2>&1; } 2>&1 | awk '{printf "%.3f %.3f\n", $1, $2 + $3}'
    done | sort -n | head -1
}
hash_files() { find "$tree" -type f -print0 | sort -z | xargs -0 cat | "$@"; }
if command -v openssl > /dev/null; then
    read -r sha_wall sha_cpu < <(measure hash_files openssl dgst -sha256)
    baseline="openssl dgst -sha256"
else
    read -r sha_wall sha_cpu < <(measure hash_files sha256sum)
    baseline="sha256sum"
fi
read -r coreutils_wall coreutils_cpu < <(measure hash_files sha256sum)
read -r layer_wall layer_cpu < <(measure "$bin" "$tree" /dev/null none)
mbps() { echo "scale=1; $bytes / $1 / 1000000" | bc; }
echo "tree: $bytes bytes in $(find "$tree" -type f | wc -l) files; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "baseline ($baseline): $(mbps "$sha_wall") MB/s wall ($sha_wall s), $(mbps "$sha_cpu") MB/s CPU ($sha_cpu s)"
echo "coreutils sha256sum:  $(mbps "$coreutils_wall") MB/s wall ($coreutils_wall s), $(mbps "$coreutils_cpu") MB/s CPU ($coreutils_cpu s)"
echo "layer write+hash:     $(mbps "$layer_wall") MB/s wall ($layer_wall s), $(mbps "$layer_cpu") MB/s CPU ($layer_cpu s)"
echo "ratio to baseline: wall $(echo "scale=2; $sha_wall / $layer_wall" | bc), CPU $(echo "scale=2; $sha_cpu / $layer_cpu" | bc)"
echo "with zstd: $("$bin" "$tree" /dev/null zstd)"
if [ "${ALL:-}" = 1 ]; then
    echo "with gzip: $("$bin" "$tree" /dev/null gzip)"
fi
