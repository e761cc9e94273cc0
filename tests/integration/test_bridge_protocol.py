"""virtswarm-proxyd at the wire level: the libvirt RPC handshake, every kind of bad input,
keepalive, pipelining, read-only enforcement and lifecycle events — with a raw socket, so
each byte is under the test's control (virsh would hide most of it).

Run through tests/harness/with-test-bus (ctest -R integration-test_bridge_protocol).
"""

import os
import signal
import socket
import subprocess
import sys
import uuid as uuidlib

import pytest

import bridgeclient as bc
import vsharness as h
from bridgewire import (AUTH_LIST, CALL, CLOSE, DEFINE_XML, ERROR, EVENT_DEREGISTER, EVENT_LIFECYCLE,
                        EVENT_REGISTER, GET_LIB_VERSION, GET_TYPE, GET_VERSION, KEEPALIVE,
                        LIST_ALL_DOMAINS, LOOKUP_BY_NAME, MESSAGE, OK,
                        OPEN, REMOTE, REPLY, STREAM, SUPPORTS_FEATURE, SUSPEND, UNDEFINE, Conn,
                        Unpacker, frame, i32, opt_string, string, u32)

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")


# ---------------------------------------------------------------- proxyd
@pytest.fixture(scope="module")
def proxyd():
    bridge = bc.Bridge("bridge-proto")
    yield {"rw": bridge.rw, "ro": bridge.ro}
    # Whatever the tests threw at it, it must still be alive, and exit cleanly on SIGTERM.
    bridge.stop()
    assert not os.path.exists(bridge.rw), "sockets are removed at exit"


@pytest.fixture
def conn(proxyd):
    c = Conn(proxyd["rw"])
    yield c
    c.close()


def domain_xml(name, uid=None):
    guest = "/var/cache/virtswarm/test-guest"
    u = f"<uuid>{uid}</uuid>" if uid else ""
    return (f"<domain type='qemu'><name>{name}</name>{u}<memory unit='MiB'>128</memory>"
            f"<vcpu>1</vcpu><os><type>hvm</type><kernel>{guest}/vmlinuz</kernel></os>"
            "<features><acpi/></features></domain>")


def installed_qemu_version():
    """major * 1e6 + minor * 1e3 + micro of the QEMU on this machine, as libvirt reports it."""
    out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True,
                         check=True).stdout
    major, minor, micro = (out.split("version ", 1)[1].split()[0].split(".") + ["0"])[:3]
    return int(major) * 1000000 + int(minor) * 1000 + int(micro)


# ---------------------------------------------------------------- handshake
def test_handshake_and_connection_facts(conn):
    assert conn.ok(SUPPORTS_FEATURE, i32(10)).i32() == 1     # keepalive
    assert conn.ok(SUPPORTS_FEATURE, i32(14)).i32() == 1     # event callbacks
    assert conn.ok(SUPPORTS_FEATURE, i32(15)).i32() == 1     # close callback
    assert conn.ok(SUPPORTS_FEATURE, i32(9)).i32() == 1      # typed param strings
    assert conn.ok(SUPPORTS_FEATURE, i32(1)).i32() == 0      # migration v1
    conn.handshake()
    assert conn.ok(GET_TYPE).string() == "QEMU"
    assert conn.ok(GET_VERSION).u64() == installed_qemu_version()
    assert conn.ok(GET_LIB_VERSION).u64() == 9000000
    assert conn.ok(110).string() == "qemu:///system"          # CONNECT_GET_URI
    conn.ok(360)                                              # register close callback
    conn.ok(361)
    conn.ok(CLOSE)


def test_calls_before_open_are_refused(conn):
    assert conn.err(GET_TYPE)[:2] == (1, 7)
    assert conn.err(LIST_ALL_DOMAINS, i32(1) + u32(0))[:2] == (1, 7)
    conn.handshake()
    assert conn.ok(GET_TYPE).string() == "QEMU"


# ---------------------------------------------------------------- bad input
def test_unknown_programs_and_procedures_get_libvirtds_answers(conn):
    code, dom, msg = conn.err(1, prog=0x12345678)
    assert (code, dom) == (39, 7) and msg == "Cannot find program 305419896 version 1"
    assert conn.err(1, vers=2)[:2] == (39, 7)
    conn.handshake()
    code, dom, msg = conn.err(9999)
    assert (code, dom, msg) == (39, 7, "unknown procedure: 9999")
    assert conn.err(-5)[:2] == (39, 7)
    # A real libvirt procedure the bridge does not implement: NO_SUPPORT, so clients fall back.
    list_all_secrets = 287                   # (int need_results, unsigned flags)
    assert conn.err(list_all_secrets, i32(1) + u32(3))[0] == 3
    assert conn.ok(GET_TYPE).string() == "QEMU"


