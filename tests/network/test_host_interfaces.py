"""The host's interfaces through the libvirt bridge, as Cockpit and virt-manager list them:
real virsh iface-* and python3-libvirt's interface API, answered from what networkd reads
from rtnetlink (Manager.ListHostInterfaces). The "host" is the harness's private network
namespace, with a bridge (up, with addresses) and a TAP (down) made here."""

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

import bridgeclient as bc
import vsharness as h

pytestmark = pytest.mark.skipif(os.environ.get("VS_NETNS") != "1",
                                reason="needs the harness's private network namespace")

UP, DOWN = "vsifup0", "vsifdown0"
MAC = "52:54:00:ab:cd:ef"


def ip(*args):
    subprocess.run(["ip", *args], check=True)


@pytest.fixture
def interfaces():
    ip("link", "add", UP, "address", MAC, "mtu", "1400", "type", "bridge")
    ip("addr", "add", "10.77.0.5/24", "dev", UP)
    ip("-6", "addr", "add", "fd00:77::5/64", "dev", UP, "nodad")
    ip("link", "set", UP, "up")
    ip("tuntap", "add", "mode", "tap", DOWN)
    yield
    for name in (UP, DOWN):
        subprocess.run(["ip", "link", "del", name], check=False)


def test_host_interfaces_through_virsh_and_python_libvirt(interfaces):
    proxyd = bc.Bridge("bridge-ifaces")
    virsh = bc.virsh_on(proxyd)
    try:
        def names(*flags):
            return {line.split()[0] for line in virsh("-q", "iface-list", *flags).splitlines()
                    if line.strip()}
        assert UP in names() and DOWN not in names()
        assert DOWN in names("--inactive") and UP not in names("--inactive")
        assert "lo" not in names("--all")
        assert virsh("iface-mac", UP).strip() == MAC
        assert virsh("iface-name", MAC).strip() == UP

        xml = ET.fromstring(virsh("iface-dumpxml", UP))
        assert (xml.get("type"), xml.get("name")) == ("bridge", UP)
        assert xml.find("mac").get("address") == MAC
        assert xml.find("mtu").get("size") == "1400"
        assert xml.find("link").get("state") == "up"
        ipv4 = xml.find("protocol[@family='ipv4']/ip")
        assert (ipv4.get("address"), ipv4.get("prefix")) == ("10.77.0.5", "24")
        assert "fd00:77::5" in [e.get("address") for e in
                                xml.findall("protocol[@family='ipv6']/ip")]
        down = ET.fromstring(virsh("iface-dumpxml", DOWN))
        assert (down.get("type"), down.find("link").get("state")) == ("ethernet", "down")

        libvirt = pytest.importorskip("libvirt")
        conn = libvirt.open(proxyd.rw_uri)
        try:
            active = {i.name() for i in
                      conn.listAllInterfaces(libvirt.VIR_CONNECT_LIST_INTERFACES_ACTIVE)}
            assert UP in active and DOWN not in active
            assert conn.numOfInterfaces() == len(active)
            assert DOWN in conn.listDefinedInterfaces()
            assert conn.interfaceLookupByName(UP).isActive() == 1
            assert conn.interfaceLookupByName(DOWN).isActive() == 0
            assert bc.libvirt_error_code(libvirt, conn.interfaceLookupByName, "nope0") == \
                libvirt.VIR_ERR_NO_INTERFACE
        finally:
            conn.close()
        # Reading is open to anyone, as /sys/class/net is.
        r = bc.virsh(bc.virsh_home(proxyd.root), proxyd.rw_uri, "-q", "iface-list",
                     user=h.test_user())
        assert UP in r.stdout
    finally:
        proxyd.stop()
