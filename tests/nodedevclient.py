"""Helpers for tests of virtswarm-nodedevd (org.virtswarm.NodeDevice1)."""

import os
import re
import signal
import subprocess
import sys
from contextlib import contextmanager
import xml.etree.ElementTree as ET
from typing import Optional

import dbus

import vsharness as h

BUS_NAME = "org.virtswarm.NodeDevice1"
ROOT = "/org/virtswarm/NodeDevice1"
MANAGER = "org.virtswarm.NodeDevice1.Manager"
DEVICE = "org.virtswarm.NodeDevice1.Device"
PROPS = "org.freedesktop.DBus.Properties"
HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 60


def opts(**kw) -> dbus.Dictionary:
    return dbus.Dictionary(kw, signature="sv")


class Client:
    """Calls one nodedevd: the well-known name (D-Bus activation), or the unique name of
    a nodedevd the test started itself (so a call never activates another one)."""

    def __init__(self, dest: str = BUS_NAME):
        self.dest = dest
        self.bus = h.system_bus()

    def manager(self) -> dbus.Interface:
        return dbus.Interface(self.bus.get_object(self.dest, ROOT), MANAGER)

    def device(self, name_or_path: str) -> dbus.Interface:
        return dbus.Interface(self.bus.get_object(self.dest, self.path(name_or_path)), DEVICE)

    @staticmethod
    def path(name_or_path: str) -> str:
        return name_or_path if name_or_path.startswith("/") else f"{ROOT}/device/{name_or_path}"

    def props(self, name_or_path: str) -> dict:
        obj = self.bus.get_object(self.dest, self.path(name_or_path))
        return dbus.Interface(obj, PROPS).GetAll(DEVICE)

    def names(self, capability: str = "") -> list[str]:
        paths = self.manager().ListDevices(opts(capability=capability) if capability else opts())
        return [str(p).rsplit("/", 1)[1] for p in paths]

    def xml(self, name: str) -> ET.Element:
        return ET.fromstring(str(self.device(name).GetXML(opts(), timeout=TIMEOUT)))

    def live_updates(self) -> bool:
        obj = self.bus.get_object(self.dest, ROOT)
        return bool(dbus.Interface(obj, PROPS).Get(MANAGER, "LiveUpdates"))


def error_name(call, *args, **kw) -> str:
    try:
        call(*args, **kw)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()
    return ""


def call_as(user: str, dest: str, path: str, method: str, *args) -> subprocess.CompletedProcess:
    """A method call as another user; stderr starts with the D-Bus error name."""
    env = dict(os.environ, VS_DBUS_DEST=dest)
    return h.run_as(user, ["/usr/bin/python3", os.path.join(HERE, "dbus_call.py"), path, method,
                           *[repr(a) for a in args]], env=env)


def cap(xml: ET.Element, kind: Optional[str] = None) -> ET.Element:
    """The device's own <capability> (or the one of type `kind`)."""
    for c in xml.findall("capability"):
        if kind is None or c.get("type") == kind:
            return c
    raise AssertionError(f"no capability {kind} in {ET.tostring(xml)}")


@contextmanager
def fake_nodedevd(root: str):
    """A nodedevd of our own on a FAKE sysfs tree under `root` (tests/fakes/fake_sysfs.py),
    with the fake kernel running; yields (tree, kernel, client for its unique name).
    Calls go to the unique name, so none can reach or activate a nodedevd on /sys."""
    sys.path.insert(0, os.path.join(HERE, "fakes"))
    import fake_sysfs as fk
    fs = fk.FakeSysfs(root)
    kernel = fk.FakeKernel(fs)
    env = dict(os.environ, VIRTSWARM_SYSFS_ROOT=fs.root)
    binary = os.path.join(h.env("VS_BUILD_DIR"), "services/nodedevd/virtswarm-nodedevd")
    daemon = subprocess.Popen([binary, "--system"], env=env)
    try:
        h.wait_for_name(BUS_NAME, 30)
        owner = str(h.bus_daemon().GetNameOwner(BUS_NAME))
        assert int(h.bus_daemon().GetConnectionUnixProcessID(owner)) == daemon.pid
        yield fs, kernel, Client(owner)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        kernel.stop()


def tree_positions(tree: str) -> dict:
    """`virsh nodedev-list --tree` output as {name: (line number, indentation)}."""
    out = {}
    for i, line in enumerate(tree.splitlines()):
        # "computer", "  +- pci_0000_00_02_0", "  |   +- block_vda_..."; "  |" joins.
        m = re.match(r"^[ |]*(?:\+- )?([A-Za-z0-9_]+)\s*$", line)
        if m:
            out[m.group(1)] = (i, m.start(1))
    return out


def assert_drawn_under(tree: dict, parent: str, child: str) -> None:
    """The child comes after its parent, indented deeper."""
    assert tree[parent][0] < tree[child][0] and tree[parent][1] < tree[child][1], (parent, child)
