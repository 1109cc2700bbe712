#!/usr/bin/env bash
# Templated mail against css-inline alone (see benches/mail_template.rs): the render time of
# a welcome mail (layout, <style> block, subject and text templates), and css-inline on the
# same HTML with the same options, in the same process. Prints METRIC lines last.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cargo bench --locked --no-default-features --features mail-templates --bench mail_template 2>&1 >"$out" | grep -v '^\s*\(Compiling\|Downloaded\|Downloading\|Finished\|Running\|Locking\|Adding\|Updating\)' >&2 || true
grep -v '^METRIC ' "$out" || true
grep '^METRIC ' "$out"
