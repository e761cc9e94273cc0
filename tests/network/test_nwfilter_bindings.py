"""Filter bindings of virtswarm-nwfilterd, in the harness's private network namespace: a
bridge with two "guests" (network namespaces behind veth pairs, one port each). The
guest whose port is bound to clean-traffic talks TCP with its peer, but the frames it forges
(another source MAC, another source IP, ARP replies for another guest's address, other
ethertypes) never reach the peer; unbinding, redefining a filter and restarting nwfilterd
(kill -9) each leave the port exactly as filtered as its binding says. Frames are
crafted and captured with AF_PACKET sockets inside the namespaces."""

import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import time
import uuid as uuidlib

import dbus
import pytest

import bridgeclient as bc
import nwfilterclient as nf
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(os.environ.get("VS_NETNS") != "1",
                                reason="needs the harness's private network namespace")

BRIDGE = "nfbr0"
GUEST_PORT, PEER_PORT = "nfguest0", "nfpeer0"
GUEST_MAC, PEER_MAC = "52:54:00:77:00:02", "52:54:00:77:00:03"
GUEST_IP, PEER_IP = "10.77.0.2", "10.77.0.3"
BROADCAST = "ff:ff:ff:ff:ff:ff"
CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
# Named namespaces are files in the host's /run/netns: unique per run, removed at the end.
GUEST_NS, PEER_NS = f"vsnf-guest-{os.getpid()}", f"vsnf-peer-{os.getpid()}"


@pytest.fixture(autouse=True)
def clean_slate():
    """Replaces the directory's network clean-up: no networkd here. Every test leaves no
    binding behind."""
    yield
    for port in nf.manager().ListBindings(nf.opts()):
        nf.manager().DeleteBinding(port, nf.opts(), timeout=nf.TIMEOUT)


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module", autouse=True)
def topology():
    try:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "link", "set", BRIDGE, "up")
        for ns, port, mac, ip in [(GUEST_NS, GUEST_PORT, GUEST_MAC, GUEST_IP),
                                  (PEER_NS, PEER_PORT, PEER_MAC, PEER_IP)]:
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            run("ip", "link", "set", port, "master", BRIDGE, "up")
            run("ip", "-n", ns, "link", "set", "eth0", "address", mac, "up")
            run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        yield
    finally:
        teardown()


def teardown():
    for ns in [GUEST_NS, PEER_NS]:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    subprocess.run(["ip", "link", "del", BRIDGE], check=False)


_libc = ctypes.CDLL(None, use_errno=True)


def packet_socket(ns: str) -> socket.socket:
    """An AF_PACKET socket on eth0 of namespace `ns` (made inside it, used from here)."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        assert _libc.setns(target, CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind(("eth0", 0))
    finally:
        assert _libc.setns(home, CLONE_NEWNET) == 0
        os.close(home)
        os.close(target)
    s.setblocking(False)
    # Room for a whole test's frames (as root: SO_RCVBUFFORCE), so none is lost for space.
    s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
    return s


def mac_bytes(mac: str) -> bytes:
    return bytes(int(b, 16) for b in mac.split(":"))


def checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def udp_frame(src_mac: str, src_ip: str, token: bytes, dst_ip: str = "10.77.0.255",
              ports: tuple = (40000, 9)) -> bytes:
    payload = token
    udp = struct.pack("!HHHH", *ports, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return mac_bytes(BROADCAST) + mac_bytes(src_mac) + b"\x08\x00" + ip + udp


def arp_reply(src_mac: str, claimed_ip: str, token: bytes) -> bytes:
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, mac_bytes(src_mac),
                       socket.inet_aton(claimed_ip), mac_bytes(PEER_MAC),
                       socket.inet_aton(PEER_IP))
    return mac_bytes(PEER_MAC) + mac_bytes(src_mac) + b"\x08\x06" + body + token


def other_l2_frame(src_mac: str, token: bytes) -> bytes:
    """IEEE 802's local experimental ethertype: neither IPv4 nor ARP."""
    return mac_bytes(BROADCAST) + mac_bytes(src_mac) + b"\x88\xb5" + token