def test_garbage_arguments_get_a_clean_error_and_the_connection_survives(conn):
    conn.handshake()
    bad = [
        b"",                                  # missing the name
        u32(100) + b"abc",                    # string longer than the payload
        u32(0xFFFFFFF0),                      # hostile length
        string("x") + b"\0\0\0\1",            # trailing bytes
        u32(3) + b"a\0b\0",                   # NUL inside the string
    ]
    for payload in bad:
        code, dom, msg = conn.err(LOOKUP_BY_NAME, payload)
        assert (code, dom) == (39, 7), msg
    assert conn.err(SUPPORTS_FEATURE, b"\0\0")[:2] == (39, 7)
    assert conn.err(OPEN, u32(7))[:2] == (39, 7)                 # bad optional discriminant
    assert conn.ok(GET_TYPE).string() == "QEMU"


def test_error_status_on_a_call_is_refused(conn):
    conn.handshake()
    serial = conn.serial
    conn.serial += 1
    conn.send_raw(frame(REMOTE, GET_TYPE, CALL, serial, status=ERROR))
    m = conn.reply_to(serial)
    assert m[5] == ERROR and Unpacker(m[6]).error()[0] == 39


@pytest.mark.parametrize("length", [0, 20, 27, 16 * 1024 * 1024 + 5, 0xFFFFFFFF])
def test_impossible_lengths_close_only_that_client(proxyd, length):
    victim = Conn(proxyd["rw"])
    bystander = Conn(proxyd["rw"]).handshake()
    victim.send_raw(u32(length) + b"\0" * 24)
    assert victim.is_closed()
    victim.close()
    assert bystander.ok(GET_TYPE).string() == "QEMU"
    bystander.close()


def test_a_frame_in_pieces_is_reassembled(conn):
    conn.handshake()
    msg = frame(REMOTE, GET_TYPE, CALL, 77)
    for b in msg:
        conn.send_raw(bytes([b]))
    m = conn.reply_to(77)
    assert m[5] == OK and Unpacker(m[6]).string() == "QEMU"


def test_stray_replies_and_messages_are_ignored(conn):
    conn.handshake()
    conn.send_raw(frame(REMOTE, GET_TYPE, REPLY, 500))
    conn.send_raw(frame(REMOTE, EVENT_LIFECYCLE, MESSAGE, 501))
    conn.send_raw(frame(REMOTE, 201, STREAM, 502, status=2, payload=b"data"))
    conn.send_raw(frame(0x12345678, 1, MESSAGE, 503))
    conn.send_raw(frame(KEEPALIVE, 2, MESSAGE, 0))          # a PONG nobody asked for
    serial = conn.send_call(GET_TYPE)
    m = conn.recv_message()
    assert m[3] == REPLY and m[4] == serial, "nothing may answer the stray messages"


def test_keepalive_ping_gets_pong(conn):
    conn.send_raw(frame(KEEPALIVE, 1, MESSAGE, 0))
    m = conn.recv_message()
    assert m[:6] == (KEEPALIVE, 1, 2, MESSAGE, 0, OK) and m[6] == b""


def test_pipelined_calls_are_all_answered(conn):
    conn.handshake()
    data = b""
    for s in range(1000, 1200):
        proc = GET_TYPE if s % 2 else LOOKUP_BY_NAME
        payload = b"" if s % 2 else string(f"nosuch{s}")
        data += frame(REMOTE, proc, CALL, s, OK, payload)
    conn.send_raw(data)
    seen = {}
    while len(seen) < 200:
        m = conn.recv_message()
        assert m is not None
        seen[m[4]] = m
    for s, m in seen.items():
        if s % 2:
            assert m[5] == OK and m[2] == GET_TYPE
        else:
            assert m[5] == ERROR and Unpacker(m[6]).error()[0] == 42   # NO_DOMAIN


def test_many_clients_at_once(proxyd):
    conns = [Conn(proxyd["rw"]).handshake() for _ in range(40)]
    for c in conns:
        assert c.ok(GET_TYPE).string() == "QEMU"
    for c in conns:
        c.close()


def test_missing_domain_is_no_domain(conn):
    conn.handshake()
    code, dom, msg = conn.err(LOOKUP_BY_NAME, string("nosuch"))
    assert (code, dom) == (42, 6) and "nosuch" in msg
    assert conn.err(24, uuidlib.uuid4().bytes)[0] == 42          # by UUID
    assert conn.err(22, i32(4242))[0] == 42                      # by id


# ---------------------------------------------------------------- connection URIs
@pytest.mark.parametrize("uri", ["lxc:///system", "xen:///", "bhyve:///system", "vbox:///session",
                                 "uml:///system", "vz:///system", "test:///default",
                                 "qemu:///session", "qemu://elsewhere/system"])
