"""Real virsh (libvirt-clients 9.0) and python3-libvirt managing virtswarm-networkd's networks
through virtswarm-proxyd: net-list/-info/-uuid/-name/-define/-start/-autostart/-dumpxml/
-dhcp-leases/-destroy/-undefine/-create with their output, libvirt's error codes, lifecycle
events, the read-only socket, and polkit deciding per network for an unprivileged user.

Runs in the harness's private network namespace (ctest -R network-test_virsh_network).
"""

import os
import re
import signal
import subprocess
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET

import pytest

import bridgeclient as bc
import netclient as nc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(os.environ.get("VS_NETNS") != "1",
                                reason="needs the harness's private network namespace")

# libvirt's virErrorNumber values (reference/libvirt-rpc.md).
# libvirt: malformed XML is XML_DETAIL, a duplicate name/UUID is OPERATION_FAILED.
OPERATION_FAILED, OPERATION_DENIED, XML_DETAIL, NO_NETWORK, OPERATION_INVALID = 9, 29, 35, 43, 55


# ---------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def bridge():
    proxyd = bc.Bridge("bridge-net")
    yield {"rw": proxyd.rw_uri, "ro": proxyd.ro_uri, "root": proxyd.root,
           "home": bc.virsh_home(proxyd.root), "proxyd": proxyd}
    proxyd.stop()


def virsh(bridge, *args, uri=None, check=True, user=None, timeout=120):
    return bc.virsh(bridge["home"], uri or bridge["rw"], *args, check=check, user=user,
                    timeout=timeout)


def write_file(bridge, name, text):
    path = os.path.join(bridge["root"], name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def net_xml(name, octet, hosts="", uuid=None):
    xml = nc.nat_xml(name, octet, hosts=hosts)
    if uuid:
        xml = xml.replace("</name>", f"</name><uuid>{uuid}</uuid>", 1)
    return xml


def net_list(bridge, *flags, uri=None):
    """`virsh net-list` rows as {name: (state, autostart, persistent)}."""
    out = virsh(bridge, "net-list", *flags, uri=uri).stdout
    rows = {}
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) == 4:
            rows[parts[0]] = tuple(parts[1:])
    return rows


