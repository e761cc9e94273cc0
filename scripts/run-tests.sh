#!/usr/bin/env bash
# The test command of the README: installs dependencies, builds with ASan+UBSan and
# warnings as errors, then runs every tier (unit, integration, e2e) with CTest.
# Must run as root: the integration tiers start a private dbus-daemon and the real
# polkitd in a private mount namespace, and create two unprivileged test users.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VIRTSWARM_BUILD_DIR:-$top/build-tests}
[ "$(id -u)" = 0 ] || { echo "run-tests.sh must run as root" >&2; exit 1; }

"$top/scripts/install-deps.sh"
"$top/scripts/ensure-users.sh"
# Build the test guest up front so no test pays for it (it is cached).
"$top/tests/guest/build-guest.sh" >/dev/null

cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DVIRTSWARM_SANITIZERS=ON \
      -DVIRTSWARM_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)"

# Daemons are started by dbus-daemon and inherit its environment.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The libvirt RPC decoder faces untrusted clients: fuzz it briefly on every whole run
# (not when a subset of tests was asked for). Its chatter goes to a log; a finding fails.
if (($# == 0)); then
    fuzz_log="$build/fuzz.log"
    if "$top/bridge-libvirt/fuzz/run-fuzz.sh" "${VIRTSWARM_FUZZ_SECONDS:-30}" >"$fuzz_log" 2>&1; then
        echo "fuzzing the libvirt RPC decoder: $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$fuzz_log"), no finding"
    else
        tail -40 "$fuzz_log"
        echo "fuzzing the libvirt RPC decoder found a problem (see $fuzz_log)" >&2
        exit 1
    fi
fi

cd "$build"
ctest --output-on-failure --timeout 900 "$@"