def delivered(frames: dict) -> set:
    """Sends each frame (by name) from the guest; the names of those the peer received."""
    guest, peer = packet_socket(GUEST_NS), packet_socket(PEER_NS)
    try:
        tokens = {}
        for name, make in frames.items():
            token = f"vs-{name}-{uuidlib.uuid4().hex}".encode()
            tokens[token] = name
            guest.send(make(token))
        seen = set()
        deadline = time.monotonic() + 1.5  # frames cross a veth and a bridge: microseconds
        while time.monotonic() < deadline and len(seen) < len(tokens):
            try:
                data = peer.recv(65536)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            for token, name in tokens.items():
                if token in data:
                    seen.add(name)
        return seen
    finally:
        guest.close()
        peer.close()


FORGERIES = {
    "own": lambda t: udp_frame(GUEST_MAC, GUEST_IP, t),
    "foreign-mac": lambda t: udp_frame("52:54:00:77:00:99", GUEST_IP, t),
    "foreign-ip": lambda t: udp_frame(GUEST_MAC, "10.77.0.50", t),
    "arp-own": lambda t: arp_reply(GUEST_MAC, GUEST_IP, t),
    "arp-for-peer": lambda t: arp_reply(GUEST_MAC, PEER_IP, t),
    "other-l2": lambda t: other_l2_frame(GUEST_MAC, t),
}


ECHO_SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7777))
s.listen()
print("listening", flush=True)
s.settimeout(30)
c, _ = s.accept()
c.sendall(c.recv(100))
"""

ECHO_CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], 7777), timeout=10)
c.sendall(b"hello through the filter")
print(c.recv(100).decode())
"""


