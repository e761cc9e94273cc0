"""A small client of virtswarm-lockd (org.virtswarm.Lock1) for the integration and e2e
tests: calls in the test process, and lease holders in processes of their own
(tests/lockholder.py) that a test can kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Optional

import dbus

import vsharness as h

BUS_NAME = "org.virtswarm.Lock1"
ROOT = "/org/virtswarm/Lock1"
MANAGER = "org.virtswarm.Lock1.Manager"
BUSY = "org.virtswarm.Error.ResourceBusy"
INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 60


def opts():
    return dbus.Dictionary({}, signature="sv")


def manager():
    return dbus.Interface(h.system_bus().get_object(BUS_NAME, ROOT), MANAGER)


def call(method: str, signature: str, *args):
    """A call addressed to the well-known name as it is sent (a proxy from manager()
    resolves it to lockd's unique name when made, which a re-exec changes)."""
    return h.system_bus().call_blocking(BUS_NAME, ROOT, MANAGER, method, signature, args,
                                        timeout=TIMEOUT)


def leases() -> set[tuple[str, str, str]]:
    """(path, mode, domain) of every lease."""
    return {(str(p), str(m), str(d)) for p, _k, m, d, _h in
            manager().ListLeases(opts(), timeout=TIMEOUT)}


def domains_holding(path: str) -> set[str]:
    return {d for p, _m, d in leases() if p == path}


def lockd_pid() -> int:
    return int(h.bus_daemon().GetConnectionUnixProcessID(BUS_NAME))


def disk(fd: int, path: str, shared: bool):
    return dbus.Struct((dbus.types.UnixFd(fd), path, shared), signature="hsb")


def acquire(domain: str, disks: list) -> None:
    manager().Acquire(domain, dbus.Array(disks, signature="(hsb)"), opts(), timeout=TIMEOUT)


def error_of(call, *args) -> str:
    try:
        call(*args)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()
    raise AssertionError(f"{call} succeeded but an error was expected")


class Holder:
    """tests/lockholder.py in a process of its own, as `user` (root if None)."""

    def __init__(self, domain: str, disks: dict[str, str], process: Optional[int] = None,
                 user: Optional[str] = None):
        argv = [sys.executable, os.path.join(HERE, "lockholder.py"), domain]
        if process is not None:
            argv += ["--process", str(process)]
        argv += [f"{path}={mode}" for path, mode in disks.items()]
        if user is not None:
            argv = h.as_user_argv(user, argv)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True)
        self.line = self.proc.stdout.readline().strip()
        self.ok = self.line.startswith("OK ")
        self.unique_name = self.line.split()[1] if self.ok else None
        self.error = None if self.ok else (self.line.split() + ["?", "?"])[1]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        if self.unique_name:
            h.wait_for_name_gone(self.unique_name)

    def __enter__(self) -> "Holder":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


def manager_props() -> dict:
    obj = h.system_bus().get_object(BUS_NAME, ROOT)
    return dict(dbus.Interface(obj, "org.freedesktop.DBus.Properties").GetAll(MANAGER))
