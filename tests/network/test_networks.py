"""virtswarm-networkd in a private network namespace: networks, firewall, DHCP, TAPs,
guests talking to each other, bad input and restarts."""

import os
import signal
import subprocess

import pytest

import bridgeclient as bc
import netclient as nc
import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."

pytestmark = pytest.mark.skipif(os.environ.get("VS_NETNS") != "1",
                                reason="needs the harness's private network namespace")


def dnsmasq_pids():
    out = subprocess.run(["pgrep", "-x", "dnsmasq"], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def test_nat_network_lifecycle_and_exact_firewall_rules():
    path = nc.define(nc.nat_xml("natnet", 150))
    p = nc.props(path)
    assert (p["Name"], p["Active"], p["Persistent"]) == ("natnet", False, True)
    bridge = str(p["Bridge"])
    assert bridge.startswith("vsbr")
    assert bridge not in nc.links()
    nc.network(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert bool(nc.props(path)["Active"])
    assert "192.168.150.1/24" in nc.addresses(bridge)
    assert len(dnsmasq_pids()) == 1
    assert nc.firewall_rules() == [
        f'iifname "{bridge}" udp dport {{ 53, 67, 547 }} accept',
        f'iifname "{bridge}" tcp dport 53 accept',
        f'iifname "{bridge}" oifname "{bridge}" accept',
        f'iifname "{bridge}" ip saddr 192.168.150.0/24 accept',
        f'oifname "{bridge}" ip daddr 192.168.150.0/24 ct state established,related accept',
        f'iifname "{bridge}" reject',
        f'oifname "{bridge}" reject',
        "ip saddr 192.168.150.0/24 ip daddr != 192.168.150.0/24 masquerade",
    ]
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "1"
    xml = str(nc.network(path).GetXML(vc.no_options()))
    assert f"name=\"{bridge}\"" in xml
    nc.network(path).Stop(vc.no_options(), timeout=vc.TIMEOUT)
    assert bridge not in nc.links()
    assert nc.firewall_rules() is None
    h.wait_until(lambda: dnsmasq_pids() == [], 10, 0.05, "dnsmasq to exit")


def test_isolated_and_nat_side_by_side():
    nat = nc.define(nc.nat_xml("natnet", 151))
    iso = nc.define(nc.nat_xml("isonet", 152, mode=""))
    for p in (nat, iso):
        nc.network(p).Start(vc.no_options(), timeout=vc.TIMEOUT)
    isobr = str(nc.props(iso)["Bridge"])
    rules = nc.firewall_rules()
    # The isolated network neither forwards nor masquerades, it only refuses.
    iso_rules = [r for r in rules if f'"{isobr}"' in r or "192.168.152." in r]
    assert iso_rules == [
        f'iifname "{isobr}" udp dport {{ 53, 67, 547 }} accept',
        f'iifname "{isobr}" tcp dport 53 accept',
        f'iifname "{isobr}" oifname "{isobr}" accept',
        f'iifname "{isobr}" reject',
        f'oifname "{isobr}" reject',
    ]
    assert sum("masquerade" in r for r in rules) == 1
    nc.network(nat).Stop(vc.no_options(), timeout=vc.TIMEOUT)
    assert not any("192.168.151." in r for r in nc.firewall_rules())
    nc.network(iso).Stop(vc.no_options(), timeout=vc.TIMEOUT)
    assert nc.firewall_rules() is None


def test_bad_input_is_a_named_error_and_changes_nothing():
    path = nc.define(nc.nat_xml("base", 160))
    nc.network(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    before = (nc.list_networks(), nc.firewall_rules(), sorted(nc.links()))
    cases = [
        ("<network><name>x</name", ERR + "MalformedXML"),
        ("<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
         "<range start='10.0.1.10' end='10.0.1.20'/></dhcp></ip></network>", ERR + "InvalidXML"),
        ("<network><name>x</name><ip address='300.0.0.1'/></network>", ERR + "InvalidXML"),
        ("<network><name>x</name><forward mode='hostdev'/></network>", ERR + "ConfigUnsupported"),
        (nc.nat_xml("overlap", 160), ERR + "Conflict"),
        (nc.nat_xml("base", 161), ERR + "NetworkExists"),
        ("<network><name>br</name><bridge name='" + str(nc.props(path)["Bridge"]) +
         "'/></network>", ERR + "Conflict"),
    ]
    for xml, expected in cases:
        assert vc.error_name(nc.manager().DefineXML, xml, vc.no_options()) == expected, xml
    assert vc.error_name(nc.network(path).Start, vc.no_options()) == ERR + "InvalidState"
    assert vc.error_name(nc.network(path).Undefine, vc.no_options()) == ERR + "InvalidState"
    assert vc.error_name(nc.manager().LookupByName, "nope") == ERR + "NoSuchNetwork"
    assert vc.error_name(nc.manager().AcquireTap, "nope", vc.no_options()) == \
        ERR + "NoSuchNetwork"
    assert (nc.list_networks(), nc.firewall_rules(), sorted(nc.links())) == before


def test_acquire_tap_is_polkit_checked_and_lives_as_long_as_its_fd():
    path = nc.define(nc.nat_xml("tapnet", 170))
    nc.network(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    bridge = str(nc.props(path)["Bridge"])
    # Root: a TAP on the bridge that vanishes with the fd.
    fd, ifname = nc.manager().AcquireTap("tapnet", {"mac": "52:54:00:12:34:56"})
    fd = fd.take()
    assert nc.links()[str(ifname)].get("master") == bridge
    os.close(fd)
    h.wait_until(lambda: str(ifname) not in nc.links(), 10, 0.05, "TAP to vanish")

    call = [os.path.join(vc.HERE, "dbus_call.py"), nc.ROOT, nc.MANAGER + ".AcquireTap",
            repr("tapnet"), repr({})]
    # A user without a rule cannot get one (acquire-tap defaults to auth_admin).
    r = h.run_as(h.test_user(), ["/usr/bin/python3", *call],
                 env={**os.environ, "VS_DBUS_DEST": nc.BUS_NAME})
    assert r.returncode != 0
    assert "InteractiveAuthorizationRequired" in r.stderr or "AccessDenied" in r.stderr
    with h.polkit_rule("60-vs-tap.rules",
                       h.allow_rule_js("org.virtswarm.network.acquire-tap", h.test_user())):
        r = h.run_as(h.test_user(), ["/usr/bin/python3", *call],
                     env={**os.environ, "VS_DBUS_DEST": nc.BUS_NAME})
        assert r.returncode == 0, r.stderr
        assert "vstap" in r.stdout
    with h.polkit_rule("60-vs-tap.rules", h.allow_rule_js(
            "org.virtswarm.network.acquire-tap", h.test_user(), "NO")):
        r = h.run_as(h.test_user(), ["/usr/bin/python3", *call],
                     env={**os.environ, "VS_DBUS_DEST": nc.BUS_NAME})
        assert r.returncode != 0 and "org.freedesktop.DBus.Error.AccessDenied" in r.stderr


def guest_on(network_name, name, mac, ping=""):
    log = os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")
    nic = (f"<interface type='network'><source network='{network_name}'/>"
           f"<mac address='{mac}'/><model type='virtio'/></interface>")
    xml = vc.domain_xml(name, serial=log, extra_devices=nic)
    if ping:
        xml = xml.replace("panic=-1", f"panic=-1 virtswarm.ping={ping}")
    return vc.define(xml), log


def test_two_guests_get_leases_and_reach_each_other():
    hosts = ("<host mac='52:54:00:00:01:0a' ip='192.168.180.10' name='guesta'/>"
             "<host mac='52:54:00:00:01:0b' ip='192.168.180.11' name='guestb'/>")
    net = nc.define(nc.nat_xml("lan", 180, hosts=hosts))
    nc.network(net).Start(vc.no_options(), timeout=vc.TIMEOUT)
    a, alog = guest_on("lan", "guesta", "52:54:00:00:01:0a", ping="192.168.180.11,192.168.180.1")
    b, blog = guest_on("lan", "guestb", "52:54:00:00:01:0b", ping="192.168.180.10")
    for d in (a, b):
        vc.domain(d).Start(vc.no_options(), timeout=vc.TIMEOUT)
    vc.wait_file_contains(alog, "VIRTSWARM-GUEST-IP 192.168.180.10")
    vc.wait_file_contains(blog, "VIRTSWARM-GUEST-IP 192.168.180.11")
    vc.wait_file_contains(alog, "VIRTSWARM-PING 192.168.180.11 ok")
    vc.wait_file_contains(alog, "VIRTSWARM-PING 192.168.180.1 ok")
    vc.wait_file_contains(blog, "VIRTSWARM-PING 192.168.180.10 ok")
    leases = nc.network(net).GetDHCPLeases(vc.no_options())
    got = sorted((str(l["mac"]), str(l["ipaddr"]), str(l["hostname"])) for l in leases)
    assert got == [("52:54:00:00:01:0a", "192.168.180.10", "guesta"),
                   ("52:54:00:00:01:0b", "192.168.180.11", "guestb")]
    only_a = nc.network(net).GetDHCPLeases({"mac": "52:54:00:00:01:0a"})
    assert [str(l["ipaddr"]) for l in only_a] == ["192.168.180.10"]
    # The live XML names the TAP; the stats count its traffic.
    live = str(vc.domain(a).GetXML(vc.no_options()))
    assert "<target dev=\"vstap" in live
    stats = vc.domain(a).GetStats(vc.no_options())
    assert str(stats["net.0.name"]).startswith("vstap")
    assert int(stats["net.0.tx.bytes"]) > 0 and int(stats["net.0.rx.bytes"]) > 0
    # virsh domifaddr's default source is the leases, read on a read-only connection too:
    # one row per NIC with a lease, named after its TAP.
    proxyd = bc.Bridge("bridge-leases")
    try:
        home = bc.virsh_home(proxyd.root)
        for uri in (proxyd.rw_uri, proxyd.ro_uri):
            rows = [line.split() for line in
                    bc.virsh(home, uri, "-q", "domifaddr", "guesta").stdout.splitlines()
                    if line.strip()]
            assert rows == [[str(stats["net.0.name"]), "52:54:00:00:01:0a", "ipv4",
                             "192.168.180.10/24"]], rows
        # Asking the guest agent is a write: not on the read-only connection.
        r = bc.virsh(home, proxyd.ro_uri, "domifaddr", "guesta", "--source", "agent",
                     check=False)
        assert r.returncode != 0 and "read only" in r.stderr.lower(), r.stderr
    finally:
        proxyd.stop()


def test_killing_networkd_keeps_vm_connectivity_and_it_readopts_everything():
    net = nc.define(nc.nat_xml("sturdy", 190, hosts=(
        "<host mac='52:54:00:00:02:0a' ip='192.168.190.10' name='solo'/>")))
    nc.network(net).Start(vc.no_options(), timeout=vc.TIMEOUT)
    bridge = str(nc.props(net)["Bridge"])
    d, log = guest_on("sturdy", "solo", "52:54:00:00:02:0a", ping="192.168.190.1")
    vc.domain(d).Start(vc.no_options(), timeout=vc.TIMEOUT)
    vc.wait_file_contains(log, "VIRTSWARM-PING 192.168.190.1 ok")
    rules = nc.firewall_rules()
    dnsmasq = dnsmasq_pids()
    taps = [n for n, l in nc.links().items() if l.get("master") == bridge]
    assert len(taps) == 1

    os.kill(nc.networkd_pid(), signal.SIGKILL)
    h.wait_for_name_gone(nc.BUS_NAME)
    # Nothing the VM depends on went away with networkd.
    assert [n for n, l in nc.links().items() if l.get("master") == bridge] == taps
    assert nc.firewall_rules() == rules
    assert dnsmasq_pids() == dnsmasq
    # The next call activates a new networkd, which re-adopts the network as it is.
    assert bool(nc.props(net)["Active"])
    assert nc.list_networks() == [net]
    assert dnsmasq_pids() == dnsmasq
    assert nc.firewall_rules() == rules
    assert len(nc.network(net).GetDHCPLeases(vc.no_options())) == 1
    vc.domain(d).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: not [n for n, l in nc.links().items() if l.get("master") == bridge],
                 10, 0.05, "the TAP to vanish with QEMU")
    nc.network(net).Stop(vc.no_options(), timeout=vc.TIMEOUT)
    assert nc.firewall_rules() is None


def test_active_network_records_use_the_runtime_key_and_old_dashed_ones_are_renamed():
    """The live definition of an active network is <32 hex>.xml in networkd's runtime
    dir, the one UUID form of runtime dirs; a record an older networkd left under the
    dashed UUID is re-adopted, renamed, and removed by Stop like any other."""
    net = nc.define(nc.nat_xml("legacy", 195))
    nc.network(net).Start(vc.no_options(), timeout=vc.TIMEOUT)
    uuid = str(nc.props(net)["UUID"])
    rundir = os.path.join(h.env("VIRTSWARM_RUNTIME_DIR"), "network")
    keyed = os.path.join(rundir, uuid.replace("-", "") + ".xml")
    dashed = os.path.join(rundir, uuid + ".xml")
    assert os.path.exists(keyed) and not os.path.exists(dashed)

    os.kill(nc.networkd_pid(), signal.SIGKILL)
    h.wait_for_name_gone(nc.BUS_NAME)
    os.rename(keyed, dashed)
    # The next call activates a new networkd, which re-adopts the network from that record.
    assert bool(nc.props(net)["Active"])
    assert os.path.exists(keyed) and not os.path.exists(dashed)
    nc.network(net).Stop(vc.no_options(), timeout=vc.TIMEOUT)
    assert not os.path.exists(keyed)


def test_routed_ipv6_and_host_bridge_networks():
    routed = nc.define("<network><name>routed</name><forward mode='route'/>"
                       "<ip address='10.77.0.1' prefix='24'/>"
                       "<ip family='ipv6' address='fd77::1' prefix='64'/></network>")
    nc.network(routed).Start(vc.no_options(), timeout=vc.TIMEOUT)
    br = str(nc.props(routed)["Bridge"])
    assert {"10.77.0.1/24", "fd77::1/64"} <= set(nc.addresses(br))
    rules = nc.firewall_rules()
    assert f'oifname "{br}" ip6 daddr fd77::/64 accept' in rules
    assert not any("masquerade" in r for r in rules)
    with open("/proc/sys/net/ipv6/conf/all/forwarding") as f:
        assert f.read().strip() == "1"

    # A bridge the host owns: networkd only attaches TAPs to it, adds no rules or address.
    subprocess.run(["ip", "link", "add", "hostbr0", "type", "bridge"], check=True)
    try:
        host = nc.define("<network><name>hostnet</name><forward mode='bridge'/>"
                         "<bridge name='hostbr0'/></network>")
        nc.network(host).Start(vc.no_options(), timeout=vc.TIMEOUT)
        assert nc.firewall_rules() == rules
        fd, ifname = nc.manager().AcquireTap("hostnet", vc.no_options())
        assert nc.links()[str(ifname)].get("master") == "hostbr0"
        os.close(fd.take())
        fd, ifname = nc.manager().AcquireTap("", {"bridge": "hostbr0"})
        assert nc.links()[str(ifname)].get("master") == "hostbr0"
        os.close(fd.take())
        assert vc.error_name(nc.manager().AcquireTap, "", {"bridge": "lo"}) == \
            ERR + "OperationFailed"
        nc.network(host).Stop(vc.no_options(), timeout=vc.TIMEOUT)
        # Stopping does not remove a bridge that belongs to the host.
        assert "hostbr0" in nc.links()
    finally:
        subprocess.run(["ip", "link", "del", "hostbr0"], check=False)


def test_hotplugged_nic_gets_its_tap_through_the_monitor():
    """A NIC on a network plugged into a running guest: networkd makes the TAP, QEMU gets
    it over QMP (getfd) and is then its only holder; unplugging frees it."""
    net = nc.define(nc.nat_xml("hot", 200))
    nc.network(net).Start(vc.no_options(), timeout=vc.TIMEOUT)
    bridge = str(nc.props(net)["Bridge"])
    log = os.path.join(h.env("VS_TEST_ROOT"), "hotnic.serial")
    d = vc.define(vc.domain_xml("hotnic", serial=log))
    vc.domain(d).Start(vc.no_options(), timeout=vc.TIMEOUT)
    vc.wait_file_contains(log, "VIRTSWARM-GUEST-READY")
    mac = "52:54:00:00:03:0a"
    nic = (f"<interface type='network'><source network='hot'/><mac address='{mac}'/>"
           "<model type='virtio'/></interface>")

    def taps():
        return {n: l for n, l in nc.links().items() if l.get("master") == bridge}

    assert taps() == {}
    vc.domain(d).AttachDevice(nic, vc.no_options(), timeout=vc.TIMEOUT)
    plugged = taps()
    assert len(plugged) == 1
    (tap, link), = plugged.items()
    # The shim closed its copy at once: the TAP still being there with a carrier means
    # QEMU holds it.
    assert "LOWER_UP" in link["flags"], link
    live = str(vc.domain(d).GetXML(vc.no_options()))
    assert mac in live and f"<target dev=\"{tap}\"" in live
    assert mac not in str(vc.domain(d).GetXML({"inactive": True}))
    stats = vc.domain(d).GetStats(vc.no_options())
    assert int(stats["net.count"]) == 1 and str(stats["net.0.name"]) == tap

    # Plugging the same NIC twice is refused and leaves no second TAP behind.
    assert vc.error_name(vc.domain(d).AttachDevice, nic, vc.no_options()).startswith(ERR)
    assert list(taps()) == [tap]

    vc.domain(d).DetachDevice(nic, vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: taps() == {}, 10, 0.05, "the TAP to vanish with its netdev")
    assert mac not in str(vc.domain(d).GetXML(vc.no_options()))
    assert vc.props(d)["State"] == "running"
    vc.domain(d).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    nc.network(net).Stop(vc.no_options(), timeout=vc.TIMEOUT)
