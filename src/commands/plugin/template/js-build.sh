#!/usr/bin/env bash
# Builds src/plugin.js into the WebAssembly component dist/{{file}}.wasm.
#
#   ./build.sh
#
# Installs the exact packages of package-lock.json (ComponentizeJS) with
# `npm ci` when they are missing or the lock file changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
STAMP=node_modules/.palisade-package-lock.json
if ! cmp -s package-lock.json "$STAMP" 2>/dev/null; then
    npm ci --no-audit --no-fund >&2
    cp package-lock.json "$STAMP"
fi
node build.mjs