def guest_talks() -> bool:
    """The guest's ordinary traffic, through the kernels' own stacks: ARP resolution both
    ways, then a TCP connection to the peer and an echo."""
    server = subprocess.Popen(["ip", "netns", "exec", PEER_NS, "/usr/bin/python3", "-c",
                               ECHO_SERVER, PEER_IP], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening"
        client = subprocess.run(["ip", "netns", "exec", GUEST_NS, "/usr/bin/python3", "-c",
                                 ECHO_CLIENT, PEER_IP], capture_output=True, text=True,
                                timeout=60)
        return client.returncode == 0 and client.stdout.strip() == "hello through the filter"
    finally:
        server.kill()
        server.wait()


def table() -> dict:
    out = subprocess.run(["nft", "-j", "list", "table", "bridge", "virtswarm-nwfilter"],
                         capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def ruleset() -> str:
    """The table as nft prints it (no handles: comparable across rebuilds)."""
    return subprocess.run(["nft", "list", "table", "bridge", "virtswarm-nwfilter"],
                          capture_output=True, text=True).stdout


def chains_of(port: str) -> list[str]:
    return sorted(item["chain"]["name"] for item in table().get("nftables", [])
                  if "chain" in item and item["chain"]["name"].startswith(port + "-"))


def nwfilterd_pid() -> int:
    return int(h.bus_daemon().GetConnectionUnixProcessID(nf.BUS_NAME))


def test_unfiltered_port_delivers_everything():
    assert delivered(FORGERIES) == set(FORGERIES)  # the test can see a forgery pass


def test_clean_traffic_stops_forgeries_and_lets_the_guest_talk():
    assert nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic", IP=GUEST_IP) == GUEST_PORT
    assert guest_talks()
    assert delivered(FORGERIES) == {"own", "arp-own"}
    assert list(nf.manager().ListBindings(nf.opts())) == [GUEST_PORT]
    xml = str(nf.manager().GetBindingXML(GUEST_PORT, nf.opts(), timeout=nf.TIMEOUT))
    assert f"<portdev name=\"{GUEST_PORT}\"/>" in xml and GUEST_IP in xml
    assert chains_of(GUEST_PORT) and not chains_of(PEER_PORT)
    # Unbinding removes the port's chains: everything passes again.
    nf.manager().DeleteBinding(GUEST_PORT, nf.opts(), timeout=nf.TIMEOUT)
    assert chains_of(GUEST_PORT) == []
    assert delivered(FORGERIES) == set(FORGERIES)


def test_list_variable_allows_each_address():
    nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic", IP=[GUEST_IP, "10.77.0.50"])
    assert delivered(FORGERIES) == {"own", "foreign-ip", "arp-own"}


def test_binding_twice_and_bad_parameters_change_nothing():
    nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic", IP=GUEST_IP)
    before = ruleset()
    assert (nf.error_name(nf.bind, GUEST_PORT, GUEST_MAC, "allow-ipv4")
            == nf.ERR + "Conflict")
    assert (nf.error_name(nf.bind, PEER_PORT, PEER_MAC, "allow-dhcp-server")
            == "org.freedesktop.DBus.Error.InvalidArgs")  # no $DHCPSERVER
    assert (nf.error_name(nf.bind, PEER_PORT, PEER_MAC, "clean-traffic", IP="10.77.0.3 drop")
            == "org.freedesktop.DBus.Error.InvalidArgs")  # not an address: never reaches nft
    assert ruleset() == before


def test_redefining_a_filter_updates_bound_ports_in_one_step():
    nf.define("<filter name='t-guard' chain='root'>"
              "<filterref filter='no-mac-spoofing'/></filter>")
    try:
        nf.bind(GUEST_PORT, GUEST_MAC, "t-guard")
        assert delivered(FORGERIES) == set(FORGERIES) - {"foreign-mac"}
        # Now also DHCP answers only from $DHCPSERVER, which the binding does not give.
        err = nf.error_name(nf.define, "<filter name='t-guard' chain='root'>"
                            "<filterref filter='no-mac-spoofing'/>"
                            "<filterref filter='allow-dhcp-server'/></filter>")
        assert err == "org.freedesktop.DBus.Error.InvalidArgs"
        assert "allow-dhcp-server" not in nf.xml_of("t-guard")
        assert delivered(FORGERIES) == set(FORGERIES) - {"foreign-mac"}
        nf.manager().DeleteBinding(GUEST_PORT, nf.opts(), timeout=nf.TIMEOUT)
        nf.bind(GUEST_PORT, GUEST_MAC, "t-guard", IP=GUEST_IP)
        # A frame stream keeps flowing while the filter is redefined: every own frame
        # passes, before, during and after (no window without the chains).
        guest, peer = packet_socket(GUEST_NS), packet_socket(PEER_NS)
        sent = []
        redefined = False
        for i in range(300):
            token = f"vs-stream-{i}-".encode() + uuidlib.uuid4().hex.encode()
            sent.append(token)
            guest.send(udp_frame(GUEST_MAC, GUEST_IP, token))
            time.sleep(0.002)
            if i == 50:
                nf.define("<filter name='t-guard' chain='root'>"
                          "<filterref filter='no-mac-spoofing'/>"
                          "<filterref filter='no-ip-spoofing'/></filter>")
                redefined = True
        assert redefined
        received = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(received) < len(sent):
            try:
                data = peer.recv(65536)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            for token in sent:
                if token in data:
                    received.add(token)
        guest.close()
        peer.close()
        assert received == set(sent)
        assert delivered(FORGERIES) == set(FORGERIES) - {"foreign-mac", "foreign-ip"}
        # A filter a bound port uses cannot be undefined.
        assert nf.error_name(nf.undefine, "t-guard") == nf.ERR + "InvalidState"
    finally:
        for port in nf.manager().ListBindings(nf.opts()):
            nf.manager().DeleteBinding(port, nf.opts(), timeout=nf.TIMEOUT)
        nf.undefine("t-guard")


def test_bindings_survive_kill_9_of_nwfilterd():
    nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic", IP=GUEST_IP)
    rules_before = ruleset()
    os.kill(nwfilterd_pid(), signal.SIGKILL)
    h.wait_for_name_gone(nf.BUS_NAME, 30)
    # The table outlives the daemon: the port stays filtered meanwhile.
    assert delivered(FORGERIES) == {"own", "arp-own"}
    # Rebuilt from the recorded binding by the next nwfilterd (activated by this call).
    assert list(nf.manager().ListBindings(nf.opts())) == [GUEST_PORT]
    assert ruleset() == rules_before
    assert delivered(FORGERIES) == {"own", "arp-own"}
    assert guest_talks()


def test_binding_goes_with_its_port_device():
    """A port device that disappears takes its binding along (a TAP closes with QEMU), also
    when it went while no nwfilterd ran; a new device of the same name starts unfiltered."""
    run("ip", "link", "add", "nfgone0", "type", "veth", "peer", "name", "nfgone1")
    nf.bind("nfgone0", GUEST_MAC, "no-mac-spoofing")
    assert chains_of("nfgone0")
    run("ip", "link", "del", "nfgone0")
    h.wait_until(lambda: "nfgone0" not in nf.manager().ListBindings(nf.opts()), 30, 0.05,
                 "the binding to go with its device")
    # The binding is gone at once; its chains with the nft transaction that follows.
    h.wait_until(lambda: chains_of("nfgone0") == [], 30, 0.05, "its chains to go")
    # Gone while nwfilterd was dead: dropped by the next one.
    run("ip", "link", "add", "nfgone0", "type", "veth", "peer", "name", "nfgone1")
    nf.bind("nfgone0", GUEST_MAC, "no-mac-spoofing")
    os.kill(nwfilterd_pid(), signal.SIGKILL)
    h.wait_for_name_gone(nf.BUS_NAME, 30)
    run("ip", "link", "del", "nfgone0")
    assert list(nf.manager().ListBindings(nf.opts())) == []
    assert chains_of("nfgone0") == []


def test_virsh_nwfilter_binding_commands():
    proxyd = bc.Bridge("bridge-nwbinding")
    try:
        home = bc.virsh_home(proxyd.root)
        path = os.path.join(home, "binding.xml")
        with open(path, "w") as f:
            f.write(nf.binding_xml(GUEST_PORT, GUEST_MAC, "clean-traffic", IP=GUEST_IP))
        os.chmod(path, 0o644)
        out = bc.virsh(home, proxyd.rw_uri, "nwfilter-binding-create", path).stdout
        assert GUEST_PORT in out
        assert list(nf.manager().ListBindings(nf.opts())) == [GUEST_PORT]
        assert delivered(FORGERIES) == {"own", "arp-own"}
        listed = bc.virsh(home, proxyd.rw_uri, "-q", "nwfilter-binding-list").stdout.split()
        assert listed == [GUEST_PORT, "clean-traffic"]
        dumped = bc.virsh(home, proxyd.rw_uri, "nwfilter-binding-dumpxml", GUEST_PORT).stdout
        assert GUEST_IP in dumped and GUEST_MAC in dumped
        r = bc.virsh(home, proxyd.rw_uri, "nwfilter-binding-create", path, check=False)
        assert r.returncode != 0  # the port has a binding
        bc.virsh(home, proxyd.rw_uri, "nwfilter-binding-delete", GUEST_PORT)
        assert list(nf.manager().ListBindings(nf.opts())) == []
        assert chains_of(GUEST_PORT) == []
    finally:
        proxyd.stop()


# CTRL_IP_LEARNING=dhcp. The DHCP server is played by the peer namespace: it sends
# hand-made DHCPACK frames (AF_PACKET) to the guest's MAC, as a server on the bridge would.
ROGUE_SERVER = "10.77.0.99"


def dhcp_ack(server_ip: str, client_mac: str, leased_ip: str, seconds: int,
             src_mac: str = PEER_MAC) -> bytes:
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 2, 1, 6, 0, 0x5653, 0, 0,
                        bytes(4), socket.inet_aton(leased_ip), bytes(4), bytes(4),
                        mac_bytes(client_mac), b"", b"")
    options = (b"\x63\x82\x53\x63" + b"\x35\x01\x05" + b"\x36\x04" + socket.inet_aton(server_ip)
               + b"\x33\x04" + struct.pack("!I", seconds) + b"\xff")
    payload = bootp + options
    udp = struct.pack("!HHHH", 67, 68, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(server_ip), socket.inet_aton("255.255.255.255"))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return mac_bytes(client_mac) + mac_bytes(src_mac) + b"\x08\x00" + ip + udp


def send_from(ns: str, frame: bytes) -> None:
    s = packet_socket(ns)
    try:
        s.send(frame)
    finally:
        s.close()


def bind_learning(**params) -> None:
    nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic", CTRL_IP_LEARNING="dhcp",
            DHCPSERVER=PEER_IP, **params)


