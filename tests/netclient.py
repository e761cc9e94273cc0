"""Client helpers for virtswarm-networkd (org.virtswarm.Network1) in tests."""

from __future__ import annotations

import json
import subprocess

import dbus

import vsclient as vc
import vsharness as h

BUS_NAME = "org.virtswarm.Network1"
ROOT = "/org/virtswarm/Network1"
MANAGER = "org.virtswarm.Network1.Manager"
NETWORK = "org.virtswarm.Network1.Network"


def manager():
    return dbus.Interface(vc.bus().get_object(BUS_NAME, ROOT), MANAGER)


def network(path: str):
    return dbus.Interface(vc.bus().get_object(BUS_NAME, path), NETWORK)


def props(path: str) -> dict:
    return dict(dbus.Interface(vc.bus().get_object(BUS_NAME, path), vc.PROPS).GetAll(NETWORK))


def define(xml: str) -> str:
    return str(manager().DefineXML(xml, vc.no_options(), timeout=vc.TIMEOUT))


def list_networks() -> list[str]:
    return sorted(str(p) for p in manager().ListNetworks(vc.no_options(), timeout=vc.TIMEOUT))


def networkd_pid() -> int:
    return int(h.bus_daemon().GetConnectionUnixProcessID(BUS_NAME))


def nat_xml(name: str, third_octet: int, mode: str = "nat", hosts: str = "") -> str:
    forward = f"<forward mode='{mode}'/>" if mode else ""
    return (f"<network><name>{name}</name>{forward}"
            f"<ip address='192.168.{third_octet}.1' prefix='24'><dhcp>"
            f"<range start='192.168.{third_octet}.100' end='192.168.{third_octet}.200'/>"
            f"{hosts}</dhcp></ip></network>")


def links() -> dict:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
    return {l["ifname"]: l for l in json.loads(out)}


def addresses(ifname: str) -> list[str]:
    out = subprocess.run(["ip", "-j", "addr", "show", "dev", ifname], capture_output=True,
                         text=True, check=True).stdout
    return [f"{a['local']}/{a['prefixlen']}" for l in json.loads(out) for a in l["addr_info"]]


def firewall_rules() -> list[str] | None:
    """The rules of table inet virtswarm as text lines, or None when there is no table."""
    r = subprocess.run(["nft", "list", "table", "inet", "virtswarm"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return None
    return [l.strip() for l in r.stdout.splitlines()
            if l.strip() and not l.strip().startswith(("table", "chain", "type", "}"))]


def cleanup_all() -> None:
    try:
        paths = list_networks()
    except dbus.exceptions.DBusException:
        return
    for p in paths:
        try:
            if bool(props(p)["Active"]):
                network(p).Stop(vc.no_options(), timeout=vc.TIMEOUT)
            if bool(props(p)["Persistent"]):
                network(p).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
        except dbus.exceptions.DBusException:
            pass
