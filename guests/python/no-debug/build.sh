#!/usr/bin/env bash
# Builds the Python `no-debug` plugin (app.py) into the WebAssembly component
# DIR/no-debug-py.wasm for the `plugin` world of wit/policy.wit.
#
#   guests/python/no-debug/build.sh [--out DIR]
#
#   --out DIR            where no-debug-py.wasm goes (default: this directory)
#   PALISADE_CACHE_DIR   where the componentize-py venv is kept
#                        (default: ${XDG_CACHE_HOME:-~/.cache}/palisade)
#   PYTHON               the Python that makes the venv (default: python3)
#
# Works from any working directory and on a fresh machine: componentize-py
# 0.25.1 is installed from PyPI with pip into a venv under the cache
# directory the first time (and again if that venv is broken). The
# component is built with --stub-wasi: it imports nothing but the world's
# own palisade:policy interfaces.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_DIR="$(cd "$HERE/../../.." && pwd -P)"
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

CACHE_DIR="${PALISADE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/palisade}"
VENV="$CACHE_DIR/componentize-py-$COMPONENTIZE_PY_VERSION"
TOOL="$VENV/bin/componentize-py"
if ! "$TOOL" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
    echo "build.sh: installing componentize-py $COMPONENTIZE_PY_VERSION into $VENV" >&2
    rm -rf "$VENV"
    mkdir -p "$CACHE_DIR"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

# componentize-py imports the app from its Python path while it
# pre-initializes the component: give it a directory holding app.py alone
# (not this one, with build output, __pycache__ and whatever else lies
# around), and unset VIRTUAL_ENV so that an active venv's site-packages is
# not added to that path.
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp "$HERE/app.py" "$STAGE/app.py"

echo "build.sh: $("$TOOL" --version), out $OUT_DIR" >&2
cd "$STAGE"
env -u VIRTUAL_ENV "$TOOL" \
    --wit-path "$REPO_DIR/wit" --world plugin \
    componentize --stub-wasi --python-path "$STAGE" \
    --output "$OUT_DIR/no-debug-py.wasm" app
ls -l "$OUT_DIR/no-debug-py.wasm" >&2
