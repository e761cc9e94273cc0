#!/usr/bin/env bash
# Installs what building, running and testing virtswarm needs on Debian 12.
set -euo pipefail

packages=(
    # build
    build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
    libsdbus-c++-dev libsdbus-c++-bin libsystemd-dev libxml2-dev nlohmann-json3-dev
    libnl-3-dev libnl-route-3-dev libudev-dev
    libgtest-dev googletest
    # run
    dbus dbus-daemon dbus-bin systemd polkitd qemu-system-x86 dnsmasq-base nftables
    # libvirt's RelaxNG schemas (/usr/share/libvirt/schemas) for Define's validate option
    libvirt0
    # storage: images (qemu-img), fs pools (mkfs, mount), logical pools (LVM)
    qemu-utils e2fsprogs mount lvm2
    swtpm swtpm-tools
    # test: harness, guest, clients
    util-linux iproute2 procps pciutils busybox-static cpio xz-utils zstd libxml2-utils
    python3 python3-dbus python3-pytest python3-libvirt libvirt-clients virtinst
    # the Python tests and benchmarks are linted as the C++ is formatted
    python3-pyflakes
    # security tests: the SPICE handshake encrypts its ticket (RSA-OAEP)
    python3-cryptography
    # GUI tests: the clients on a private X display, and its screenshots
    virt-viewer virt-manager xvfb x11-apps xauth
    # ... and Cockpit's Machines page through libvirt-dbus, in headless Chromium
    cockpit-ws cockpit-bridge cockpit-machines libvirt-dbus chromium chromium-driver
    python3-selenium
    # (its Create VM dialog lists the operating systems libosinfo knows)
    python3-gi gir1.2-libosinfo-1.0 osinfo-db
    # UEFI guests: the OVMF firmware and its QEMU descriptors
    ovmf
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Packages pulled in for the tests (libvirt-dbus needs libvirt-daemon-system) must not
    # start their daemons here: invoke-rc.d asks policy-rc.d, which says no (101) while we
    # install, unless the machine already has a policy of its own.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
