"""Secrets leak: a VNC passwd was dropped when QEMU started (the server offered security
type None to anyone), and GetXML / virsh dumpxml showed it to every user, also on the
read-only socket. Now QEMU gets the password over its monitor before the guest runs, and
the XML shows it only with the option "secure" and polkit org.virtswarm.domain.read-secure.
A SPICE passwd (once refused as unsupported) takes the same way: QMP set_password with
protocol spice, ticketing on from the start."""

import socket
import struct

import dbus
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

import bridgeclient as bc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

PASSWORD = "Vs3cr3t!"
DENIED = ("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
          "org.freedesktop.DBus.Error.AccessDenied")
RFB_NONE, RFB_VNC_AUTH = 1, 2
# SPICE link protocol (spice-protocol's protocol.h): "REDQ", version 2.2, the main
# channel, and the link results a server sends after the ticket.
SPICE_MAGIC, SPICE_MAIN_CHANNEL = b"REDQ", 1
SPICE_LINK_OK, SPICE_LINK_PERMISSION_DENIED = 0, 7


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vnc_xml(name, port):
    graphics = (f"<graphics type='vnc' port='{port}' autoport='no' listen='127.0.0.1' "
                f"passwd='{PASSWORD}' passwdValidTo='2099-12-31T23:59:59'/>")
    return vc.domain_xml(name, extra_devices=graphics)


def rfb_security_types(port):
    """The security types a VNC server offers in an RFB 3.8 handshake."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")
        version = f.read(12)
        assert version.startswith(b"RFB "), version
        s.sendall(b"RFB 003.008\n")
        (count,) = struct.unpack("B", f.read(1))
        assert count > 0, f.read()
        return sorted(f.read(count))


def spice_link(port, password):
    """Links a SPICE client to the main channel with `password` as its ticket, the way
    spice-gtk does without SASL (RSA-OAEP with the server's key, NUL included). Returns
    the server's link result."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")
        # SpiceLinkMess: connection id, channel type, channel id, no capabilities.
        mess = struct.pack("<IBBIII", 0, SPICE_MAIN_CHANNEL, 0, 0, 0, 18)
        s.sendall(SPICE_MAGIC + struct.pack("<III", 2, 2, len(mess)) + mess)
        magic, major, _minor, size = struct.unpack("<4sIII", f.read(16))
        assert magic == SPICE_MAGIC and major == 2, (magic, major)
        reply = f.read(size)
        (error,) = struct.unpack("<I", reply[:4])
        assert error == SPICE_LINK_OK, error
        key = serialization.load_der_public_key(reply[4:4 + 162])
        ticket = key.encrypt(password.encode() + b"\0",
                             padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()),
                                          algorithm=hashes.SHA1(), label=None))
        s.sendall(ticket)
        (result,) = struct.unpack("<I", f.read(4))
        return result


def user_get_xml(path, options):
    return vc.call_as(h.test_user(), path, vc.DOMAIN + ".GetXML", options)


@pytest.fixture
def vnc_guest():
    """A running guest with a VNC password (conftest removes every domain after a test)."""
    name = vc.unique("vnc")
    port = free_port()
    path = vc.define(vnc_xml(name, port))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    return {"name": name, "path": path, "port": port}


def test_vnc_requires_the_password_and_it_is_not_on_the_command_line(vnc_guest):
    assert rfb_security_types(vnc_guest["port"]) == [RFB_VNC_AUTH]
    with open(f"/proc/{vc.qemu_pid(vnc_guest['path'])}/cmdline", "rb") as f:
        cmdline = f.read()
    assert PASSWORD.encode() not in cmdline
    assert b"password=on" in cmdline


def test_get_xml_shows_the_password_only_to_secure_readers(vnc_guest):
    path = vnc_guest["path"]
    for options in ({}, {"inactive": True}):
        r = user_get_xml(path, options)
        assert r.returncode == 0, r.stderr
        assert "<graphics" in r.stdout and PASSWORD not in r.stdout and "passwd=" not in r.stdout
        r = user_get_xml(path, dict(options, secure=True))
        assert r.returncode != 0 and any(e in r.stderr for e in DENIED), r.stderr
        plain = str(vc.domain(path).GetXML(dbus.Dictionary(options, signature="sv"),
                                           timeout=vc.TIMEOUT))
        assert "passwd=" not in plain
        secure = str(vc.domain(path).GetXML(
            dbus.Dictionary(dict(options, secure=True), signature="sv"), timeout=vc.TIMEOUT))
        assert f"passwd='{PASSWORD}'" in secure or f'passwd="{PASSWORD}"' in secure


