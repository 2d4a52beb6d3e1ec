#!/usr/bin/env bash
# Builds app.py into the WebAssembly component dist/{{file}}.wasm.
#
#   ./build.sh
#
# The first run installs componentize-py {{componentize_py}} from PyPI into a
# venv under ${PALISADE_CACHE_DIR:-~/.cache/palisade}. The component imports
# nothing but the contract's palisade:policy interfaces (--stub-wasi).
set -euo pipefail
VERSION={{componentize_py}}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
CACHE_DIR="${PALISADE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/palisade}"
VENV="$CACHE_DIR/componentize-py-$VERSION"
TOOL="$VENV/bin/componentize-py"
if ! "$TOOL" --version 2>/dev/null | grep -qx "componentize-py $VERSION"; then
    echo "build.sh: installing componentize-py $VERSION into $VENV" >&2
    rm -rf "$VENV"
    mkdir -p "$CACHE_DIR"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "componentize-py==$VERSION"
fi
# componentize-py imports the app while it pre-initializes the component:
# give it a directory with app.py alone.
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp "$HERE/app.py" "$STAGE/app.py"
mkdir -p "$HERE/dist"
cd "$STAGE"
env -u VIRTUAL_ENV "$TOOL" --wit-path "$HERE/wit" --world plugin \
    componentize --stub-wasi --python-path "$STAGE" --output "$HERE/dist/{{file}}.wasm" app
echo "build.sh: dist/{{file}}.wasm" >&2
