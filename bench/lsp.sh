#!/bin/sh
# bench/lsp.sh - the language server's latency: a 2,000-line spec with 200 envs opened cold,
# then 1,000 one-character edits, each timed from `didChange` to the `publishDiagnostics` of
# its version (p50/p95/max), and the resident memory after 100 and after 1,000 edits.
#
# Runs compiler/lsp/benches/edit.rs (in-process: the server's loop over an in-memory
# connection, so the figures are the server's, without a pipe). Release build by default;
# PROFILE=dev for a debug build; LSP_BENCH_EDITS=N makes fewer edits, LSP_BENCH_EDIT=insert types
# a character and deletes it (moving the text after it) instead of replacing one. Prints one
# JSON object.
set -eu
cd "$(dirname "$0")/.."
if [ "${PROFILE:-release}" = dev ]; then
    cargo bench --quiet --profile dev -p duckc-lsp --bench edit
else
    cargo bench --quiet -p duckc-lsp --bench edit
fi