def test_only_the_bridges_own_uri_opens(conn, uri):
    """As libvirtd with no driver for the URI: VIR_ERR_NO_CONNECT, and the connection stays
    unopened (a client probing drivers sees only QEMU; root's qemu:///session is its own
    session swarm, not the system's domains)."""
    assert conn.ok(AUTH_LIST).u32() == 1
    code, _, msg = conn.err(OPEN, opt_string(uri) + u32(0))
    assert code == 5 and msg.startswith(f"no connection driver available for {uri}"), msg
    assert conn.err(LIST_ALL_DOMAINS, i32(1) + u32(0))[:2] == (1, 7)   # still not open
    conn.ok(OPEN, opt_string("qemu:///system") + u32(0))
    assert conn.ok(110).string() == "qemu:///system"


def test_no_uri_opens_the_default(conn):
    assert conn.ok(AUTH_LIST).u32() == 1
    conn.ok(OPEN, u32(0) + u32(0))                               # remote_string absent
    assert conn.ok(110).string() == "qemu:///system"


def test_virsh_and_python_are_refused_other_drivers(proxyd):
    home = bc.virsh_home(h.env("VS_TEST_ROOT"))
    for scheme in ("lxc", "xen", "qemu"):
        path = "session" if scheme == "qemu" else "system"
        uri = f"{scheme}+unix:///{path}?socket={proxyd['rw']}"
        r = bc.virsh(home, uri, "list", "--all", check=False)
        assert r.returncode == 1, r.stdout
        assert f"no connection driver available for {scheme}:///{path}" in r.stderr, r.stderr
    script = ("import libvirt, sys\n"
              "try:\n"
              f"    libvirt.open('vbox+unix:///session?socket={proxyd['rw']}')\n"
              "except libvirt.libvirtError as e:\n"
              "    print(e.get_error_code())\n"
              "    sys.exit(0)\n"
              "sys.exit(1)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split()[-1] == "5", out.stdout + out.stderr


# ---------------------------------------------------------------- read-only
def test_read_only_socket_forces_read_only(proxyd):
    ro = Conn(proxyd["ro"]).handshake(flags=0)      # asks for read-write; gets read-only
    result = ro.ok(LIST_ALL_DOMAINS, i32(1) + u32(0))
    assert result.u32() >= 0
    code, dom, msg = ro.err(DEFINE_XML, string(domain_xml("ro-denied")))
    assert code == 29 and "read only" in msg
    ro.close()


def test_read_only_flag_on_the_read_write_socket(proxyd):
    c = Conn(proxyd["rw"]).handshake(flags=1)
    assert c.err(DEFINE_XML, string(domain_xml("ro-denied")))[0] == 29
    c.close()


# ---------------------------------------------------------------- domains & events
def test_define_lookup_undefine_with_events(proxyd, conn):
    listener = Conn(proxyd["rw"]).handshake()
    ids = [listener.ok(EVENT_REGISTER, i32(e) + u32(0)).i32() for e in range(27)]
    assert len(set(ids)) == 27, "a distinct callback id for every event id"
    assert listener.err(EVENT_REGISTER, i32(99) + u32(0))[0] == 8
    lifecycle_id = ids[0]

    conn.handshake()
    uid = str(uuidlib.uuid4())
    name, raw_uuid, dom_id = conn.ok(DEFINE_XML, string(domain_xml("proto1", uid))).domain()
    assert (name, raw_uuid, dom_id) == ("proto1", uuidlib.UUID(uid).bytes, -1)
    dom = string(name) + raw_uuid + i32(-1)

    ev = listener.recv_message()
    assert ev[2] == EVENT_LIFECYCLE and ev[3] == MESSAGE
    u = Unpacker(ev[6])
    assert u.i32() == lifecycle_id
    assert u.domain()[0] == "proto1"
    assert (u.i32(), u.i32()) == (0, 0)                          # DEFINED, ADDED

    assert conn.ok(LOOKUP_BY_NAME, string("proto1")).domain()[1] == raw_uuid
    state = conn.ok(212, dom + u32(0))
    assert (state.i32(), state.i32()) == (5, 0)                   # shut off
    # The registry may or may not have Suspend yet: NO_SUPPORT (method unknown) or
    # OPERATION_INVALID (not running), never a dropped connection.
    assert conn.err(SUSPEND, dom)[0] in (3, 55)
    assert conn.err(9, string("proto1") + uuidlib.uuid4().bytes + i32(-1))[0] == 42

    conn.ok(UNDEFINE, dom)
    ev = listener.recv_message()
    u = Unpacker(ev[6])
    u.i32()
    assert u.domain()[0] == "proto1" and (u.i32(), u.i32()) == (1, 0)   # UNDEFINED
    h.wait_until(lambda: conn.call(LOOKUP_BY_NAME, string("proto1"))[0] == ERROR, 10,
                 what="the undefined domain to disappear")

    for cb in ids:
        listener.ok(EVENT_DEREGISTER, i32(cb))
    assert listener.err(EVENT_DEREGISTER, i32(lifecycle_id))[0] == 8
    listener.close()


def test_malformed_xml_is_xml_detail(conn):
    conn.handshake()
    assert conn.err(DEFINE_XML, string("<domain"))[0] == 35      # VIR_ERR_XML_DETAIL


# ---------------------------------------------------------------- other listeners
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_listener_is_read_only():
    root = h.env("VS_TEST_ROOT")
    port = free_port()
    sock = os.path.join(root, "bridge-tcp", "libvirt-sock")
    proc, log = bc.spawn([f"{h.env('VS_BUILD_DIR')}/bridge-libvirt/virtswarm-proxyd",
                              "--socket", sock, "--socket-ro", sock + "-ro",
                              "--tcp", f"127.0.0.1:{port}"], "tcp")
    try:
        def connected():
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=1)
            except OSError:
                return None
        c = Conn.__new__(Conn)
        c.sock = h.wait_until(connected, 20, what="the TCP listener")
        c.sock.settimeout(30)
        c.serial, c.buf = 0, b""
        c.handshake()
        assert c.ok(GET_TYPE).string() == "QEMU"
        assert c.ok(149).i32() == 0                                  # CONNECT_IS_SECURE: no
        # No peer credentials over TCP, so nothing polkit would have to decide is allowed.
        assert c.err(DEFINE_XML, string(domain_xml("tcp-denied")))[0] == 29
        c.close()
        # virsh speaks the same protocol over TCP (no TLS, AUTH_NONE).
        r = subprocess.run(["virsh", "-c", f"qemu+tcp://127.0.0.1:{port}/system", "list", "--all"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
    finally:
        bc.stop(proc, log)


def test_systemd_socket_activation():
    """The sockets come from the service manager (LISTEN_FDS, FileDescriptorName=rw/ro)."""
    root = h.env("VS_TEST_ROOT")
    rw = os.path.join(root, "activated-rw.sock")
    ro = os.path.join(root, "activated-ro.sock")
    # systemd-socket-activate passes on only PATH, HOME, USER and TERM: name the test
    # bus (and the sanitizer settings) explicitly, or the daemon would look for the host's.
    keep = [a for v in ("DBUS_SYSTEM_BUS_ADDRESS", "ASAN_OPTIONS", "UBSAN_OPTIONS")
            if v in os.environ for a in ("-E", v)]
    proc, log = bc.spawn(["systemd-socket-activate", "-l", rw, "-l", ro, "--fdname=rw:ro",
                              *keep, f"{h.env('VS_BUILD_DIR')}/bridge-libvirt/virtswarm-proxyd"],
                             "activated")
    try:
        h.wait_until(lambda: os.path.exists(ro), 20, what="the activation sockets")
        w = Conn(rw).handshake()           # the first connection starts the daemon
        assert w.err(DEFINE_XML, string("<domain"))[0] == 35          # parsed (XML_DETAIL): read-write
        r = Conn(ro).handshake()
        assert r.err(DEFINE_XML, string("<domain"))[0] == 29          # read-only socket
        w.close()
        r.close()
    finally:
        bc.stop(proc, log)


def test_a_restarted_registry_is_followed(proxyd, conn):
    """The cache belongs to one registry instance: when the registry is replaced (here:
    killed, then activated again by the bridge's next call), the cache is rebuilt."""
    conn.handshake()
    uid = str(uuidlib.uuid4())
    conn.ok(DEFINE_XML, string(domain_xml("proto-restart", uid)))
    bus = h.bus_daemon()
    old_pid = int(bus.GetConnectionUnixProcessID("org.virtswarm.Hypervisor1"))
    os.kill(old_pid, signal.SIGKILL)
    h.wait_for_name_gone("org.virtswarm.Hypervisor1")

    # The persistent definition survives; the bridge finds it through the new instance.
    def found():
        status, u = conn.call(LOOKUP_BY_NAME, string("proto-restart"))
        # (a lookup may still be answered from the old cache before the bridge has seen
        # the registry leave; only an answer with a new registry on the bus counts)
        return (status == OK and u.domain()[1] == uuidlib.UUID(uid).bytes and
                h.name_has_owner("org.virtswarm.Hypervisor1"))
    h.wait_until(found, 30, 0.05, what="the bridge to see the restarted registry")
    assert int(bus.GetConnectionUnixProcessID("org.virtswarm.Hypervisor1")) != old_pid
    dom = string("proto-restart") + uuidlib.UUID(uid).bytes + i32(-1)
    conn.ok(UNDEFINE, dom)
