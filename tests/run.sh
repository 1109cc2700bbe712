#!/usr/bin/env bash
# Runs every test of squall. Installs the test peers that are missing first:
# aiosmtpd, tornado and dkimpy (into a virtualenv under target/, from PyPI), redis-server,
# chromium and chromium-driver (from Debian's packages, when run as root), and the
# JavaScript and CSS libraries the asset tests bundle (into target/npm, from npm).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/py
# dkimpy (with PyNaCl for ed25519) verifies the DKIM tests' signatures; cryptography
# makes their keys.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import aiosmtpd, tornado, dkim, nacl, cryptography' 2>/dev/null; then
    echo "tests/run.sh: installing aiosmtpd, tornado, dkimpy, pynacl and cryptography into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check aiosmtpd tornado dkimpy pynacl cryptography
fi
export SQUALL_TEST_PYTHON="$PWD/$venv/bin/python"

# Debian packages: redis-server for the queue tests, chromium and its driver for the
# browser test of the example site.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "tests/run.sh: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "tests/run.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

bash tests/assets_npm.sh

cargo test --all-features --locked "$@"
