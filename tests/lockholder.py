#!/usr/bin/python3
"""A lease holder for the lockd tests: a process of its own on the bus (so a test can
kill -9 it), run as any user. It opens each disk itself, asks virtswarm-lockd for leases,
prints one line and then holds its connection (and so the leases) until killed.

usage: lockholder.py <domain uuid> [--process PID] [--once] <path>=<exclusive|shared>...

Prints "OK <unique name>" or "ERR <error name> <message>". --process records PID as the
domain's process (its pidfd) after acquiring; --once exits after printing.
"""

import os
import sys
import time

import dbus

BUS_NAME = "org.virtswarm.Lock1"
ROOT = "/org/virtswarm/Lock1"
MANAGER = "org.virtswarm.Lock1.Manager"


def main() -> int:
    args = sys.argv[1:]
    domain, process, once, disks = args[0], None, False, []
    rest = iter(args[1:])
    for a in rest:
        if a == "--process":
            process = int(next(rest))
        elif a == "--once":
            once = True
        else:
            path, mode = a.rsplit("=", 1)
            disks.append((path, mode))
    bus = dbus.SystemBus()
    manager = dbus.Interface(bus.get_object(BUS_NAME, ROOT), MANAGER)
    files = []
    wire = []
    for path, mode in disks:
        f = os.open(path, os.O_RDWR if mode == "exclusive" else os.O_RDONLY)
        files.append(f)
        wire.append(dbus.Struct((dbus.types.UnixFd(f), path, mode == "shared"), signature="hsb"))
    try:
        manager.Acquire(domain, dbus.Array(wire, signature="(hsb)"),
                        dbus.Dictionary({}, signature="sv"), timeout=60)
        if process is not None:
            manager.SetProcess(domain, dbus.types.UnixFd(os.pidfd_open(process)),
                               dbus.Dictionary({}, signature="sv"), timeout=60)
    except dbus.exceptions.DBusException as e:
        print("ERR", e.get_dbus_name(), e.get_dbus_message(), flush=True)
        return 1
    print("OK", bus.get_unique_name(), flush=True)
    while not once:
        time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
