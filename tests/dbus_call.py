#!/usr/bin/python3
"""Calls one method of the registry and prints the reply, or the D-Bus error name on stderr.

Used to make calls as another (unprivileged) user: dbus-send cannot build a{sv}.
usage: dbus_call.py <object path> <interface.Method> [python literal argument]...
Empty dicts are sent as a{sv}.
"""

import ast
import os
import sys

import dbus


def main() -> int:
    path, method = sys.argv[1], sys.argv[2]
    interface, member = method.rsplit(".", 1)
    args = []
    for a in sys.argv[3:]:
        v = ast.literal_eval(a)
        args.append(dbus.Dictionary(v, signature="sv") if isinstance(v, dict) else v)
    dest = os.environ.get("VS_DBUS_DEST", "org.virtswarm.Hypervisor1")
    bus = dbus.SessionBus() if os.environ.get("VS_DBUS_BUS") == "session" else dbus.SystemBus()
    obj = bus.get_object(dest, path)
    try:
        reply = getattr(dbus.Interface(obj, interface), member)(*args, timeout=120)
    except dbus.exceptions.DBusException as e:
        print(e.get_dbus_name(), e.get_dbus_message(), file=sys.stderr)
        return 1
    print(reply if not isinstance(reply, tuple) else " ".join(str(r) for r in reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
