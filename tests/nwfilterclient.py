"""Helpers for tests of virtswarm-nwfilterd (org.virtswarm.NWFilter1)."""

import os
import subprocess

import dbus

import vsharness as h

BUS_NAME = "org.virtswarm.NWFilter1"
ROOT = "/org/virtswarm/NWFilter1"
MANAGER = "org.virtswarm.NWFilter1.Manager"
FILTER = "org.virtswarm.NWFilter1.Filter"
PROPS = "org.freedesktop.DBus.Properties"
ERR = "org.virtswarm.Error."
CHALLENGED = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 60

# What nwfilterd installs on its first start (libvirt's standard filters).
STANDARD = ["allow-arp", "allow-dhcp", "allow-dhcp-server", "allow-incoming-ipv4",
            "allow-incoming-ipv6", "allow-ipv4", "allow-ipv6", "clean-traffic",
            "no-arp-ip-spoofing", "no-arp-mac-spoofing", "no-arp-spoofing", "no-ip-multicast",
            "no-ip-spoofing", "no-ipv6-spoofing", "no-mac-broadcast", "no-mac-spoofing",
            "no-other-l2-traffic", "no-other-rarp-traffic", "qemu-announce-self",
            "qemu-announce-self-rarp"]


def opts(**kw) -> dbus.Dictionary:
    return dbus.Dictionary(kw, signature="sv")


def manager() -> dbus.Interface:
    return dbus.Interface(h.system_bus().get_object(BUS_NAME, ROOT), MANAGER)


def filter_iface(path: str) -> dbus.Interface:
    return dbus.Interface(h.system_bus().get_object(BUS_NAME, path), FILTER)


def props(path: str) -> dict:
    obj = h.system_bus().get_object(BUS_NAME, path)
    return dbus.Interface(obj, PROPS).GetAll(FILTER)


def names() -> list[str]:
    return sorted(str(props(p)["Name"]) for p in manager().ListFilters(opts()))


def define(xml: str) -> str:
    return str(manager().DefineXML(xml, opts(), timeout=TIMEOUT))


def lookup(name: str) -> str:
    return str(manager().LookupByName(name))


def xml_of(name: str) -> str:
    return str(filter_iface(lookup(name)).GetXML(opts(), timeout=TIMEOUT))


def undefine(name: str) -> None:
    filter_iface(lookup(name)).Undefine(opts(), timeout=TIMEOUT)


def bind(port: str, mac: str, filter_name: str, **params) -> str:
    return str(manager().CreateBinding(binding_xml(port, mac, filter_name, **params), opts(),
                                       timeout=TIMEOUT))


def binding_xml(port: str, mac: str, filter_name: str, **params) -> str:
    parameters = "".join(f"<parameter name='{k}' value='{v}'/>"
                         for k, values in params.items()
                         for v in (values if isinstance(values, list) else [values]))
    return ("<filterbinding><owner><name>guest</name>"
            "<uuid>3c7c1c4e-9c55-4c2f-a2e8-0d6a1b0f7f01</uuid></owner>"
            f"<portdev name='{port}'/><mac address='{mac}'/>"
            f"<filterref filter='{filter_name}'>{parameters}</filterref></filterbinding>")


def error_name(call, *args, **kw) -> str:
    try:
        call(*args, **kw)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()
    return ""


def call_as(user: str, path: str, method: str, *args) -> subprocess.CompletedProcess:
    """A method call as another user; stderr starts with the D-Bus error name."""
    env = dict(os.environ, VS_DBUS_DEST=BUS_NAME)
    return h.run_as(user, ["/usr/bin/python3", os.path.join(HERE, "dbus_call.py"), path, method,
                           *[repr(a) for a in args]], env=env)


def simple_filter(name: str, refs=(), chain: str = "root", uuid: str = "") -> str:
    inner = "".join(f"<filterref filter='{r}'/>" for r in refs)
    u = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (f"<filter name='{name}' chain='{chain}'>{u}{inner}"
            "<rule action='accept' direction='out' priority='100'>"
            "<tcp dstportstart='22'/></rule></filter>")