def test_spice_requires_the_password_and_it_is_not_on_the_command_line():
    name = vc.unique("spice")
    port = free_port()
    graphics = (f"<graphics type='spice' port='{port}' autoport='no' listen='127.0.0.1' "
                f"passwd='{PASSWORD}' passwdValidTo='2099-12-31T23:59:59'/>")
    path = vc.define(vc.domain_xml(name, extra_devices=graphics))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)

    assert spice_link(port, "wrong") == SPICE_LINK_PERMISSION_DENIED
    assert spice_link(port, "") == SPICE_LINK_PERMISSION_DENIED
    assert spice_link(port, PASSWORD) == SPICE_LINK_OK
    with open(f"/proc/{vc.qemu_pid(path)}/cmdline", "rb") as f:
        cmdline = f.read()
    assert PASSWORD.encode() not in cmdline
    assert b"-spice" in cmdline and b"disable-ticketing" not in cmdline

    r = user_get_xml(path, {})
    assert r.returncode == 0, r.stderr
    assert "type='spice'" in r.stdout or 'type="spice"' in r.stdout
    assert PASSWORD not in r.stdout and "passwd=" not in r.stdout
    secure = str(vc.domain(path).GetXML(dbus.Dictionary({"secure": True}, signature="sv"),
                                        timeout=vc.TIMEOUT))
    assert PASSWORD in secure


def test_spice_without_a_password_lets_any_client_in():
    """The control for the test above: the same handshake succeeds with any ticket when the
    definition has no password (ticketing disabled, as libvirt does)."""
    name = vc.unique("spice-open")
    port = free_port()
    graphics = f"<graphics type='spice' port='{port}' autoport='no' listen='127.0.0.1'/>"
    path = vc.define(vc.domain_xml(name, extra_devices=graphics))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert spice_link(port, "anything") == SPICE_LINK_OK


def test_a_read_secure_rule_lets_a_user_see_the_password(vnc_guest):
    with h.polkit_rule("60-vs-read-secure.rules",
                       h.allow_rule_js("org.virtswarm.domain.read-secure", h.test_user())):
        r = user_get_xml(vnc_guest["path"], {"secure": True})
    assert r.returncode == 0, r.stderr
    assert PASSWORD in r.stdout


@pytest.fixture(scope="module")
def bridge():
    proxyd = bc.Bridge("bridge-secrets")
    yield {"proxyd": proxyd, "home": bc.virsh_home(proxyd.root)}
    proxyd.stop()


def test_virsh_dumpxml_keeps_the_password_from_read_only_and_unprivileged_clients(
        vnc_guest, bridge):
    home, proxyd, name = bridge["home"], bridge["proxyd"], vnc_guest["name"]
    plain = bc.virsh(home, proxyd.rw_uri, "dumpxml", name).stdout
    assert "<graphics" in plain and "passwd=" not in plain
    secure = bc.virsh(home, proxyd.rw_uri, "dumpxml", "--security-info", name).stdout
    assert PASSWORD in secure
    inactive = bc.virsh(home, proxyd.rw_uri, "dumpxml", "--inactive", name).stdout
    assert "passwd=" not in inactive

    ro_plain = bc.virsh(home, proxyd.ro_uri, "dumpxml", name).stdout
    assert "<graphics" in ro_plain and "passwd=" not in ro_plain
    r = bc.virsh(home, proxyd.ro_uri, "dumpxml", "--security-info", name, check=False)
    assert r.returncode == 1 and "operation forbidden" in r.stderr, r.stdout + r.stderr
    assert PASSWORD not in r.stdout

    r = bc.virsh(home, proxyd.rw_uri, "dumpxml", "--security-info", name, check=False,
                 user=h.test_user())
    assert r.returncode == 1 and PASSWORD not in r.stdout, r.stdout + r.stderr
    r = bc.virsh(home, proxyd.rw_uri, "dumpxml", name, user=h.test_user())
    assert "<graphics" in r.stdout and "passwd=" not in r.stdout
