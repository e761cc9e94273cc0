"""A small client of virtswarm-logd (org.virtswarm.Log1) for the integration and e2e
tests."""

from __future__ import annotations

import os
import signal

import dbus

import vsharness as h

BUS_NAME = "org.virtswarm.Log1"
ROOT = "/org/virtswarm/Log1"
MANAGER = "org.virtswarm.Log1.Manager"
TAIL = 2**64 - 1
TIMEOUT = 60


def opts():
    return dbus.Dictionary({}, signature="sv")


def call(method: str, signature: str, *args, bus=None):
    """A call addressed to the well-known name as it is sent (it survives a re-exec)."""
    return (bus or h.system_bus()).call_blocking(BUS_NAME, ROOT, MANAGER, method, signature,
                                                 args, timeout=TIMEOUT)


def open_stream(domain_uuid: str, name: str, stream: str = "qemu") -> int:
    """The write end of a new stream, as a plain descriptor of this process."""
    fd = call("OpenStream", "sssa{sv}", domain_uuid, name, stream, opts())
    return fd.take()


def read_log(domain_uuid: str, stream: str = "qemu", offset: int = 0,
             size: int = 1 << 20) -> tuple[bytes, int]:
    data, next_offset = call("ReadLog", "sstua{sv}", domain_uuid, stream, dbus.UInt64(offset),
                             dbus.UInt32(size), opts())
    return bytes(data), int(next_offset)


def read_all(domain_uuid: str, stream: str = "qemu") -> bytes:
    out, offset = b"", 0
    while True:
        data, offset = read_log(domain_uuid, stream, offset)
        if not data:
            return out
        out += data


def streams() -> list[tuple[str, str, str, str, int]]:
    return [(str(u), str(n), str(s), str(p), int(c))
            for u, n, s, p, c in call("ListStreams", "a{sv}", opts())]


def logd_pid() -> int:
    return int(h.bus_daemon().GetConnectionUnixProcessID(BUS_NAME))


def stop_logd() -> None:
    """Ends a running logd (its streams with it), so the next call starts a new one."""
    if h.name_has_owner(BUS_NAME):
        os.kill(logd_pid(), signal.SIGTERM)
        h.wait_for_name_gone(BUS_NAME, 20)


def log_dir() -> str:
    return os.path.join(h.env("VIRTSWARM_LOG_DIR"), "hypervisor")


def config_file() -> str:
    return os.path.join(h.env("VIRTSWARM_CONFIG_DIR"), "log", "logd.conf")
