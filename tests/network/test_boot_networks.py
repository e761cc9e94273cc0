"""A host boot, as virtswarm-guests.service performs it, on a fresh bus with no daemon
running: the autostart NAT network comes up first, then the autostart domains on it
(reaching the network's gateway proves it was there for them); a domain not marked
autostart stays off. Also: a registry that comes up before networkd holds its autostart
domains back until their network is up instead of failing them."""

import os
import signal

import pytest

import guestsctl as g
import netclient as nc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(os.environ.get("VS_NETNS") != "1",
                                reason="needs the harness's private network namespace")


def serial_log(name):
    return os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")


def define_host(net_name, octet, autostart_guests, idle_guests=0):
    """An autostart NAT network and guests on it, all defined, nothing running."""
    net = nc.define(nc.nat_xml(net_name, octet))
    nc.network(net).SetAutostart(True, vc.no_options())
    guests = {}
    for i in range(autostart_guests + idle_guests):
        name = vc.unique("boot")
        nic = (f"<interface type='network'><source network='{net_name}'/>"
               f"<mac address='52:54:00:00:{octet:02x}:{i + 10:02x}'/>"
               f"<model type='virtio'/></interface>")
        xml = vc.domain_xml(name, serial=serial_log(name), extra_devices=nic)
        xml = xml.replace("panic=-1", f"panic=-1 virtswarm.ping=192.168.{octet}.1")
        path = vc.define(xml)
        if i < autostart_guests:
            vc.domain(path).SetAutostart(True, vc.no_options())
        guests[name] = (path, i < autostart_guests)
    return net, guests


def power_off_host():
    """What is left after a reboot: definitions on disk, no daemon on the bus."""
    for bus_name in (vc.BUS_NAME, nc.BUS_NAME):
        if h.name_has_owner(bus_name):
            pid = int(h.bus_daemon().GetConnectionUnixProcessID(bus_name))
            os.kill(pid, signal.SIGTERM)
            h.wait_for_name_gone(bus_name, timeout=30)


def test_boot_starts_the_network_first_then_the_autostart_domains():
    net, guests = define_host("bootnet", 211, autostart_guests=3, idle_guests=1)
    assert not bool(nc.props(net)["Active"])
    power_off_host()

    out = g.run("start", "ON_BOOT=start\nBOOT_TIMEOUT=120\n")
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    net_line = next(i for i, l in enumerate(lines) if "network 'bootnet': up (autostart)" in l)
    for name, (path, autostart) in guests.items():
        if autostart:
            dom_line = next(i for i, l in enumerate(lines)
                            if f"domain '{name}': running (autostart)" in l)
            assert net_line < dom_line
            assert vc.state(path)[0] == "running"
        else:
            assert name not in out.stderr
            assert vc.state(path)[0] == "shutoff"
    assert bool(nc.props(net)["Active"])
    for name, (path, autostart) in guests.items():
        if autostart:
            vc.wait_file_contains(serial_log(name), "VIRTSWARM-PING 192.168.211.1 ok")


def test_registry_before_networkd_holds_autostart_domains_until_their_network_is_up():
    net, guests = define_host("latenet", 212, autostart_guests=1)
    power_off_host()

    # Only the registry is activated; its autostart domain's network is not up yet.
    vc.list_domains()
    (name, (path, _)), = guests.items()
    vc.wait_state(path, "running")
    assert bool(nc.props(net)["Active"])
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-PING 192.168.212.1 ok")
    with open(h.env("VS_BUS_LOG"), errors="replace") as f:
        assert f"autostart of '{name}': running" in f.read()
