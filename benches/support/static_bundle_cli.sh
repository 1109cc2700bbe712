#!/usr/bin/env bash
# The whole `static-bundle` process against the CLIs a team would script instead, same
# input, same run (called by benches/parts/assets.sh; prints METRIC lines):
#   static_bundle_cli_ms       cold run on a site with jQuery, lodash, d3 and Bootstrap
#                              bundles, vs `esbuild --minify` + `gzip -9` + `brotli -q 11`
#                              run one after the other on the same files
#   static_bundle_br_bytes     the .br files of those two runs
#   static_bundle_br_vs_cli_bytes  squall's .br files vs `brotli -q 11` on squall's own
#                              bundles (what squall's brotli settings cost)
#   static_bundle_nochange_ms  a second run with nothing changed, vs the cold run
#   big_js_bundle_ms           a generated 50 MB script, whole process with .gz/.br, vs
#                              `esbuild --minify`
#   big_js_bundle_rss          peak RSS of those two (kB)
# Usage: static_bundle_cli.sh <static-bundle binary> <node_modules dir> <work dir>
set -euo pipefail
bin=$(realpath "$1")
modules=$(realpath "$2")
work=$3
esbuild="$modules/.bin/esbuild"
runs=${SQUALL_BENCH_RUNS:-5}

metric() {
    awk -v n="$1" -v s="$2" -v p="$3" -v u="$4" \
        'BEGIN { printf "METRIC %s squall=%.3f peer=%.3f ratio=%.3f unit=%s\n", n, s, p, s / p, u }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) * 1000 }'; }
sum_sizes() { if [ "$#" -gt 0 ]; then stat -c %s "$@" | awk '{ s += $1 } END { print s }'; else echo 0; fi; }

# The site: one bundle per library, as a template uses them.
site="$work/site"
mkdir -p "$site/static/js" "$site/static/css" "$site/templates"
cp "$modules/jquery/dist/jquery.js" "$modules/lodash/lodash.js" "$modules/d3/dist/d3.js" "$site/static/js/"
cp "$modules/bootstrap/dist/css/bootstrap.css" "$site/static/css/"
cat >"$site/templates/base.html" <<'EOF'
{{ static("css/bootstrap.css") }}
{{ static("js/jquery.js") }}
{{ static("js/lodash.js") }}
{{ static("js/d3.js") }}
EOF
sources=(static/js/jquery.js static/js/lodash.js static/js/d3.js static/css/bootstrap.css)

squall_cold() {
    rm -rf "$site/static/combined"
    local start=$EPOCHREALTIME
    (cd "$site" && "$bin" >/dev/null 2>&1)
    elapsed_ms "$start" "$EPOCHREALTIME"
}
squall_again() {
    local start=$EPOCHREALTIME
    (cd "$site" && "$bin" >/dev/null 2>&1)
    elapsed_ms "$start" "$EPOCHREALTIME"
}
peer_pipeline() {
    rm -rf "$site/peer"
    local start=$EPOCHREALTIME
    (
        cd "$site"
        "$esbuild" "${sources[@]}" --minify --outdir=peer --log-level=error
        outputs=(peer/js/jquery.js peer/js/lodash.js peer/js/d3.js peer/css/bootstrap.css)
        gzip -9 -k "${outputs[@]}"
        brotli -q 11 -k "${outputs[@]}"
    )
    elapsed_ms "$start" "$EPOCHREALTIME"
}

cold=() peer=() again=()
for _ in $(seq "$runs"); do
    cold+=("$(squall_cold)")
    peer+=("$(peer_pipeline)")
done
for _ in $(seq $((runs * 2 + 1))); do
    again+=("$(squall_again)")
done
# Every run said it built the same 4 bundles, the last ones from the previous run.
(cd "$site" && "$bin" --json 2>/dev/null) | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert len(report["bundles"]) == 4 and len(report["unchanged"]) == 4, report
'
cold_ms=$(printf '%s\n' "${cold[@]}" | median)
peer_ms=$(printf '%s\n' "${peer[@]}" | median)
again_ms=$(printf '%s\n' "${again[@]}" | median)
squall_br=$(sum_sizes "$site"/static/combined/*.br)
peer_br=$(sum_sizes "$site"/peer/*/*.br)
cli_br=0
for bundle in "$site"/static/combined/*.js "$site"/static/combined/*.css; do
    cli_br=$((cli_br + $(brotli -q 11 -c "$bundle" | wc -c)))
done
echo "static-bundle: cold ${cold[*]} ms; peer pipeline ${peer[*]} ms; nothing changed ${again[*]} ms"

# A 50 MB generated script (many small modules), whole process against esbuild.
big="$work/big"
mkdir -p "$big/static/js" "$big/templates"
echo '{{ static("js/big.js") }}' >"$big/templates/base.html"
python3 - "$big/static/js/big.js" <<'EOF'
import sys
target = 50 * 1024 * 1024
size = i = 0
with open(sys.argv[1], "w") as out:
    while size < target:
        chunk = f'''var module{i} = (function (exports) {{
  var counterName{i} = {i};
  function computeValue{i}(firstArgument, secondArgument) {{
    var accumulated = firstArgument * {i % 97} + secondArgument;
    for (var index = 0; index < firstArgument; index++) {{
      if (index % {i % 13 + 2} === 0) {{
        accumulated += index * {i % 31};
      }} else {{
        accumulated -= ("label-{i}-" + index) === "x" ? 1 : 0;
      }}
    }}
    return accumulated;
  }}
  exports.compute = computeValue{i};
  exports.describe = function describe(options) {{
    return {{ name: "module {i}", value: computeValue{i}(options.size || {i % 7}, counterName{i}) }};
  }};
  return exports;
}})({{}});
'''
        out.write(chunk)
        size += len(chunk)
        i += 1
EOF
big_runs=${SQUALL_BENCH_BIG_RUNS:-3}
squall_big=() esbuild_big=() squall_rss=() esbuild_rss=()
for _ in $(seq "$big_runs"); do
    rm -rf "$big/static/combined"
    (cd "$big" && /usr/bin/time -f '%e %M' -o "$work/time" "$bin" >/dev/null 2>&1)
    read -r secs kb <"$work/time"
    squall_big+=("$(awk -v s="$secs" 'BEGIN { print s * 1000 }')") squall_rss+=("$kb")
    /usr/bin/time -f '%e %M' -o "$work/time" "$esbuild" "$big/static/js/big.js" --minify \
        --outfile="$big/esbuild.js" --log-level=error
    read -r secs kb <"$work/time"
    esbuild_big+=("$(awk -v s="$secs" 'BEGIN { print s * 1000 }')") esbuild_rss+=("$kb")
done
echo "big script: squall ${squall_big[*]} ms, ${squall_rss[*]} kB; esbuild ${esbuild_big[*]} ms, ${esbuild_rss[*]} kB"

metric static_bundle_cli_ms "$cold_ms" "$peer_ms" ms
metric static_bundle_br_bytes "$squall_br" "$peer_br" bytes
metric static_bundle_br_vs_cli_bytes "$squall_br" "$cli_br" bytes
metric static_bundle_nochange_ms "$again_ms" "$cold_ms" ms
metric big_js_bundle_ms "$(printf '%s\n' "${squall_big[@]}" | median)" \
    "$(printf '%s\n' "${esbuild_big[@]}" | median)" ms
metric big_js_bundle_rss "$(printf '%s\n' "${squall_rss[@]}" | median)" \
    "$(printf '%s\n' "${esbuild_rss[@]}" | median)" kB
