#!/usr/bin/env bash
# Builds every Palisade guest (the secrets plugin and the hostile guests) as a
# WebAssembly component, reproducibly, and copies them to DIR/<name>.wasm.
#
#   guests/build.sh [--out DIR]
#
#   --out DIR          where the .wasm files go (default: guests/dist)
#   CARGO_TARGET_DIR   cargo's build directory (default: guests/target)
#
# Works from any working directory. The output is byte-for-byte the same
# whatever the checkout path, target directory or CARGO_HOME, given the same
# rustc (see `rustc --version` in the output): absolute paths are remapped,
# debug info is off, and dependencies are taken from the committed Cargo.lock
# (`--locked`). Bundles pin the digests this prints (`sha256` in
# `palisade.toml`).
set -euo pipefail

usage() {
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

GUESTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_DIR="$(dirname "$GUESTS_DIR")"
OUT_DIR="$GUESTS_DIR/dist"

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

# Resolve paths against the caller's working directory before moving.
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd -P)"
TARGET_DIR="${CARGO_TARGET_DIR:-$GUESTS_DIR/target}"
mkdir -p "$TARGET_DIR"
TARGET_DIR="$(cd "$TARGET_DIR" && pwd -P)"
export CARGO_TARGET_DIR="$TARGET_DIR"
CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
if [[ -d "$CARGO_HOME_DIR" ]]; then
    CARGO_HOME_DIR="$(cd "$CARGO_HOME_DIR" && pwd -P)"
fi

TARGET=wasm32-wasip2
cd "$GUESTS_DIR"

SYSROOT="$(rustc --print sysroot)"
if [[ ! -d "$(rustc --print target-libdir --target "$TARGET")" ]]; then
    if command -v rustup >/dev/null 2>&1; then
        echo "build.sh: installing the $TARGET target" >&2
        rustup target add "$TARGET" >&2
    else
        echo "build.sh: the $TARGET target is not installed (rustup target add $TARGET)" >&2
        exit 1
    fi
fi

# Reproducibility: every absolute path that can reach the binary (panic
# locations, file!() in dependencies and generated code) is rewritten to a
# fixed prefix. rustc applies the last matching mapping, so the more specific
# directories come after the checkout they may sit in.
flags=(
    "--remap-path-prefix=$REPO_DIR=/palisade"
    "--remap-path-prefix=$GUESTS_DIR=/palisade/guests"
    "--remap-path-prefix=$TARGET_DIR=/palisade/guests/target"
    "--remap-path-prefix=$CARGO_HOME_DIR=/cargo"
    "--remap-path-prefix=$SYSROOT=/rustc"
    "-Cdebuginfo=0"
)
# CARGO_ENCODED_RUSTFLAGS (fields separated by 0x1f) survives spaces in paths
# and takes precedence over RUSTFLAGS and any `build.rustflags` in a cargo
# config on this machine, which would otherwise change the output.
CARGO_ENCODED_RUSTFLAGS="$(IFS=$'\x1f'; printf '%s' "${flags[*]}")"
export CARGO_ENCODED_RUSTFLAGS
unset RUSTFLAGS
export CARGO_INCREMENTAL=0
export SOURCE_DATE_EPOCH=0

echo "build.sh: $(rustc --version), target $TARGET, out $OUT_DIR" >&2
cargo build --release --locked --workspace --target "$TARGET"

# crate name (as cargo writes it) -> published file name
artifacts=(
    "palisade_secrets:secrets"
    "palisade_no_debug:no-debug"
    "hostile_loop:hostile-loop"
    "hostile_membomb:hostile-membomb"
    "hostile_trap:hostile-trap"
    "hostile_panic:hostile-panic"
    "hostile_badoutput:hostile-badoutput"
    "hostile_sockets:hostile-sockets"
    "hostile_snoop:hostile-snoop"
    "hostile_flood:hostile-flood"
    "hostile_bigrule:hostile-bigrule"
    "hostile_sleep:hostile-sleep"
)
built="$TARGET_DIR/$TARGET/release"
files=()
for entry in "${artifacts[@]}"; do
    crate="${entry%%:*}"
    name="${entry#*:}"
    cp "$built/$crate.wasm" "$OUT_DIR/$name.wasm"
    files+=("$name.wasm")
done

cd "$OUT_DIR"
sha256sum "${files[@]}" | tee SHA256SUMS