def test_dhcp_learning_lets_only_the_leased_address_pass():
    bind_learning()
    # Nothing learned: no IPv4 or ARP from the guest passes, whatever address it uses.
    assert delivered(FORGERIES) == set()
    # Answers that must teach nothing: from a server not in DHCPSERVER, for another MAC,
    # and an "ACK" the guest sends itself (its own frames never count).
    send_from(PEER_NS, dhcp_ack(ROGUE_SERVER, GUEST_MAC, GUEST_IP, 3600))
    send_from(PEER_NS, dhcp_ack(PEER_IP, "52:54:00:77:00:42", GUEST_IP, 3600))
    send_from(GUEST_NS, dhcp_ack(PEER_IP, GUEST_MAC, GUEST_IP, 3600, src_mac=GUEST_MAC))
    time.sleep(1.0)
    assert GUEST_IP not in ruleset()
    assert delivered(FORGERIES) == set()
    # The trusted server's ACK: the leased address, and only it, passes.
    send_from(PEER_NS, dhcp_ack(PEER_IP, GUEST_MAC, GUEST_IP, 3600))
    h.wait_until(lambda: GUEST_IP in ruleset(), 30, 0.05, "the leased IP in the port's rules")
    assert delivered(FORGERIES) == {"own", "arp-own"}
    assert guest_talks()
    # libvirt's XML of the binding is unchanged: it has no learned address.
    xml = str(nf.manager().GetBindingXML(GUEST_PORT, nf.opts(), timeout=nf.TIMEOUT))
    assert GUEST_IP not in xml and "CTRL_IP_LEARNING" in xml
    # kill -9: the next nwfilterd keeps the learned address (saved with the binding).
    os.kill(nwfilterd_pid(), signal.SIGKILL)
    h.wait_for_name_gone(nf.BUS_NAME, 30)
    assert list(nf.manager().ListBindings(nf.opts())) == [GUEST_PORT]
    assert GUEST_IP in ruleset()
    assert delivered(FORGERIES) == {"own", "arp-own"}


