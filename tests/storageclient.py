"""Client helpers for virtswarm-storaged (org.virtswarm.Storage1) in tests."""

from __future__ import annotations

import os
import subprocess

import dbus

import vsclient as vc
import vsharness as h

BUS_NAME = "org.virtswarm.Storage1"
ROOT = "/org/virtswarm/Storage1"
MANAGER = "org.virtswarm.Storage1.Manager"
POOL = "org.virtswarm.Storage1.Pool"
VOLUME = "org.virtswarm.Storage1.Volume"
JOB = "org.virtswarm.Storage1.Job"
HERE = os.path.dirname(os.path.abspath(__file__))


def iface(path: str, interface: str):
    return dbus.Interface(vc.bus().get_object(BUS_NAME, path), interface)


def manager():
    return iface(ROOT, MANAGER)


def props(path: str, interface: str) -> dict:
    return dict(iface(path, vc.PROPS).GetAll(interface, timeout=vc.TIMEOUT))


def opts(**kw):
    return dbus.Dictionary(kw, signature="sv")


def list_pools() -> list[str]:
    return sorted(str(p) for p in manager().ListPools(opts(), timeout=vc.TIMEOUT))


def volumes(pool: str) -> dict[str, str]:
    """name -> object path of the pool's volumes, from GetManagedObjects."""
    objects = iface(ROOT, "org.freedesktop.DBus.ObjectManager").GetManagedObjects(
        timeout=vc.TIMEOUT)
    return {str(ifaces[VOLUME]["Name"]): str(path) for path, ifaces in objects.items()
            if VOLUME in ifaces and str(path).startswith(pool + "/")}


def dir_pool_xml(name: str, path: str) -> str:
    return (f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target>"
            "</pool>")


def volume_xml(name: str, capacity: str = "1048576", fmt: str = "raw", extra: str = "",
               unit: str = "bytes") -> str:
    return (f"<volume><name>{name}</name><capacity unit='{unit}'>{capacity}</capacity>"
            f"<target><format type='{fmt}'/></target>{extra}</volume>")


def running_dir_pool(name: str) -> tuple[str, str]:
    """A built and started dir pool in the test root: (object path, directory)."""
    directory = os.path.join(os.environ["VS_TEST_ROOT"], "pools", name)
    path = str(manager().DefineXML(dir_pool_xml(name, directory), opts(), timeout=vc.TIMEOUT))
    iface(path, POOL).Build(opts(), timeout=vc.TIMEOUT)
    iface(path, POOL).Start(opts(), timeout=vc.TIMEOUT)
    return path, directory


def write_data(path: str, mib: int) -> None:
    block = b"\x5a" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)


def call_as(user: str, path: str, method: str, *args) -> subprocess.CompletedProcess:
    return h.run_as(user, ["env", f"VS_DBUS_DEST={BUS_NAME}", "/usr/bin/python3",
                           os.path.join(HERE, "dbus_call.py"), path, method,
                           *[repr(a) for a in args]])


def storaged_pid() -> int:
    return int(h.bus_daemon().GetConnectionUnixProcessID(BUS_NAME))


def error_name(call) -> str:
    try:
        call()
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()
    return ""
