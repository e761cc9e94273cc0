#!/bin/bash
# Build the libFuzzer target of the libvirt RPC decoder with clang and run it briefly.
#   bridge-libvirt/fuzz/run-fuzz.sh [SECONDS]      (default 30)
# Environment: FUZZ_BUILD_DIR (default <repo>/build-fuzz), FUZZ_JOBS (make -j, default 2).
# Exit status: 0 when the run ends without a finding, non-zero otherwise (the crashing
# input is left in the build dir as crash-*).
set -euo pipefail

SECONDS_TO_RUN=${1:-30}
[[ $SECONDS_TO_RUN =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$REPO/build-fuzz}
JOBS=${FUZZ_JOBS:-2}

if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
    echo "run-fuzz: needs clang and libFuzzer (apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi

# Only the fuzz target and its dependencies are built, with clang. WERROR is off for the
# tree (the rest of it is only held to gcc's warnings); the fuzz target sets -Werror itself.
cmake -S "$REPO" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIRTSWARM_FUZZ=ON -DVIRTSWARM_WERROR=OFF \
    -DBUILD_TESTING=OFF >/dev/null
make -C "$BUILD" -j"$JOBS" virtswarm-fuzz-rpc >/dev/null

CORPUS=$BUILD/fuzz-corpus
mkdir -p "$CORPUS"
cp -n "$HERE"/corpus/* "$CORPUS"/ 2>/dev/null || true
cd "$BUILD"
exec ./bridge-libvirt/virtswarm-fuzz-rpc -max_total_time="$SECONDS_TO_RUN" -max_len=65536 \
    -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 "$CORPUS"
