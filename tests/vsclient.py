"""A small client of the virtswarm D-Bus API for the integration and e2e tests.

Calls go through python3-dbus on the bus named by DBUS_SYSTEM_BUS_ADDRESS (the
harness's private bus); errors surface as dbus.exceptions.DBusException whose
get_dbus_name() is the project's named error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid as uuidlib
from typing import Optional

import dbus

import vsharness as h

BUS_NAME = "org.virtswarm.Hypervisor1"
ROOT = "/org/virtswarm/Hypervisor1"
MANAGER = "org.virtswarm.Hypervisor1.Manager"
DOMAIN = "org.virtswarm.Hypervisor1.Domain"
PROPS = "org.freedesktop.DBus.Properties"
GUEST_DIR = os.environ.get("VIRTSWARM_GUEST_DIR", "/var/cache/virtswarm/test-guest")
HERE = os.path.dirname(os.path.abspath(__file__))

# Long enough for activation plus a TCG boot on a loaded 2-core machine.
TIMEOUT = 120


def bus() -> dbus.Bus:
    return h.system_bus()


def manager():
    return dbus.Interface(bus().get_object(BUS_NAME, ROOT), MANAGER)


def domain(path: str):
    return dbus.Interface(bus().get_object(BUS_NAME, path), DOMAIN)


def prop(path: str, name: str):
    return dbus.Interface(bus().get_object(BUS_NAME, path), PROPS).Get(DOMAIN, name)


def props(path: str) -> dict:
    return dict(dbus.Interface(bus().get_object(BUS_NAME, path), PROPS).GetAll(DOMAIN))


def state(path: str) -> tuple[str, str]:
    p = props(path)
    return str(p["State"]), str(p["StateReason"])


def error_name(call, *args, **kw) -> str:
    """Runs call; returns the D-Bus error name it failed with (fails the test if it didn't)."""
    try:
        call(*args, timeout=TIMEOUT, **kw)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()
    raise AssertionError(f"{call} succeeded but an error was expected")


def no_options():
    return dbus.Dictionary({}, signature="sv")


def guest_files() -> tuple[str, str]:
    """Builds (once, cached) and returns the test guest's kernel and initramfs."""
    subprocess.run([os.path.join(HERE, "guest", "build-guest.sh"), GUEST_DIR], check=True,
                   stdout=subprocess.DEVNULL)
    return f"{GUEST_DIR}/vmlinuz", f"{GUEST_DIR}/initramfs.img"


def domain_xml(name: str, uuid: Optional[str] = None, serial: Optional[str] = None,
               memory_mib: int = 128, extra_devices: str = "", marker: str = "",
               vcpus: int = 1, ticks: bool = False, disk: bool = False) -> str:
    kernel, initrd = guest_files()
    uuid_el = f"<uuid>{uuid}</uuid>" if uuid else ""
    serial_el = (f"<serial type='file'><source path='{serial}'/></serial>" if serial
                 else "<serial type='pty'/>")
    cmdline = ("console=ttyS0 panic=-1" + (f" virtswarm.marker={marker}" if marker else "") +
               (" virtswarm.ticks" if ticks else "") + (" virtswarm.disk" if disk else ""))
    return f"""<domain type='qemu'>
  <name>{name}</name>
  {uuid_el}
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    {serial_el}
    {extra_devices}
  </devices>
</domain>
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuidlib.uuid4().hex[:8]}"


def define(xml: str) -> str:
    return str(manager().DefineXML(xml, no_options(), timeout=TIMEOUT))


def list_domains() -> list[str]:
    return sorted(str(p) for p in manager().ListDomains(no_options(), timeout=TIMEOUT))


# What an operator needs to create lab-* domains as a user in virt-operators (the security
# tests): save and start (and stop, to clean up).
OPERATOR_CREATES_RULE = """polkit.addRule(function(action, subject) {
    if ((action.id == "org.virtswarm.domain.save" ||
         action.id == "org.virtswarm.domain.start" ||
         action.id == "org.virtswarm.domain.stop") &&
        action.lookup("domain_name").indexOf("lab-") == 0 &&
        subject.isInGroup("virt-operators")) {
        return polkit.Result.YES;
    }
});
"""


def registry_pid() -> int:
    return int(h.bus_daemon().GetConnectionUnixProcessID(BUS_NAME))


def shim_pid(path: str) -> Optional[int]:
    """The pid of the shim that owns a running domain's bus name, or None."""
    try:
        return int(h.bus_daemon().GetConnectionUnixProcessID(
            "org.virtswarm.Shim1.d" + path.rsplit("_", 1)[1]))
    except dbus.exceptions.DBusException:
        return None


def kill_shim(path: str, timeout: float = TIMEOUT) -> int:
    """kill -9 of a running domain's shim; returns the pid of the shim that replaced it,
    once it owns the domain's bus name (it may not have attached to QEMU yet)."""
    old = shim_pid(path)
    assert old is not None, f"no shim runs for {path}"
    os.kill(old, signal.SIGKILL)

    def replaced():
        pid = shim_pid(path)
        return pid if pid not in (None, old) else None
    return h.wait_until(replaced, timeout, 0.02, "a new shim on the bus")


def runtime_dir(path: str) -> str:
    """The runtime directory the registry and the shim share for a domain."""
    return os.path.join(h.env("VIRTSWARM_RUNTIME_DIR"), "hypervisor", "domains",
                        path.rsplit("_", 1)[1])


def qemu_pid(path: str) -> int:
    with open(os.path.join(runtime_dir(path), "qemu.pid")) as f:
        return int(f.read())


def config_dir() -> str:
    return os.path.join(h.env("VIRTSWARM_CONFIG_DIR"), "hypervisor")


def wait_state(path: str, want: str, timeout: float = TIMEOUT) -> tuple[str, str]:
    return h.wait_until(lambda: state(path) if state(path)[0] == want else None, timeout,
                        0.05, f"domain {path} to reach {want}")


def wait_file_contains(path: str, text: str, timeout: float = TIMEOUT) -> None:
    def found():
        try:
            with open(path, errors="replace") as f:
                return text in f.read()
        except FileNotFoundError:
            return False
    h.wait_until(found, timeout, 0.05, f"'{text}' in {path}")


def cleanup_all() -> None:
    """Destroys and undefines every domain, so tests do not leak VMs into each other."""
    try:
        paths = list_domains()
    except dbus.exceptions.DBusException:
        return
    for p in paths:
        try:
            if state(p)[0] != "shutoff":
                domain(p).Destroy(no_options(), timeout=TIMEOUT)
            if bool(prop(p, "Persistent")):
                # A UEFI guest's NVRAM file goes with it (libvirt's --nvram).
                domain(p).Undefine(dbus.Dictionary({"nvram": True}, signature="sv"),
                                   timeout=TIMEOUT)
        except dbus.exceptions.DBusException:
            pass


def call_as(user: str, path: str, method: str, *args) -> subprocess.CompletedProcess:
    """Calls a method as another user; stderr carries the D-Bus error name."""
    return h.run_as(user, ["/usr/bin/python3", os.path.join(HERE, "dbus_call.py"), path, method,
                           *[repr(a) for a in args]])


class SignalRecorder:
    """Records signals from the registry with dbus-monitor while the test runs."""

    def __init__(self, match: str = f"type='signal',sender='{BUS_NAME}'"):
        self.proc = subprocess.Popen(["stdbuf", "-oL", "dbus-monitor", "--system", match],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.data = b""
        # dbus-monitor announces itself with NameLost once it is listening.
        h.wait_until(lambda: "NameLost" in self.text(), 10, 0.05, "dbus-monitor to start")

    def text(self) -> str:
        # Raw non-blocking reads: a buffered reader would hide data from select().
        while True:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.data += chunk
        return self.data.decode(errors="replace")

    def wait_for(self, *needles: str, timeout: float = TIMEOUT) -> None:
        h.wait_until(lambda: all(n in self.text() for n in needles), timeout, 0.05,
                     f"signals containing {needles}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
