#!/usr/bin/env bash
# Asset bundles against their peers, same input, same run (see benches/assets_bundle.rs):
# jQuery+lodash+d3 against `esbuild --minify` (time, gzip bytes), Bootstrap CSS against the
# lightningcss CLI (time, bytes), and a production static() lookup (peer: the 1 µs goal).
# Then the whole `static-bundle` process (benches/support/static_bundle_cli.sh): cold,
# against `esbuild --minify` + `gzip -9` + `brotli -q 11`; with nothing changed; and on a
# 50 MB script against esbuild (time and peak RSS). Then what source maps cost that process
# (benches/support/sourcemap_overhead.sh: with maps against without).
# esbuild and lightningcss-cli come from npm into target/npm (tests/assets_npm.sh, which
# also installs the libraries); the brotli CLI and GNU time from apt when missing.
# Prints METRIC lines last.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/assets_npm.sh
missing=()
command -v brotli >/dev/null 2>&1 || missing+=(brotli)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "benches/parts/assets.sh: installing ${missing[*]} with apt-get" >&2
    "${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2 ||
        { "${sudo[@]}" apt-get update -q >&2 && "${sudo[@]}" apt-get install -y -q "${missing[@]}" >&2; }
fi
features=assets,minijinja,cli
quiet='^\s*\(Compiling\|Downloaded\|Downloading\|Finished\|Running\|Locking\|Adding\|Updating\)'
out=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$out" "$work"' EXIT
cargo bench --no-default-features --features "$features" --bench assets_bundle -- "$PWD/target/npm/node_modules" 2>&1 >"$out" | grep -v "$quiet" >&2 || true
cargo build --release --no-default-features --features "$features" --bin static-bundle 2>&1 | grep -v "$quiet" >&2 || true
bash benches/support/static_bundle_cli.sh target/release/static-bundle target/npm/node_modules "$work" >>"$out"
bash benches/support/sourcemap_overhead.sh target/release/static-bundle target/npm/node_modules "$work" >>"$out"
# ES modules: d3 + lodash-es with one dynamic import, against esbuild --bundle --format=esm.
cargo bench --no-default-features --features "$features,esm" --bench esm_bundle -- "$PWD/target/npm/node_modules" 2>&1 >>"$out" | grep -v "$quiet" >&2 || true
grep -v '^METRIC ' "$out" || true
grep '^METRIC ' "$out"
