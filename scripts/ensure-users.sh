#!/usr/bin/env bash
# Creates the system user QEMU runs as in system mode, where systemd-sysusers (which
# reads dbus-policy/sysusers/virtswarm.conf once installed) is not available.
set -euo pipefail
getent passwd virtswarm-qemu >/dev/null ||
    useradd --system --user-group --no-create-home --home-dir /var/lib/virtswarm/qemu \
            --shell /usr/sbin/nologin --comment "virtswarm QEMU" virtswarm-qemu
