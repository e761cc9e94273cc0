#!/bin/bash
# The monolithic side of the benchmark: Debian's libvirtd 9.0 with its QEMU driver,
# started by hand (these machines have no systemd).
#
#   bench/setup-libvirtd.sh install   apt-get install the packages (idempotent)
#   bench/setup-libvirtd.sh start     install, copy the guest, start virtlogd + libvirtd
#   bench/setup-libvirtd.sh stop      stop libvirtd and virtlogd (only if this script started them)
#   bench/setup-libvirtd.sh status
#
# What it changes on the host:
#   - installs libvirt-daemon-system, libvirt-daemon-driver-qemu, libvirt-clients and
#     python3-libvirt (--no-install-recommends; pulls libvirt-daemon-config-network, whose
#     "default" network is NOT autostarted here, so no bridge or firewall rules appear);
#   - copies the test guest (tests/guest/build-guest.sh) to /var/lib/libvirt/images/virtswarm-bench:
#     libvirtd runs QEMU as libvirt-qemu and, with dynamic_ownership, chowns kernel and
#     initrd to that user while a domain runs; the copy keeps the shared cache untouched;
#   - gives /dev/kvm the owner and mode Debian's udev rule gives it (root:kvm 0660; this
#     machine has no udev and leaves it root:root 0600). Without that, libvirtd finds that
#     KVM "was enabled when probing but is not available now" (libvirt-qemu cannot open
#     it) and re-probes QEMU's capabilities (~4 s) several times on EVERY define or start:
#     a define takes ~30 s instead of ~30 ms. Guests still run under TCG (type='qemu').
#     `stop` puts the original owner and mode back;
#   - runs `virtlogd -d` and `libvirtd -d` (pid files /run/virtlogd.pid, /run/libvirtd.pid)
#     with Debian's default configuration. /run/libvirt/vsbench-started records that this
#     script started them, so `stop` never kills a daemon somebody else runs.
set -euo pipefail

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
SRC=$(dirname "$HERE")
GUEST_CACHE=${VIRTSWARM_GUEST_DIR:-/var/cache/virtswarm/test-guest}
GUEST_COPY=/var/lib/libvirt/images/virtswarm-bench
MARK=/run/libvirt/vsbench-started
KVM_SAVE=/run/libvirt/vsbench-kvm-mode
URI=qemu:///system
PKGS=(libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients python3-libvirt)

log() { echo "setup-libvirtd: $*" >&2; }
die() { log "error: $*"; exit 1; }

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
pidfile_pid() { [[ -s $1 ]] && cat "$1" || true; }

install_pkgs() {
    local missing=() p
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2 || {
        apt-get update -q </dev/null >&2
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2
    }
}

copy_guest() {
    "$SRC/tests/guest/build-guest.sh" "$GUEST_CACHE" >/dev/null
    install -d -m 0755 "$GUEST_COPY"
    local f
    for f in vmlinuz initramfs.img; do
        if ! cmp -s "$GUEST_CACHE/$f" "$GUEST_COPY/$f"; then
            install -m 0644 "$GUEST_CACHE/$f" "$GUEST_COPY/$f"
        fi
    done
}

answers() { timeout 20 virsh -q -c "$URI" version >/dev/null 2>&1; }

start() {
    install_pkgs
    copy_guest
    # Before anything below writes its records there.
    install -d -m 0755 /run/libvirt
    if [[ -c /dev/kvm && ! -f $KVM_SAVE ]] && getent group kvm >/dev/null; then
        stat -c '%U:%G %a' /dev/kvm >"$KVM_SAVE"
        chown root:kvm /dev/kvm
        chmod 0660 /dev/kvm
    fi
    # No autostarted networks: the benchmark guests have no NIC.
    rm -f /etc/libvirt/qemu/networks/autostart/default.xml
    local started=""
    if ! pid_alive "$(pidfile_pid /run/virtlogd.pid)"; then
        virtlogd -d
        started+=" virtlogd"
    fi
    if ! pid_alive "$(pidfile_pid /run/libvirtd.pid)"; then
        libvirtd -d
        started+=" libvirtd"
    fi
    [[ -z $started ]] || echo "$started" >>"$MARK"
    local i
    for ((i = 0; i < 150; i++)); do
        answers && break
        sleep 0.2
    done
    answers || die "libvirtd does not answer on /run/libvirt/libvirt-sock"
    log "libvirtd $(pidfile_pid /run/libvirtd.pid) and virtlogd $(pidfile_pid /run/virtlogd.pid) answer at $URI${started:+ (started:$started)}"
}

stop_one() { # name pidfile
    local pid i
    pid=$(pidfile_pid "$2")
    pid_alive "$pid" || return 0
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    log "$1 ($pid) ignored SIGTERM for 10 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

stop() {
    if [[ ! -f $MARK ]]; then
        log "libvirtd/virtlogd were not started by this script; leaving them alone"
        return 0
    fi
    # Domains left by an interrupted benchmark would keep QEMUs running.
    if answers; then
        /usr/bin/python3 "$HERE/vsbench.py" cleanup --side libvirtd || true
    fi
    grep -qw libvirtd "$MARK" && stop_one libvirtd /run/libvirtd.pid
    grep -qw virtlogd "$MARK" && stop_one virtlogd /run/virtlogd.pid
    rm -f "$MARK"
    if [[ -f $KVM_SAVE ]]; then
        read -r owner mode <"$KVM_SAVE"
        chown "$owner" /dev/kvm && chmod "$mode" /dev/kvm
        rm -f "$KVM_SAVE"
    fi
    log "stopped"
}

status() {
    echo "libvirtd: $(pidfile_pid /run/libvirtd.pid) virtlogd: $(pidfile_pid /run/virtlogd.pid)"
    answers && virsh -q -c "$URI" version
}

((EUID == 0)) || die "must run as root"
case ${1:-start} in
    install) install_pkgs ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 install|start|stop|status" ;;
esac
