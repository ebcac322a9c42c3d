# bench/lib.sh - sourced by the bench scripts, from the repository root.
#
# duckc_binary: sets DUCKC to an absolute path: the given one, else a release build of this
# checkout (in CARGO_TARGET_DIR, default target/).
duckc_binary() {
    if [ -z "${DUCKC:-}" ]; then
        export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
        cargo build --quiet --release -p duckc
        DUCKC=$CARGO_TARGET_DIR/release/duckc
    fi
    DUCKC=$(readlink -f "$DUCKC")
}
