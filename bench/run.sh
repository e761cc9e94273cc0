#!/bin/bash
# virtswarm vs the monolithic libvirtd, on this machine, in one run.
#
#   bench/run.sh [--parts abcdefg] [--reps-a N] [--bound S] [--no-build] [--keep-libvirtd]
#
#   (a) 20 guests started concurrently until all report running (N repetitions, sides alternate)
#   (b) one QEMU frozen (SIGSTOP) among 4 running domains: latency of calls on healthy
#       domains, an all-domains stats call, a call on the frozen domain
#   (c) PSS/USS of the management processes with 20 domains running
#   (d) 1000 defined domains: define loop, virsh list --all, virsh dominfo, GetManagedObjects
#   (e) scale to 10,000 defined domains: daemon CPU per define at 100/1,000/10,000 defined,
#       GetManagedObjects, virsh list --all, RSS, registry start-up
#   (f) storage: vol-clone of a 1 GiB raw and qcow2 volume, pool-refresh of 1,000 volumes,
#       latency of other storage calls while a clone runs (virtswarm: storaged via proxyd)
#   (g) network filters: clean-traffic bound to 200 TAPs and unbound, firewall rules counted
#       (libvirtd: ebtables/iptables on the host; virtswarm: nftables in a private netns)
#
# libvirtd: bench/setup-libvirtd.sh (Debian's libvirt 9.0, started by hand, stopped at the
# end unless --keep-libvirtd). virtswarm: a Release build in bench/build, run on a private
# system bus by tests/harness/with-test-bus (registry activated from that build tree).
# Output: a table on stdout, bench/results/<date>.md and the raw records <date>.jsonl.
# Must run as root. Nothing here asserts timings.
set -euo pipefail

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
SRC=$(dirname "$HERE")
BUILD=$HERE/build
PY=/usr/bin/python3   # the system python: python3-dbus, python3-gi, python3-libvirt
PARTS=abcdefg
REPS_A=3
BOUND=100
BUILD_IT=1
BUILD_NOTE=""
KEEP_LIBVIRTD=0

while (($#)); do
    case $1 in
        --parts) PARTS=$2; shift 2 ;;
        --reps-a) REPS_A=$2; shift 2 ;;
        --bound) BOUND=$2; shift 2 ;;
        --no-build) BUILD_IT=0; shift ;;
        --keep-libvirtd) KEEP_LIBVIRTD=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
((EUID == 0)) || { echo "run.sh: must run as root" >&2; exit 1; }

log() { echo "[run.sh $(date +%H:%M:%S)] $*" >&2; }

# ------------------------------------------------------------------ setup
"$HERE/setup-libvirtd.sh" start
stop_libvirtd() {
    "$PY" "$HERE/vsbench.py" cleanup --side libvirtd >/dev/null 2>&1 || true
    if ((KEEP_LIBVIRTD == 0)); then "$HERE/setup-libvirtd.sh" stop || true; fi
}
trap stop_libvirtd EXIT

if ((BUILD_IT)); then
    log "building virtswarm (Release) in $BUILD"
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
        -DVIRTSWARM_WERROR=OFF >"$BUILD.cmake.log" 2>&1 || { tail -20 "$BUILD.cmake.log"; exit 1; }
    # Others edit the tree concurrently: a tree that does not build right now still
    # leaves the last good binaries, which is what gets measured then (said in the report).
    if ! make -C "$BUILD" -j2 >"$BUILD.make.log" 2>&1; then
        tail -30 "$BUILD.make.log" >&2
        [[ -x $BUILD/services/hypervisord/virtswarm-hypervisord && -x $BUILD/shim/virtswarm-shim ]] || exit 1
        log "WARNING: build failed, measuring the previous build"
        BUILD_NOTE="the build of the current tree FAILED; binaries of the previous build were measured"
    fi
fi
# The guest both sides boot (cached; the libvirtd copy is made by setup-libvirtd.sh).
"$SRC/tests/guest/build-guest.sh" >/dev/null

mkdir -p "$HERE/results"
STAMP=$(date +%Y-%m-%d-%H%M)
OUT=$HERE/results/$STAMP.jsonl
MD=$HERE/results/$STAMP.md
: >"$OUT"

lv() { "$PY" "$HERE/vsbench.py" "$@" --side libvirtd --out "$OUT"; }
# VS_NETNS=--netns: in a private network namespace (part g: its firewall work stays out
# of the host's).
vs() {
    VS_POLKITD_ARGS=--no-debug "$SRC/tests/harness/with-test-bus" ${VS_NETNS:-} --build-dir "$BUILD" -- \
        "$PY" "$HERE/vsbench.py" "$@" --side virtswarm --out "$OUT"
}
load() { "$PY" "$HERE/vsbench.py" load --part "$1" --out "$OUT" >/dev/null; }

# ------------------------------------------------------------------ parts
# Sides alternate; the first side alternates too, so neither always runs on a
# machine the other just loaded.
if [[ $PARTS == *a* ]]; then
    for ((i = 1; i <= REPS_A; i++)); do
        load a
        if ((i % 2)); then
            lv start20 || log "libvirtd (a) rep $i failed"
            vs start20 || log "virtswarm (a) rep $i failed"
        else
            vs start20 || log "virtswarm (a) rep $i failed"
            lv start20 || log "libvirtd (a) rep $i failed"
        fi
    done
fi
if [[ $PARTS == *b* ]]; then
    load b
    vs stuck --bound "$BOUND" || log "virtswarm (b) failed"
    load b
    lv stuck --bound "$BOUND" || log "libvirtd (b) failed"
fi
if [[ $PARTS == *c* ]]; then
    load c
    lv start20 --memory-only || log "libvirtd (c) failed"
    vs start20 --memory-only || log "virtswarm (c) failed"
fi
if [[ $PARTS == *d* ]]; then
    load d
    lv many || log "libvirtd (d) failed"
    load d
    vs many || log "virtswarm (d) failed"
fi
if [[ $PARTS == *e* ]]; then
    load e
    lv scale || log "libvirtd (e) failed"
    load e
    vs scale || log "virtswarm (e) failed"
fi
if [[ $PARTS == *f* ]]; then
    load f
    vs storage || log "virtswarm (f) failed"
    load f
    lv storage || log "libvirtd (f) failed"
fi
if [[ $PARTS == *g* ]]; then
    load g
    VS_NETNS=--netns vs nwfilter || log "virtswarm (g) failed"
    load g
    lv nwfilter || log "libvirtd (g) failed"
fi

# ------------------------------------------------------------------ report
HEADER=$(mktemp)
{
    echo "# virtswarm vs libvirtd — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Command: \`bench/run.sh --parts $PARTS --reps-a $REPS_A --bound $BOUND\`"
    # Read-only git queries (no index refresh): the lead commits, not this script.
    rev=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$SRC" --no-optional-locks diff --quiet HEAD 2>/dev/null || rev+=" + uncommitted changes"
    echo "virtswarm: $rev (Release, $BUILD)${BUILD_NOTE:+ — $BUILD_NOTE}"
    echo "libvirtd: $(libvirtd --version 2>/dev/null), $(qemu-system-x86_64 --version | head -1)"
    echo "Machine: nproc $(nproc); kernel $(uname -r); memory $(free -h | awk '/^Mem:/ {print $2 " total, " $7 " available"}')"
    echo
    echo "Medians (min–max, n). Ratio = virtswarm / libvirtd of the medians."
    echo
} >"$HEADER"
"$PY" "$HERE/report.py" "$OUT" --header "$HEADER" >"$MD"
rm -f "$HEADER"
cat "$MD"
log "wrote $MD and $OUT"
