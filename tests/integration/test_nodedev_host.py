"""virtswarm-nodedevd on this machine's real sysfs, read only, on the private bus with
the real polkitd: what it lists is what lspci, ip and lsblk see. Nothing here changes a
device (the binding tests run against a fake tree: test_nodedev_fake.py)."""

import re
import subprocess
import uuid as uuidlib

import pytest

import nodedevclient as nd
import vsharness as h


@pytest.fixture(autouse=True)
def no_leftover_domains():
    """Replaces the directory's domain clean-up: nodedevd needs no hypervisor."""
    yield


@pytest.fixture(scope="module")
def client():
    c = nd.Client()
    c.manager().ListDevices(nd.opts())  # activates nodedevd
    return c


def run(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def test_pci_devices_are_what_lspci_sees(client):
    expected = {}
    for line in run(["lspci", "-Dn"]).splitlines():
        # 0000:00:02.0 0180: 1af4:1042 (rev 01)
        addr, cls, ids = line.split()[:3]
        cls = cls.rstrip(":")
        vendor, product = ids.split(":")
        name = "pci_" + re.sub(r"[:.]", "_", addr)
        expected[name] = (cls, "0x" + vendor, "0x" + product)
    assert expected, "lspci sees no PCI device on this machine"
    got = {}
    for name in client.names("pci"):
        c = nd.cap(client.xml(name), "pci")
        got[name] = (c.findtext("class")[2:6], c.find("vendor").get("id"),
                     c.find("product").get("id"))
    assert got == expected


def test_net_devices_are_what_ip_link_sees(client):
    # Retried: other tests may add or remove interfaces meanwhile.
    def compare():
        expected = {}
        for line in run(["ip", "-o", "link"]).splitlines():
            m = re.match(r"\d+: ([^:@]+)[:@].*link/\S+ ([0-9a-f:]+)", line)
            if m:
                expected[m.group(1)] = m.group(2)
        got = {}
        for name in client.names("net"):
            c = nd.cap(client.xml(name), "net")
            got[c.findtext("interface")] = c.findtext("address")
            assert name == "net_" + re.sub(r"[^A-Za-z0-9]", "_",
                                           c.findtext("interface") + "_" + c.findtext("address"))
        return got == expected
    h.wait_until(compare, 10, 0.5, "nodedevd's net devices to match `ip -o link`")


def test_block_devices_are_what_lsblk_sees(client):
    expected = {}
    for line in run(["lsblk", "-d", "-n", "-b", "-o", "NAME,SIZE"]).splitlines():
        dev, size = line.split()
        if int(size) > 0:
            expected["/dev/" + dev] = int(size)
    got = {}
    for name in client.names("storage"):
        c = nd.cap(client.xml(name), "storage")
        got[c.findtext("block")] = int(c.findtext("size"))
        assert name.startswith("block_" + c.findtext("block")[5:])
    assert got == expected


def test_the_tree_hangs_from_computer(client):
    names = set(client.names())
    assert "computer" in names
    computer = client.xml("computer")
    assert computer.find("parent") is None and nd.cap(computer).get("type") == "system"
    for name in names - {"computer"}:
        p = client.props(name)
        assert str(p["Parent"]) in names, name
        x = client.xml(name)
        assert x.findtext("name") == name and x.findtext("parent") == p["Parent"]
        assert x.findtext("path") == p["Path"] and p["Path"].startswith("/sys/devices/")
        assert str(p["Capabilities"][0]) == nd.cap(x).get("type")
    # A virtio NIC hangs from its PCI function (through the virtio bus, which is no node
    # device), as in libvirt's tree.
    for name in client.names("net"):
        path = client.props(name)["Path"]
        if "/pci" in path:
            assert str(client.props(name)["Parent"]).startswith("pci_"), path


def test_pci_xml_carries_iommu_group_and_driver(client):
    for name in client.names("pci"):
        addr = name[4:].replace("_", ":", 2).replace("_", ".")
        x = client.xml(name)
        driver = subprocess.run(["readlink", f"/sys/bus/pci/devices/{addr}/driver"],
                                capture_output=True, text=True).stdout.strip()
        want = driver.rsplit("/", 1)[-1] if driver else None
        assert x.findtext("driver/name") == want
        assert client.props(name)["Driver"] == (want or "")


def test_unknown_device_and_bad_options_are_named_errors(client):
    m = client.manager()
    assert nd.error_name(m.LookupByName, "pci_0000_ff_1f_7") == \
        "org.virtswarm.Error.NoSuchNodeDevice"
    assert nd.error_name(m.LookupSCSIHostByWWN, "0", "0") == \
        "org.virtswarm.Error.NoSuchNodeDevice"
    assert nd.error_name(m.ListDevices, nd.opts(bogus="x")) == \
        "org.freedesktop.DBus.Error.InvalidArgs"
    assert nd.error_name(m.CreateMdev, "pci_0000_ff_1f_7", "t", str(uuidlib.uuid4()),
                         nd.opts()) == "org.virtswarm.Error.NoSuchNodeDevice"
    assert nd.error_name(client.device("computer").GetXML, nd.opts(inactive=True)) == \
        "org.freedesktop.DBus.Error.InvalidArgs"


def test_an_unprivileged_user_may_read(client):
    pci = client.names("pci")[0]
    r = nd.call_as(h.test_user(), nd.BUS_NAME, nd.Client.path(pci), f"{nd.DEVICE}.GetXML", {})
    assert r.returncode == 0, r.stderr
    assert f"<name>{pci}</name>" in r.stdout


def test_virsh_nodedev_list_tree_through_the_bridge_matches_the_host(client):
    import bridgeclient as bc
    proxyd = bc.Bridge("bridge-host-nodedev")
    try:
        home = bc.virsh_home(proxyd.root)
        names = bc.virsh(home, proxyd.ro_uri, "-q", "nodedev-list").stdout.split()
        assert sorted(names) == sorted(client.names())
        tree = nd.tree_positions(bc.virsh(home, proxyd.ro_uri, "nodedev-list", "--tree").stdout)
        assert set(tree) == set(names)
        for name in names:
            if name != "computer":
                nd.assert_drawn_under(tree, str(client.props(name)["Parent"]), name)
        pci = client.names("pci")[0]
        xml = bc.virsh(home, proxyd.ro_uri, "nodedev-dumpxml", pci).stdout
        assert xml.strip() == client.device(pci).GetXML(nd.opts()).strip()
    finally:
        proxyd.stop()


def test_devices_come_and_go_with_uevents(client):
    assert client.live_updates(), "nodedevd should follow the kernel's uevents on /sys"
    bridge = "vsnd" + uuidlib.uuid4().hex[:8]
    recorder_match = f"type='signal',sender='{nd.BUS_NAME}'"
    import vsclient as vc
    recorder = vc.SignalRecorder(recorder_match)
    try:
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        try:
            h.wait_until(lambda: any(n.startswith(f"net_{bridge}_") for n in client.names("net")),
                         30, 0.1, f"{bridge} to appear")
            recorder.wait_for("InterfacesAdded", f"net_{bridge}_", "NodeDeviceEvent",
                              timeout=30)
        finally:
            subprocess.run(["ip", "link", "del", bridge], check=True)
        h.wait_until(lambda: not any(n.startswith(f"net_{bridge}_")
                                     for n in client.names("net")), 30, 0.1, f"{bridge} to go")
        recorder.wait_for("InterfacesRemoved", timeout=30)
    finally:
        recorder.stop()