def net_info(bridge, name):
    out = virsh(bridge, "net-info", name).stdout
    return {k.strip(): v.strip() for k, v in
            (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def proxyd_log(bridge):
    return bridge["proxyd"].output()


def path_of(uuid):
    return "/org/virtswarm/Network1/network/_" + uuid.replace("-", "")


def open_libvirt(bridge, uri=None):
    libvirt = pytest.importorskip("libvirt")
    return libvirt, libvirt.open(uri or bridge["rw"])


def error_code(libvirt, fn, *args):
    try:
        fn(*args)
    except libvirt.libvirtError as e:
        return e.get_error_code()
    raise AssertionError(f"{fn} succeeded but an error was expected")


# ---------------------------------------------------------------- a persistent network
def test_persistent_network_through_its_whole_life(bridge):
    uid = str(uuidlib.uuid4())
    path = write_file(bridge, "lifenet.xml", net_xml("lifenet", 40, uuid=uid))
    assert net_list(bridge, "--all") == {}

    r = virsh(bridge, "net-define", path)
    assert f"Network lifenet defined from {path}" in r.stdout
    assert net_list(bridge, "--all") == {"lifenet": ("inactive", "no", "yes")}
    assert net_list(bridge) == {}                        # only active ones by default
    assert net_list(bridge, "--inactive") == {"lifenet": ("inactive", "no", "yes")}
    # The bridge answers what networkd says.
    props = nc.props(path_of(uid))
    assert (props["Name"], bool(props["Active"]), bool(props["Persistent"])) == \
        ("lifenet", False, True)
    bridge_name = str(props["Bridge"])

    info = net_info(bridge, "lifenet")
    assert info == {"Name": "lifenet", "UUID": uid, "Active": "no", "Persistent": "yes",
                    "Autostart": "no", "Bridge": bridge_name}
    assert virsh(bridge, "net-uuid", "lifenet").stdout.strip() == uid
    assert virsh(bridge, "net-name", uid).stdout.strip() == "lifenet"

    r = virsh(bridge, "net-start", "lifenet")
    assert "Network lifenet started" in r.stdout
    assert bridge_name in nc.links()
    assert "192.168.40.1/24" in nc.addresses(bridge_name)
    assert net_list(bridge) == {"lifenet": ("active", "no", "yes")}
    assert net_info(bridge, "lifenet")["Active"] == "yes"
    r = virsh(bridge, "net-start", "lifenet", check=False)
    assert r.returncode == 1 and "already active" in r.stderr

    assert "Network lifenet marked as autostarted" in \
        virsh(bridge, "net-autostart", "lifenet").stdout
    assert net_list(bridge, "--all") == {"lifenet": ("active", "yes", "yes")}
    assert net_list(bridge, "--autostart") == {"lifenet": ("active", "yes", "yes")}
    assert net_list(bridge, "--all", "--no-autostart") == {}
    assert bool(nc.props(path_of(uid))["Autostart"])

    xml = ET.fromstring(virsh(bridge, "net-dumpxml", "lifenet").stdout)
    assert xml.tag == "network"
    assert (xml.find("name").text, xml.find("uuid").text) == ("lifenet", uid)
    assert xml.find("bridge").get("name") == bridge_name
    assert xml.find("forward").get("mode") == "nat"
    assert xml.find("ip").get("address") == "192.168.40.1"
    inactive = ET.fromstring(virsh(bridge, "net-dumpxml", "--inactive", "lifenet").stdout)
    assert inactive.find("uuid").text == uid

    # No guest asked yet: an empty table.
    r = virsh(bridge, "net-dhcp-leases", "lifenet")
    assert "MAC address" in r.stdout and "192.168.40." not in r.stdout

    r = virsh(bridge, "net-undefine", "lifenet", check=False)
    assert r.returncode == 1 and "stop it first" in r.stderr
    assert "Network lifenet destroyed" in virsh(bridge, "net-destroy", "lifenet").stdout
    assert bridge_name not in nc.links()
    r = virsh(bridge, "net-destroy", "lifenet", check=False)
    assert r.returncode == 1 and "not active" in r.stderr
    assert "Network lifenet unmarked as autostarted" in \
        virsh(bridge, "net-autostart", "--disable", "lifenet").stdout
    assert net_list(bridge, "--all") == {"lifenet": ("inactive", "no", "yes")}

    assert "Network lifenet has been undefined" in \
        virsh(bridge, "net-undefine", "lifenet").stdout
    assert net_list(bridge, "--all") == {}
    assert nc.list_networks() == []


def test_net_create_makes_a_transient_network_that_goes_away_when_destroyed(bridge):
    path = write_file(bridge, "tnet.xml", net_xml("tnet", 41))
    r = virsh(bridge, "net-create", path)
    assert f"Network tnet created from {path}" in r.stdout
    assert net_list(bridge, "--all") == {"tnet": ("active", "no", "no")}
    assert net_list(bridge, "--transient") == {"tnet": ("active", "no", "no")}
    assert net_list(bridge, "--all", "--persistent") == {}
    info = net_info(bridge, "tnet")
    assert (info["Active"], info["Persistent"]) == ("yes", "no")
    assert info["Bridge"] in nc.links()
    r = virsh(bridge, "net-autostart", "tnet", check=False)
    assert r.returncode == 1 and "transient" in r.stderr
    virsh(bridge, "net-destroy", "tnet")
    # Gone at once, also for the very next command.
    assert net_list(bridge, "--all") == {}
    assert info["Bridge"] not in nc.links()


# ---------------------------------------------------------------- errors
def test_unknown_names_and_bad_xml_are_libvirts_errors(bridge):
    for cmd in (["net-info", "nope"], ["net-start", "nope"], ["net-dumpxml", "nope"],
                ["net-dhcp-leases", "nope"], ["net-uuid", "nope"]):
        r = virsh(bridge, *cmd, check=False)
        assert r.returncode == 1, cmd
        assert "failed to get network 'nope'" in r.stderr, r.stderr
        assert "no network with matching name 'nope'" in r.stderr
    r = virsh(bridge, "net-name", str(uuidlib.uuid4()), check=False)
    assert r.returncode == 1 and "failed to get network" in r.stderr

    malformed = write_file(bridge, "bad.xml", "<network><name>bad</name")
    r = virsh(bridge, "net-define", malformed, check=False)
    assert r.returncode == 1
    assert f"Failed to define network from {malformed}" in r.stderr
    assert "malformed XML" in r.stderr
    outside = write_file(bridge, "outside.xml",
                         "<network><name>bad</name><ip address='10.9.0.1' prefix='24'><dhcp>"
                         "<range start='10.9.1.10' end='10.9.1.20'/></dhcp></ip></network>")
    r = virsh(bridge, "net-create", outside, check=False)
    assert r.returncode == 1 and "Failed to create network" in r.stderr
    assert net_list(bridge, "--all") == {}

    # The codes as applications see them.
    libvirt, conn = open_libvirt(bridge)
    try:
        assert error_code(libvirt, conn.networkLookupByName, "nope") == NO_NETWORK
        assert error_code(libvirt, conn.networkLookupByUUIDString,
                          str(uuidlib.uuid4())) == NO_NETWORK
        assert error_code(libvirt, conn.networkDefineXML, "<network><name>x</name") == \
            XML_DETAIL
        net = conn.networkDefineXML(net_xml("codes", 42))
        assert error_code(libvirt, conn.networkDefineXML, net_xml("codes", 43)) == OPERATION_FAILED
        assert error_code(libvirt, net.destroy) == OPERATION_INVALID
        net.create()
        assert error_code(libvirt, net.create) == OPERATION_INVALID
        assert error_code(libvirt, net.undefine) == OPERATION_INVALID
        net.destroy()
        net.undefine()
        assert error_code(libvirt, net.isActive) == NO_NETWORK
    finally:
        conn.close()


# ---------------------------------------------------------------- what applications call
def test_python_libvirt_lists_flags_legacy_calls_and_bridge_names(bridge):
    libvirt, conn = open_libvirt(bridge)
    try:
        a = conn.networkDefineXML(net_xml("pya", 44))
        b = conn.networkDefineXML(net_xml("pyb", 45))
        b.create()
        b.setAutostart(1)
        c = conn.networkCreateXML(net_xml("pyc", 46))

        def names(flags=0):
            return sorted(n.name() for n in conn.listAllNetworks(flags))

        assert names() == ["pya", "pyb", "pyc"]
        assert names(libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE) == ["pyb", "pyc"]
        assert names(libvirt.VIR_CONNECT_LIST_NETWORKS_INACTIVE) == ["pya"]
        assert names(libvirt.VIR_CONNECT_LIST_NETWORKS_PERSISTENT) == ["pya", "pyb"]
        assert names(libvirt.VIR_CONNECT_LIST_NETWORKS_TRANSIENT) == ["pyc"]
        assert names(libvirt.VIR_CONNECT_LIST_NETWORKS_AUTOSTART) == ["pyb"]
        assert names(libvirt.VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART) == ["pya", "pyc"]
        assert names(libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE |
                     libvirt.VIR_CONNECT_LIST_NETWORKS_PERSISTENT) == ["pyb"]
        # The calls older clients fall back to (procedures 52, 38, 50, 36).
        assert (conn.numOfNetworks(), sorted(conn.listNetworks())) == (2, ["pyb", "pyc"])
        assert (conn.numOfDefinedNetworks(), conn.listDefinedNetworks()) == (1, ["pya"])

        same = conn.networkLookupByUUIDString(a.UUIDString())
        assert (same.name(), same.UUID()) == ("pya", a.UUID())
        assert (a.isActive(), a.isPersistent(), a.autostart()) == (0, 1, 0)
        assert (b.isActive(), b.isPersistent(), b.autostart()) == (1, 1, 1)
        assert (c.isActive(), c.isPersistent()) == (1, 0)
        assert b.bridgeName() == str(nc.props(path_of(b.UUIDString()))["Bridge"])
        assert ET.fromstring(c.XMLDesc(0)).find("name").text == "pyc"
        assert c.DHCPLeases() == []
    finally:
        conn.close()


def test_lifecycle_events_reach_virsh_net_event(bridge):
    log_path = os.path.join(bridge["root"], "net-events.log")
    with open(log_path, "w") as out:
        watcher = subprocess.Popen(
            ["stdbuf", "-oL", "virsh", "-c", bridge["rw"], "net-event", "--loop",
             "--event", "lifecycle", "--timeout", "100"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, HOME=bridge["home"]))
        try:
            # Once the bridge has seen the registration, any later change is reported: the
            # registration completes before networkd's next signal reaches the bridge.
            h.wait_until(lambda: "virConnectNetworkEventRegisterAny" in proxyd_log(bridge),
                         20, 0.05, what="virsh net-event to register")
            path = write_file(bridge, "evnet.xml", net_xml("evnet", 47))
            virsh(bridge, "net-define", path)
            virsh(bridge, "net-start", "evnet")
            virsh(bridge, "net-destroy", "evnet")
            virsh(bridge, "net-undefine", "evnet")

            def text():
                with open(log_path) as f:
                    return f.read()
            expected = [f"event 'lifecycle' for network evnet: {e}"
                        for e in ("Defined", "Started", "Stopped", "Undefined")]
            h.wait_until(lambda: all(e in text() for e in expected), 20, 0.05,
                         what="the four lifecycle events")
            lines = [l for l in text().splitlines() if "event 'lifecycle'" in l]
            assert lines == expected
        finally:
            watcher.terminate()
            watcher.wait(10)


def test_a_restarted_networkd_is_followed(bridge):
    virsh(bridge, "net-define", write_file(bridge, "sturdy.xml", net_xml("sturdy", 53)))
    virsh(bridge, "net-start", "sturdy")
    old = nc.networkd_pid()
    os.kill(old, signal.SIGKILL)
    h.wait_for_name_gone(nc.BUS_NAME)
    # The next call activates a new networkd, which re-adopts the running network; the
    # bridge drops what the old one told it and asks the new one.
    assert net_list(bridge, "--all") == {"sturdy": ("active", "no", "yes")}
    assert nc.networkd_pid() != old
    virsh(bridge, "net-destroy", "sturdy")
    assert net_list(bridge, "--all") == {"sturdy": ("inactive", "no", "yes")}
    virsh(bridge, "net-undefine", "sturdy")


# ---------------------------------------------------------------- a guest's lease
def test_dhcp_leases_of_a_booted_guest(bridge):
    mac = "52:54:00:00:05:0a"
    hosts = f"<host mac='{mac}' ip='192.168.48.10' name='leaseguest'/>"
    virsh(bridge, "net-define", write_file(bridge, "leasenet.xml",
                                           net_xml("leasenet", 48, hosts=hosts)))
    virsh(bridge, "net-start", "leasenet")
    bridge_name = net_info(bridge, "leasenet")["Bridge"]

    serial = os.path.join(bridge["root"], "leaseguest.serial")
    nic = (f"<interface type='network'><source network='leasenet'/>"
           f"<mac address='{mac}'/><model type='virtio'/></interface>")
    guest = write_file(bridge, "leaseguest.xml",
                       vc.domain_xml("leaseguest", serial=serial, extra_devices=nic))
    virsh(bridge, "define", guest)
    virsh(bridge, "start", "leaseguest", timeout=180)
    vc.wait_file_contains(serial, "VIRTSWARM-GUEST-IP 192.168.48.10")

    def rows(*extra):
        out = virsh(bridge, "net-dhcp-leases", "leasenet", *extra).stdout
        return [l.split() for l in out.splitlines()[2:] if l.strip()]

    h.wait_until(lambda: rows() != [], 30, 0.2, what="the lease to be recorded")
    [row] = rows()
    # Expiry Time (date and time), MAC address, Protocol, IP address, Hostname, Client ID
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", row[0]) and re.fullmatch(r"\d\d:\d\d:\d\d", row[1])
    assert row[2:6] == [mac, "ipv4", "192.168.48.10/24", "leaseguest"]
    # Filtered by MAC, in any case, as libvirt compares them.
    assert [r[2] for r in rows("--mac", mac.upper())] == [mac]
    assert rows("--mac", "52:54:00:99:99:99") == []

    # domifstat: the TAP's counters as the guest sees them (its DHCP exchange crossed it),
    # by target device and by MAC, as libvirt reads them from /sys/class/net.
    [tap0] = [l.split()[0] for l in virsh(bridge, "domiflist", "leaseguest").stdout
              .splitlines()[2:] if l.strip()]

    def ifstat(device):
        out = virsh(bridge, "domifstat", "leaseguest", device).stdout
        return {l.split()[1]: int(l.split()[2]) for l in out.splitlines() if l.strip()}
    counters = ifstat(tap0)
    assert set(counters) == {"rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes",
                             "tx_packets", "tx_errs", "tx_drop"}, counters
    assert counters["tx_packets"] >= 2 and counters["rx_packets"] >= 2, counters
    with open(f"/sys/class/net/{tap0}/statistics/rx_bytes") as f:
        assert int(f.read()) >= counters["tx_bytes"] > 0       # the host's rx is the guest's tx
    assert ifstat(mac.upper())["rx_bytes"] >= counters["rx_bytes"]

    libvirt, conn = open_libvirt(bridge)
    try:
        [lease] = conn.networkLookupByName("leasenet").DHCPLeases()
        assert (lease["iface"], lease["mac"], lease["ipaddr"], lease["prefix"],
                lease["type"], lease["hostname"]) == \
            (bridge_name, mac, "192.168.48.10", 24, libvirt.VIR_IP_ADDR_TYPE_IPV4, "leaseguest")
        assert lease["expirytime"] > time.time()
        assert lease["iaid"] is None
    finally:
        conn.close()

    # A second NIC on the same network, plugged and unplugged the way virt-manager and
    # `virsh attach-interface` do it (virDomainAttachDeviceFlags, current = live here).
    mac2 = "52:54:00:00:05:0b"

    def interfaces():
        out = virsh(bridge, "domiflist", "leaseguest").stdout
        return {l.split()[4]: l.split()[0] for l in out.splitlines()[2:] if l.strip()}

    virsh(bridge, "attach-interface", "leaseguest", "network", "leasenet", "--model", "virtio",
          "--mac", mac2)
    tap = interfaces()[mac2]
    assert tap.startswith("vstap") and tap != interfaces()[mac]
    assert nc.links()[tap].get("master") == bridge_name
    virsh(bridge, "detach-interface", "leaseguest", "network", "--mac", mac2)
    assert list(interfaces()) == [mac]
    h.wait_until(lambda: tap not in nc.links(), 10, 0.05, what="the unplugged TAP to vanish")
    virsh(bridge, "destroy", "leaseguest")


# ---------------------------------------------------------------- access control
def test_read_only_socket_refuses_changes_but_reads(bridge):
    path = write_file(bridge, "ronet.xml", net_xml("ronet", 49))
    r = virsh(bridge, "net-define", path, uri=bridge["ro"], check=False)
    assert r.returncode == 1
    assert "operation forbidden: read only access prevents virNetworkDefineXML" in r.stderr
    assert net_list(bridge, "--all") == {}
    virsh(bridge, "net-define", path)
    for cmd, api in ((["net-start", "ronet"], "virNetworkCreate"),
                     (["net-autostart", "ronet"], "virNetworkSetAutostart"),
                     (["net-undefine", "ronet"], "virNetworkUndefine"),
                     (["net-create", path], "virNetworkCreateXML")):
        r = virsh(bridge, *cmd, uri=bridge["ro"], check=False)
        assert r.returncode == 1 and f"read only access prevents {api}" in r.stderr, cmd
    # Reading works there.
    assert net_list(bridge, "--all", uri=bridge["ro"]) == {"ronet": ("inactive", "no", "yes")}
    assert "<name>ronet</name>" in virsh(bridge, "net-dumpxml", "ronet", uri=bridge["ro"]).stdout
    libvirt, conn = open_libvirt(bridge, bridge["ro"])
    try:
        assert error_code(libvirt, conn.networkDefineXML, net_xml("ro2", 50)) == \
            OPERATION_DENIED
    finally:
        conn.close()


def test_unprivileged_user_needs_polkit_per_network(bridge):
    user = h.test_user()
    mine = write_file(bridge, "usernet.xml", net_xml("usernet", 51))
    other = write_file(bridge, "othernet.xml", net_xml("othernet", 52))
    virsh(bridge, "net-define", other)
    # Reading is open to everyone; changes need an administrator by default.
    assert "othernet" in virsh(bridge, "net-list", "--all", user=user).stdout
    assert "<name>othernet</name>" in virsh(bridge, "net-dumpxml", "othernet", user=user).stdout
    r = virsh(bridge, "net-define", mine, user=user, check=False)
    assert r.returncode == 1 and "org.virtswarm.network.save" in r.stderr, r.stderr
    # A rule for one network, by the details the bridge passes to polkit.
    rule = ("polkit.addRule(function(action, subject) {\n"
            "    if (action.id.indexOf('org.virtswarm.network.') == 0 &&\n"
            f"        subject.user == '{user}' &&\n"
            "        action.lookup('network_name') == 'usernet')\n"
            "        return polkit.Result.YES;\n"
            "});\n")
    with h.polkit_rule("50-vs-bridge-net.rules", rule):
        assert "Network usernet defined" in virsh(bridge, "net-define", mine, user=user).stdout
        assert "Network usernet started" in virsh(bridge, "net-start", "usernet",
                                                  user=user).stdout
        r = virsh(bridge, "net-start", "othernet", user=user, check=False)
        assert r.returncode == 1 and "org.virtswarm.network.start" in r.stderr
        assert net_list(bridge, "--all") == {"othernet": ("inactive", "no", "yes"),
                                             "usernet": ("active", "no", "yes")}
        virsh(bridge, "net-destroy", "usernet", user=user)
        virsh(bridge, "net-undefine", "usernet", user=user)
    assert "usernet" not in net_list(bridge, "--all")
