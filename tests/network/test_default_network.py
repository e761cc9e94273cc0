"""The `default` NAT network a fresh host gets, as libvirt-daemon-config-network gives it:
networkd defines it once on the first 192.168.12x.0/24 the host does not route, marks it
autostart and starts it; an admin's undefine sticks; VIRTSWARM_DEFAULT_NETWORK=no turns
it off. networkd is started here as the host's boot starts it, with the switch set as
each test says (the harness switches it off for every other test)."""

import os
import signal
import subprocess

import pytest

import netclient as nc
import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."

pytestmark = pytest.mark.skipif(os.environ.get("VS_NETNS") != "1",
                                reason="needs the harness's private network namespace")


def marker() -> str:
    return os.path.join(h.env("VIRTSWARM_STATE_DIR"), "network", "default-network-provisioned")


def boot_log() -> str:
    return os.path.join(h.env("VS_TEST_ROOT"), "networkd-boot.log")


def stop_networkd() -> None:
    if h.name_has_owner(nc.BUS_NAME):
        os.kill(nc.networkd_pid(), signal.SIGTERM)
        h.wait_for_name_gone(nc.BUS_NAME, timeout=30)


@pytest.fixture
def boot():
    """boot(switch) restarts networkd with VIRTSWARM_DEFAULT_NETWORK=switch."""
    started = []

    def start(switch: str) -> None:
        stop_networkd()
        networkd = os.path.join(h.env("VS_BUILD_DIR"), "services", "networkd",
                                "virtswarm-networkd")
        env = {**os.environ, "VIRTSWARM_DEFAULT_NETWORK": switch}
        with open(boot_log(), "w") as log:
            started.append(subprocess.Popen([networkd, "--system"], env=env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log))
        h.wait_for_name(nc.BUS_NAME, timeout=30)

    yield start
    nc.cleanup_all()
    stop_networkd()
    for p in started:
        p.wait(timeout=30)


@pytest.fixture
def fresh_host():
    """A host on which networkd never ran: no networks, no provisioning marker."""
    nc.cleanup_all()
    stop_networkd()
    if os.path.exists(marker()):
        os.remove(marker())


def default_network() -> str:
    return str(nc.manager().LookupByName("default", timeout=vc.TIMEOUT))


def wait_active(path: str) -> None:
    h.wait_until(lambda: bool(nc.props(path)["Active"]), 30, 0.05, "default to start")


def test_fresh_host_gets_an_autostarted_nat_network_on_192_168_122(fresh_host, boot):
    boot("yes")
    path = default_network()
    p = nc.props(path)
    assert (bool(p["Persistent"]), bool(p["Autostart"])) == (True, True)
    wait_active(path)
    bridge = str(nc.props(path)["Bridge"])
    assert bridge.startswith("vsbr")
    assert "192.168.122.1/24" in nc.addresses(bridge)
    xml = str(nc.network(path).GetXML(vc.no_options()))
    assert "<forward mode='nat'/>" in xml or '<forward mode="nat"/>' in xml
    assert "192.168.122.254" in xml
    assert "ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 masquerade" in \
        nc.firewall_rules()
    assert os.path.exists(marker())


def test_undefined_default_network_is_not_recreated(fresh_host, boot):
    boot("yes")
    path = default_network()
    wait_active(path)
    nc.network(path).Stop(vc.no_options(), timeout=vc.TIMEOUT)
    nc.network(path).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
    boot("yes")
    assert vc.error_name(nc.manager().LookupByName, "default") == ERR + "NoSuchNetwork"
    assert nc.list_networks() == []


def test_a_route_on_192_168_122_makes_it_pick_the_next_subnet(fresh_host, boot):
    subprocess.run(["ip", "link", "add", "vsroute0", "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "link", "set", "vsroute0", "up"], check=True)
        subprocess.run(["ip", "route", "add", "192.168.122.0/24", "dev", "vsroute0"],
                       check=True)
        boot("yes")
        path = default_network()
        wait_active(path)
        assert "192.168.123.1/24" in nc.addresses(str(nc.props(path)["Bridge"]))
    finally:
        subprocess.run(["ip", "link", "del", "vsroute0"], check=True)


def test_an_existing_network_named_default_is_kept_as_it_is(fresh_host, boot):
    boot("no")
    mine = nc.define(nc.nat_xml("default", 150))
    boot("yes")
    assert default_network() == mine
    assert not bool(nc.props(mine)["Autostart"])
    assert not bool(nc.props(mine)["Active"])
    assert nc.list_networks() == [mine]
    assert os.path.exists(marker())


def test_switched_off_provisions_nothing(fresh_host, boot):
    boot("no")
    assert nc.list_networks() == []
    assert not os.path.exists(marker())


def test_a_misspelt_switch_is_reported_and_provisions_nothing(fresh_host, boot):
    boot("maybe")
    assert nc.list_networks() == []
    assert not os.path.exists(marker())
    with open(boot_log()) as f:
        assert "VIRTSWARM_DEFAULT_NETWORK='maybe' is not valid (yes or no)" in f.read()
