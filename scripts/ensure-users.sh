#!/usr/bin/env bash
# Creates the system user QEMU runs as in system mode, where systemd-sysusers (which
# reads dbus-policy/sysusers/virtswarm.conf once installed) is not available.
# Also the group "virt-operators" that the example polkit rule
# (polkit/rules-example/50-virtswarm-operators.rules) grants to, with the test user
# vstest in it when that user exists (the security tests replay attacks as an operator).
set -euo pipefail
getent passwd virtswarm-qemu >/dev/null ||
    useradd --system --user-group --no-create-home --home-dir /var/lib/virtswarm/qemu \
            --shell /usr/sbin/nologin --comment "virtswarm QEMU" virtswarm-qemu
# As Debian's libvirt-qemu: KVM for the guests where udev gives /dev/kvm to group kvm.
if getent group kvm >/dev/null && ! id -nG virtswarm-qemu | tr ' ' '\n' | grep -qx kvm; then
    usermod -a -G kvm virtswarm-qemu
fi
# Several harnesses may race here: a failing groupadd is fine if the group now exists.
getent group virt-operators >/dev/null || groupadd --system virt-operators 2>/dev/null ||
    getent group virt-operators >/dev/null
if getent passwd vstest >/dev/null && ! id -nG vstest | tr ' ' '\n' | grep -qx virt-operators; then
    usermod -a -G virt-operators vstest
fi
