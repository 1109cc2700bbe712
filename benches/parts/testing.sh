#!/usr/bin/env bash
# The test client against its peers, same app, same run (see benches/testing_roundtrips.rs):
# in-process round trips/s against axum-test (floor: a bare Router::oneshot), and real-HTTP
# round trips/s with keep-alive against reqwest with its cookie store, and WebSocket echo
# messages/s in-process against axum-test's WebSocket (over its HTTP transport). axum-test and reqwest
# are dev-dependencies, so cargo fetches them. Prints METRIC lines last.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench --no-default-features --features testing --bench testing_roundtrips 2>&1 >/tmp/squall-testing-bench.$$ | grep -v '^\s*\(Compiling\|Downloaded\|Downloading\|Finished\|Running\|Locking\|Adding\|Updating\)' >&2 || true
grep -v '^METRIC ' /tmp/squall-testing-bench.$$ || true
grep '^METRIC ' /tmp/squall-testing-bench.$$
rm -f /tmp/squall-testing-bench.$$
