#!/usr/bin/env bash
# Builds the JavaScript `no-debug` plugin (src/plugin.js, src/lib.js) into the
# WebAssembly component DIR/no-debug-js.wasm for the `plugin` world of
# wit/policy.wit.
#
#   guests/js/no-debug/build.sh [--out DIR]
#
#   --out DIR   where no-debug-js.wasm goes (default: this directory)
#
# Works from any working directory and on a fresh machine: the exact
# packages of package-lock.json (ComponentizeJS 0.23.0, jco 1.35.0) are
# installed with `npm ci` into node_modules/ here, again whenever the lock
# file changes. (@bytecodealliance/preview2-shim is a direct dependency
# because ComponentizeJS 0.23.0 imports it without declaring it; test/
# compare.mjs uses it too.) build.mjs then calls ComponentizeJS's JavaScript API (the
# `jco componentize` CLI fails with a preopen error, os error 44) with every
# WASI feature of the engine disabled: the component imports nothing but the
# world's own palisade:policy interfaces.
set -euo pipefail

usage() {
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
OUT_DIR="$HERE"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --out)
            [[ $# -ge 2 ]] || { echo "build.sh: --out needs a directory" >&2; exit 2; }
            OUT_DIR="$2"
            shift 2
            ;;
        --out=*)
            OUT_DIR="${1#--out=}"
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "build.sh: unknown argument '$1'" >&2
            usage >&2
            exit 2
            ;;
    esac
done

mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd -P)"

cd "$HERE"
STAMP=node_modules/.palisade-package-lock.json
if ! cmp -s package-lock.json "$STAMP" 2>/dev/null; then
    echo "build.sh: npm ci (node $(node --version), npm $(npm --version))" >&2
    npm ci --no-audit --no-fund >&2
    cp package-lock.json "$STAMP"
fi

node build.mjs --out "$OUT_DIR"
