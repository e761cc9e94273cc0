#!/usr/bin/env bash
# The main job of the README: builds and installs virtswarm system-wide (prefix /usr),
# makes sure the system bus and polkit are there, then defines and boots a demo VM
# through D-Bus. The registry is started by D-Bus activation, not by this script.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VIRTSWARM_BUILD_DIR:-$top/build-demo}
[ "$(id -u)" = 0 ] || { echo "demo.sh must run as root (it installs system services)" >&2; exit 1; }

"$top/scripts/install-deps.sh"
"$top/scripts/ensure-users.sh"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
      -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
cmake --install "$build" >/dev/null
echo "installed virtswarm into /usr"

# A host without systemd may have no system bus yet; start one. A running bus is told
# to re-read its policy so it sees ours.
if ! busctl --system status >/dev/null 2>&1; then
    mkdir -p /run/dbus
    rm -f /run/dbus/pid
    dbus-daemon --system --fork
    echo "started the system bus"
else
    busctl --system call org.freedesktop.DBus / org.freedesktop.DBus ReloadConfig >/dev/null
fi

guest_dir=/var/lib/virtswarm/demo-guest
"$top/tests/guest/build-guest.sh" "$guest_dir" >/dev/null
serial=/var/log/virtswarm/virtswarm-demo.serial
mkdir -p /var/log/virtswarm

xml="<domain type='qemu'>
  <name>virtswarm-demo</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$guest_dir/vmlinuz</kernel>
    <initrd>$guest_dir/initramfs.img</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <serial type='file'><source path='$serial'/></serial>
    <interface type='user'><model type='virtio'/></interface>
  </devices>
</domain>"

bus=org.virtswarm.Hypervisor1
root=/org/virtswarm/Hypervisor1
# The first call activates the registry. A second run finds the demo VM from the first.
path=$(busctl --system call $bus $root $bus.Manager LookupByName s virtswarm-demo 2>/dev/null |
       awk '{print $2}' | tr -d '"') || true
if [ -z "$path" ]; then
    path=$(busctl --system call $bus $root $bus.Manager DefineXML 'sa{sv}' "$xml" 0 |
           awk '{print $2}' | tr -d '"')
fi
state=$(busctl --system get-property $bus "$path" $bus.Domain State | awk '{print $2}' | tr -d '"')
if [ "$state" != running ]; then
    rm -f "$serial"
    busctl --system call $bus "$path" $bus.Domain Start 'a{sv}' 0
fi
for _ in $(seq 1 300); do
    grep -q VIRTSWARM-GUEST-READY "$serial" 2>/dev/null && break
    sleep 0.1
done

# The libvirt bridge, so virsh and friends see the same VM. Started by hand here (no
# systemd); on a systemd host: systemctl enable --now virtswarm-proxyd.socket.
sock=/run/virtswarm/libvirt-sock
if ! virsh -c "qemu+unix:///system?socket=$sock" version >/dev/null 2>&1; then
    setsid /usr/sbin/virtswarm-proxyd </dev/null >>/var/log/virtswarm/proxyd.log 2>&1 &
    for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
fi

cat <<TXT

The demo VM 'virtswarm-demo' is $(busctl --system get-property $bus "$path" $bus.Domain State |
    awk '{print $2}' | tr -d '"')
(its serial console is logged to $serial).

Look at it over D-Bus:
  busctl --system tree $bus
  busctl --system introspect $bus $path
  busctl --system get-property $bus $path $bus.Domain State
  busctl --system call $bus $path $bus.Domain GetXML 'a{sv}' 0
Or with virsh, through the libvirt bridge:
  virsh -c 'qemu+unix:///system?socket=$sock' list --all
  virsh -c 'qemu+unix:///system?socket=$sock' dominfo virtswarm-demo
Shut it down (ACPI) and remove it:
  busctl --system call $bus $path $bus.Domain Shutdown 'a{sv}' 0
  busctl --system call $bus $path $bus.Domain Undefine 'a{sv}' 0
TXT