def test_learned_address_goes_when_its_lease_ends():
    bind_learning()
    send_from(PEER_NS, dhcp_ack(PEER_IP, GUEST_MAC, GUEST_IP, 4))
    h.wait_until(lambda: GUEST_IP in ruleset(), 30, 0.05, "the leased IP in the port's rules")
    assert delivered({"own": FORGERIES["own"]}) == {"own"}
    h.wait_until(lambda: GUEST_IP not in ruleset(), 60, 0.1, "the lease to end")
    assert delivered(FORGERIES) == set()


def test_ip_learning_modes():
    # none: $IP stays empty, nothing is learned.
    nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic", CTRL_IP_LEARNING="none")
    send_from(PEER_NS, dhcp_ack(PEER_IP, GUEST_MAC, GUEST_IP, 3600))
    time.sleep(1.0)
    assert delivered(FORGERIES) == set()
    nf.manager().DeleteBinding(GUEST_PORT, nf.opts(), timeout=nf.TIMEOUT)
    # An unknown mode is refused and binds nothing.
    assert nf.error_name(nf.bind, GUEST_PORT, GUEST_MAC, "clean-traffic",
                         CTRL_IP_LEARNING="sometimes") == "org.freedesktop.DBus.Error.InvalidArgs"
    assert list(nf.manager().ListBindings(nf.opts())) == []


