#!/usr/bin/env bash
# Layer write+hash throughput on a 1 GiB tree, as a ratio of plain sha256 throughput over the
# same files on the same machine (goal: >= 0.8). Both read from a warm page cache.
#
#   bench/layer-throughput.sh [WORKDIR]     (default /tmp/duckc-bench/layer)
#
# The tree: 1 GiB in files of 64 KiB to 16 MiB (random bytes), in nested directories.
# Baseline: `cat` of every file (sorted) piped to `sha256sum`.
# duckc:    the `write-layer` example of duckc-layer: sorted walk, tar headers, sha256 of the
#           uncompressed tar (the diff_id), written to /dev/null, uncompressed. gzip and zstd
#           figures are printed for information.
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

# Warm the page cache, then time each side twice and keep the better run.
find "$tree" -type f -print0 | sort -z | xargs -0 cat > /dev/null
best() { sort -n | head -1; }
sha=$(for _ in 1 2; do
    s=$(date +%s.%N); find "$tree" -type f -print0 | sort -z | xargs -0 cat | sha256sum > /dev/null; e=$(date +%s.%N)
    echo "$e - $s" | bc
done | best)
layer=$(for _ in 1 2; do
    s=$(date +%s.%N); "$bin" "$tree" /dev/null none > /dev/null; e=$(date +%s.%N)
    echo "$e - $s" | bc
done | best)
mbps() { echo "scale=1; $bytes / $1 / 1000000" | bc; }
echo "tree: $bytes bytes"
echo "sha256sum:                $(mbps "$sha") MB/s ($sha s)"
echo "layer write+hash (tar):   $(mbps "$layer") MB/s ($layer s)"
echo "ratio: $(echo "scale=2; $sha / $layer" | bc)"
for c in zstd gzip; do
    echo "with $c: $("$bin" "$tree" /dev/null "$c")"
done
