#!/bin/bash
# Where a define goes on the virtswarm side: 1000 python-libvirt defineXML calls through
# virtswarm-proxyd, with syscall counts (strace -c) of the registry and the bridge, then
# the same loop under `perf record -g` of the registry. Diagnostics for docs/performance.md;
# not part of bench/run.sh.
#
#   bench/profile-define.sh [--no-fsync] [N]
#
# --no-fsync preloads libeatmydata (apt-get install eatmydata) into the whole private bus,
# so fsync is a no-op everywhere: what a define costs without durability.
# Output: /tmp/vsbench-profile/{strace-hypervisord,strace-proxyd}.txt, perf-hypervisord.data
# (read with: perf report -i /tmp/vsbench-profile/perf-hypervisord.data --no-children).
set -euo pipefail

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
SRC=$(dirname "$HERE")
OUTDIR=/tmp/vsbench-profile

if [[ ${1:-} == --inner ]]; then
    N=$2
    B=$VS_BUILD_DIR
    cd "$HERE"
    /usr/bin/python3 -c "import vsbench as v; v.Swarm().define(['vsbench-warm'])"
    HPID=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        GetConnectionUnixProcessID s org.virtswarm.Hypervisor1 | awk '{print $2}')
    mkdir -p "$VS_TEST_ROOT/p"
    "$B/bridge-libvirt/virtswarm-proxyd" --system --socket "$VS_TEST_ROOT/p/s" \
        --socket-ro "$VS_TEST_ROOT/p/ro" >"$VS_TEST_ROOT/p/log" 2>&1 &
    PX=$!
    for _ in $(seq 100); do [[ -S $VS_TEST_ROOT/p/s ]] && break; sleep 0.05; done
    loop() {
        /usr/bin/python3 - "$N" "$1" <<PY
import sys, time
import vsbench as v
n, what = int(sys.argv[1]), sys.argv[2]
lv = v.Libvirt("qemu+unix:///system?socket=$VS_TEST_ROOT/p/s")
t = time.monotonic()
for i in range(n):
    lv.conn.defineXML(v.domain_xml(f"vsbench-d{i:04d}", v.GUEST_CACHE))
print(f"{what}: define {n} through virtswarm-proxyd: {time.monotonic() - t:.3f} s")
t = time.monotonic()
for i in range(n):
    lv.conn.lookupByName(f"vsbench-d{i:04d}").undefine()
print(f"{what}: undefine {n}: {time.monotonic() - t:.3f} s")
PY
    }
    loop plain
    strace -c -f -p "$HPID" -o "$OUTDIR/strace-hypervisord.txt" 2>/dev/null &
    S1=$!
    strace -c -f -p "$PX" -o "$OUTDIR/strace-proxyd.txt" 2>/dev/null &
    S2=$!
    sleep 0.5
    loop strace
    kill -INT "$S1" "$S2"; wait "$S1" "$S2" 2>/dev/null || true
    if command -v perf >/dev/null; then
        perf record -F 2000 -g -o "$OUTDIR/perf-hypervisord.data" -p "$HPID" 2>/dev/null &
        PF=$!
        sleep 0.5
        loop perf
        kill -INT "$PF"; wait "$PF" 2>/dev/null || true
    fi
    kill "$PX"
    exit 0
fi

PRELOAD=""
if [[ ${1:-} == --no-fsync ]]; then
    PRELOAD=$(ls /usr/lib/*/libeatmydata.so 2>/dev/null | head -1)
    [[ -n $PRELOAD ]] || { echo "apt-get install eatmydata first" >&2; exit 1; }
    shift
fi
N=${1:-1000}
mkdir -p "$OUTDIR"
LD_PRELOAD=$PRELOAD VS_POLKITD_ARGS=--no-debug "$SRC/tests/harness/with-test-bus" \
    --build-dir "$HERE/build" -- "$0" --inner "$N"
echo "--- registry syscalls during $N defines + undefines (strace -c)"
head -15 "$OUTDIR/strace-hypervisord.txt"
echo "--- proxyd syscalls"
head -10 "$OUTDIR/strace-proxyd.txt"
[[ -f $OUTDIR/perf-hypervisord.data ]] &&
    perf report -i "$OUTDIR/perf-hypervisord.data" --no-children --sort dso,sym 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -15