def test_real_dhcp_exchange_teaches_the_leased_address():
    """A real server and client: dnsmasq in the peer namespace, busybox udhcpc in the guest
    (its script is /bin/true: the lease is taken, the guest's own address stays)."""
    bind_learning()
    leases = f"/tmp/vsnf-leases-{os.getpid()}"
    server = subprocess.Popen(
        ["ip", "netns", "exec", PEER_NS, "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
         "--port=0", "--interface=eth0", "--bind-interfaces", "--user=root",
         "--pid-file=", f"--dhcp-leasefile={leases}",
         "--dhcp-range=10.77.0.50,10.77.0.60,1h"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = subprocess.run(
            ["ip", "netns", "exec", GUEST_NS, "busybox", "udhcpc", "-i", "eth0", "-n", "-q",
             "-f", "-t", "5", "-T", "2", "-s", "/bin/true"],
            capture_output=True, text=True, timeout=60)
        assert client.returncode == 0, client.stderr
        leased = h.wait_until(
            lambda: next((f"10.77.0.{n}" for n in range(50, 61)
                          if f"10.77.0.{n} " in ruleset()), None),
            30, 0.05, "the leased IP in the port's rules")
        assert delivered({"leased": lambda t: udp_frame(GUEST_MAC, leased, t),
                          "own": FORGERIES["own"]}) == {"leased"}
    finally:
        server.kill()
        server.wait()
        if os.path.exists(leases):
            os.unlink(leases)


# CTRL_IP_LEARNING=any, libvirt's default: the first address the guest itself uses (ARP
# sender, IPv4 source) or a DHCP server leases it.
def arp_request(src_mac: str, sender_ip: str, token: bytes = b"",
                target_ip: str = GUEST_IP) -> bytes:
    """A broadcast ARP request: gratuitous when it asks for its own sender address, a
    probe when the sender is 0.0.0.0."""
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac_bytes(src_mac),
                       socket.inet_aton(sender_ip), bytes(6), socket.inet_aton(target_ip))
    return mac_bytes(BROADCAST) + mac_bytes(src_mac) + b"\x08\x06" + body + token


FOREIGN_MAC, MOVED_IP = "52:54:00:77:00:99", "10.77.0.50"
# What the guest may send before it is learned: of it, only the DHCP request passes, and
# none of it teaches an address.
TEACHES_NOTHING = {
    "dhcp-discover": lambda t: udp_frame(GUEST_MAC, "0.0.0.0", t, "255.255.255.255", (68, 67)),
    "arp-probe": lambda t: arp_request(GUEST_MAC, "0.0.0.0", t),
    "foreign-mac-ip": lambda t: udp_frame(FOREIGN_MAC, MOVED_IP, t),
    "foreign-mac-arp": lambda t: arp_request(FOREIGN_MAC, MOVED_IP, t, MOVED_IP),
    "multicast-source": lambda t: udp_frame(GUEST_MAC, "224.0.0.9", t),
    "broadcast-source": lambda t: udp_frame(GUEST_MAC, "255.255.255.255", t),
    "other-l2": lambda t: other_l2_frame(GUEST_MAC, t),
}


def forget_neighbours() -> None:
    """No ARP left over from other tests: the guest's kernel sends nothing of its own."""
    for ns in [GUEST_NS, PEER_NS]:
        run("ip", "-n", ns, "neigh", "flush", "all")


def test_any_learning_takes_the_first_address_the_guest_uses():
    forget_neighbours()
    # No IP and no CTRL_IP_LEARNING: clean-traffic binds, and learns.
    nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic")
    assert delivered(TEACHES_NOTHING) == {"dhcp-discover"}
    time.sleep(1.0)
    assert GUEST_IP not in ruleset() and MOVED_IP not in ruleset()
    # A gratuitous ARP of the guest's address teaches it (the tap sees it though the port's
    # rules drop it): that address, and only it, passes.
    send_from(GUEST_NS, arp_request(GUEST_MAC, GUEST_IP))
    h.wait_until(lambda: GUEST_IP in ruleset(), 30, 0.05, "the guest's IP in the port's rules")
    assert delivered(FORGERIES) == {"own", "arp-own"}
    assert guest_talks()
    # The guest cannot move itself: another address of its own teaches nothing.
    send_from(GUEST_NS, arp_request(GUEST_MAC, MOVED_IP, target_ip=MOVED_IP))
    send_from(GUEST_NS, udp_frame(GUEST_MAC, MOVED_IP, b"moved"))
    time.sleep(1.0)
    assert MOVED_IP not in ruleset()
    assert delivered(FORGERIES) == {"own", "arp-own"}
    # libvirt's XML of the binding is unchanged: it has no learned address.
    xml = str(nf.manager().GetBindingXML(GUEST_PORT, nf.opts(), timeout=nf.TIMEOUT))
    assert GUEST_IP not in xml
    # kill -9: the next nwfilterd keeps the learned address (it has no end).
    rules_before = ruleset()
    os.kill(nwfilterd_pid(), signal.SIGKILL)
    h.wait_for_name_gone(nf.BUS_NAME, 30)
    assert list(nf.manager().ListBindings(nf.opts())) == [GUEST_PORT]
    assert ruleset() == rules_before
    assert delivered(FORGERIES) == {"own", "arp-own"}


def test_any_learning_from_an_ipv4_source_and_never_from_a_probe():
    forget_neighbours()
    nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic", CTRL_IP_LEARNING="any")
    send_from(GUEST_NS, arp_request(GUEST_MAC, "0.0.0.0"))
    send_from(GUEST_NS, arp_request(FOREIGN_MAC, MOVED_IP, target_ip=MOVED_IP))
    time.sleep(1.0)
    assert GUEST_IP not in ruleset() and MOVED_IP not in ruleset()
    send_from(GUEST_NS, udp_frame(GUEST_MAC, GUEST_IP, b"first"))
    h.wait_until(lambda: GUEST_IP in ruleset(), 30, 0.05, "the guest's IP in the port's rules")
    assert delivered(FORGERIES) == {"own", "arp-own"}


def test_any_learning_gives_way_to_a_dhcp_lease():
    """A DHCPACK replaces what the guest's traffic taught, with the lease's end; then the
    guest's traffic teaches again."""
    forget_neighbours()
    nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic")
    send_from(GUEST_NS, arp_request(GUEST_MAC, GUEST_IP))
    h.wait_until(lambda: GUEST_IP in ruleset(), 30, 0.05, "the guest's IP in the port's rules")
    send_from(PEER_NS, dhcp_ack(PEER_IP, GUEST_MAC, MOVED_IP, 4))
    h.wait_until(lambda: MOVED_IP in ruleset() and GUEST_IP not in ruleset(), 30, 0.05,
                 "the leased IP in place of the learned one")
    assert delivered({"leased": lambda t: udp_frame(GUEST_MAC, MOVED_IP, t),
                      "own": FORGERIES["own"]}) == {"leased"}
    h.wait_until(lambda: MOVED_IP not in ruleset(), 60, 0.1, "the lease to end")
    send_from(GUEST_NS, udp_frame(GUEST_MAC, GUEST_IP, b"again"))
    h.wait_until(lambda: GUEST_IP in ruleset(), 30, 0.05, "the guest's IP learned again")


# Bindings as objects on the bus (libvirt's nwfilter-binding objects).
BINDING = "org.virtswarm.NWFilter1.Binding"
OWNER_UUID = "3c7c1c4e-9c55-4c2f-a2e8-0d6a1b0f7f01"  # nf.binding_xml's owner


def binding_path(port: str) -> str:
    return "/org/virtswarm/NWFilter1/binding/" + "".join(
        c if c.isascii() and c.isalnum() else f"_{ord(c):02x}" for c in port)


def binding_props(port: str) -> dict:
    obj = h.system_bus().get_object(nf.BUS_NAME, binding_path(port))
    return dbus.Interface(obj, nf.PROPS).GetAll(BINDING)


def managed_bindings() -> dict:
    objects = dbus.Interface(h.system_bus().get_object(nf.BUS_NAME, nf.ROOT),
                             "org.freedesktop.DBus.ObjectManager").GetManagedObjects()
    return {str(path): ifaces for path, ifaces in objects.items() if BINDING in ifaces}


def test_bindings_are_objects_on_the_bus():
    forget_neighbours()
    path = binding_path(GUEST_PORT)
    recorder = vc.SignalRecorder("type='signal',path_namespace='/org/virtswarm/NWFilter1'")
    try:
        nf.bind(GUEST_PORT, GUEST_MAC, "clean-traffic")
        recorder.wait_for("InterfacesAdded", path, BINDING)
        assert binding_props(GUEST_PORT) == {
            "PortDev": GUEST_PORT, "Mac": GUEST_MAC, "FilterName": "clean-traffic",
            "OwnerName": "guest", "OwnerUUID": OWNER_UUID, "LearnedIPs": []}
        assert list(managed_bindings()) == [path]
        obj = h.system_bus().get_object(nf.BUS_NAME, path)
        introspection = str(dbus.Interface(obj, "org.freedesktop.DBus.Introspectable")
                            .Introspect())
        assert f'interface name="{BINDING}"' in introspection and "LearnedIPs" in introspection
        xml = str(dbus.Interface(obj, BINDING).GetXML(nf.opts(), timeout=nf.TIMEOUT))
        assert xml == str(nf.manager().GetBindingXML(GUEST_PORT, nf.opts(), timeout=nf.TIMEOUT))
        # The learned address: the property and PropertiesChanged.
        send_from(GUEST_NS, arp_request(GUEST_MAC, GUEST_IP))
        h.wait_until(lambda: list(binding_props(GUEST_PORT)["LearnedIPs"]) == [GUEST_IP], 30,
                     0.05, "LearnedIPs to hold the guest's address")
        recorder.wait_for("PropertiesChanged", "LearnedIPs", GUEST_IP)
        # A restarted nwfilterd serves the recorded binding with what it learned.
        os.kill(nwfilterd_pid(), signal.SIGKILL)
        h.wait_for_name_gone(nf.BUS_NAME, 30)
        assert list(nf.manager().ListBindings(nf.opts())) == [GUEST_PORT]
        assert list(binding_props(GUEST_PORT)["LearnedIPs"]) == [GUEST_IP]
        nf.manager().DeleteBinding(GUEST_PORT, nf.opts(), timeout=nf.TIMEOUT)
        recorder.wait_for("InterfacesRemoved", path)
        assert managed_bindings() == {}
        assert (nf.error_name(binding_props, GUEST_PORT)
                == "org.freedesktop.DBus.Error.UnknownObject")
    finally:
        recorder.stop()


def test_binding_object_lease_end_and_polkit():
    """A DHCP lease's end empties LearnedIPs (PropertiesChanged); GetXML is
    org.virtswarm.nwfilter-binding.read, open to anyone unless a rule says otherwise."""
    recorder = vc.SignalRecorder("type='signal',path_namespace='/org/virtswarm/NWFilter1'")
    try:
        bind_learning()
        send_from(PEER_NS, dhcp_ack(PEER_IP, GUEST_MAC, GUEST_IP, 4))
        h.wait_until(lambda: list(binding_props(GUEST_PORT)["LearnedIPs"]) == [GUEST_IP], 30,
                     0.05, "LearnedIPs to hold the leased address")
        h.wait_until(lambda: list(binding_props(GUEST_PORT)["LearnedIPs"]) == [], 60, 0.1,
                     "the lease to end")
        # Two PropertiesChanged: learned, then forgotten.
        h.wait_until(lambda: recorder.text().count('"LearnedIPs"') >= 2, 30, 0.05,
                     "PropertiesChanged for the forgotten address")
    finally:
        recorder.stop()
    user = h.test_user()
    path = binding_path(GUEST_PORT)
    r = nf.call_as(user, path, f"{BINDING}.GetXML", {})
    assert r.returncode == 0 and GUEST_PORT in r.stdout, r.stderr
    with h.polkit_rule("60-nwfilter-binding-test.rules",
                       h.allow_rule_js("org.virtswarm.nwfilter-binding.read", user, "NO")):
        r = nf.call_as(user, path, f"{BINDING}.GetXML", {})
        assert r.returncode == 1 and "AccessDenied" in r.stderr, r.stderr
        r = nf.call_as(user, nf.ROOT, f"{nf.MANAGER}.GetBindingXML", GUEST_PORT, {})
        assert r.returncode == 1 and "AccessDenied" in r.stderr, r.stderr
