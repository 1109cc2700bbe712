#!/usr/bin/env bash
# Runs squall and a peer on the same input in the same run and prints one line per metric:
#   METRIC <name> squall=<value> peer=<value> ratio=<squall/peer> unit=<unit>
# Usage: benches/compare.sh <part>   (part: mail, redis, assets, testing, mail-templates)
set -euo pipefail
cd "$(dirname "$0")/.."
part=${1:-}
script="benches/parts/$part.sh"
if [ -z "$part" ] || [ ! -f "$script" ]; then
    echo "usage: benches/compare.sh <part>; parts here: $(ls benches/parts | sed 's/\.sh$//' | tr '\n' ' ')" >&2
    exit 2
fi
exec bash "$script"
