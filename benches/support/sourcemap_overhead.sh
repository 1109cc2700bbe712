#!/usr/bin/env bash
# What source maps cost the whole `static-bundle` process (called by benches/parts/assets.sh;
# prints METRIC lines). The same site as static_bundle_cli.sh (jQuery, lodash, d3 and
# Bootstrap bundles) plus one bundle of all three scripts (several parts, one map), built
# cold with maps (the default, --source-maps=comment) and without (--source-maps=off),
# interleaved in the same run:
#   sourcemap_overhead                 with .gz/.br siblings, as static-bundle runs by default
#   sourcemap_overhead_noprecompress   with --no-precompress: minifying and maps only
# Usage: sourcemap_overhead.sh <static-bundle binary> <node_modules dir> <work dir>
set -euo pipefail
bin=$(realpath "$1")
modules=$(realpath "$2")
work=$3
runs=${SQUALL_BENCH_RUNS:-5}

metric() {
    awk -v n="$1" -v s="$2" -v p="$3" -v u="$4" \
        'BEGIN { printf "METRIC %s squall=%.3f peer=%.3f ratio=%.3f unit=%s\n", n, s, p, s / p, u }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) * 1000 }'; }

site="$work/maps-site"
mkdir -p "$site/static/js" "$site/static/css" "$site/templates"
cp "$modules/jquery/dist/jquery.js" "$modules/lodash/lodash.js" "$modules/d3/dist/d3.js" "$site/static/js/"
cp "$modules/bootstrap/dist/css/bootstrap.css" "$site/static/css/"
cat >"$site/templates/base.html" <<'HTML'
{{ static("css/bootstrap.css") }}
{{ static("js/jquery.js") }}
{{ static("js/lodash.js") }}
{{ static("js/d3.js") }}
{{ static("js/jquery.js", "js/lodash.js", "js/d3.js") }}
HTML

cold() {
    rm -rf "$site/static/combined"
    local start=$EPOCHREALTIME
    (cd "$site" && "$bin" "$@" >/dev/null 2>&1)
    elapsed_ms "$start" "$EPOCHREALTIME"
}

with=() without=() with_raw=() without_raw=()
for _ in $(seq "$runs"); do
    with+=("$(cold --source-maps=comment)")
    without+=("$(cold --source-maps=off)")
    with_raw+=("$(cold --source-maps=comment --no-precompress)")
    without_raw+=("$(cold --source-maps=off --no-precompress)")
done
# The runs with maps wrote them: one per bundle, listed in the manifest.
cold --source-maps=comment >/dev/null
maps=$(find "$site/static/combined" -name '*.map' | wc -l)
[ "$maps" = 5 ] || { echo "sourcemap_overhead.sh: expected 5 maps, found $maps" >&2; exit 1; }
echo "source maps: with ${with[*]} ms, without ${without[*]} ms;" \
    "no precompression: with ${with_raw[*]} ms, without ${without_raw[*]} ms"
metric sourcemap_overhead "$(printf '%s\n' "${with[@]}" | median)" \
    "$(printf '%s\n' "${without[@]}" | median)" ms
metric sourcemap_overhead_noprecompress "$(printf '%s\n' "${with_raw[@]}" | median)" \
    "$(printf '%s\n' "${without_raw[@]}" | median)" ms
