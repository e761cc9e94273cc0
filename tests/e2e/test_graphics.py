"""End to end: a running guest's display, as virt-manager and virt-viewer open it.

QEMU's VNC server is reached without a port: Domain.OpenGraphics hands back one end of a
socket pair whose other end QEMU serves (QMP add_client), and AddGraphicsClient gives QEMU
the caller's own socket. Through virtswarm-proxyd, python3-libvirt gets the socket with the
reply (DOMAIN_OPEN_GRAPHICS_FD, REPLY_WITH_FDS) or passes its own with the call
(DOMAIN_OPEN_GRAPHICS, CALL_WITH_FDS). The live XML shows the port QEMU took, which is what
`virsh domdisplay` prints. Each socket is checked by the RFB handshake QEMU answers on it:
the guest has a VNC password, so a client offered "VNC authentication" (2) was asked for
it, and one offered "None" (1) was let in by skip-auth.
"""

import os
import socket
import xml.etree.ElementTree as ET

import dbus
import pytest

import bridgeclient as bc
import rfbclient as rfb
import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
VNC = "<graphics type='vnc' autoport='yes' passwd='display-secret'/>"


def from_fd(fd):
    return socket.socket(fileno=fd)


def start_vnc_guest(name):
    path = vc.define(vc.domain_xml(name, extra_devices=VNC))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    return path


def vnc_port(path):
    live = ET.fromstring(str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT)))
    return int(live.find("devices/graphics").get("port"))


def test_open_graphics_over_dbus():
    path = start_vnc_guest(vc.unique("gfx"))
    dom = vc.domain(path)

    # The port QEMU took is in the live XML, and it is QEMU's VNC server.
    port = vnc_port(path)
    assert 5900 <= port <= 5999
    with socket.create_connection(("127.0.0.1", port), timeout=30) as tcp:
        assert rfb.security_types(tcp) == [rfb.VNC_AUTH]

    # A socket from the registry: the password is asked for unless skip-auth.
    with from_fd(dom.OpenGraphics(dbus.UInt32(0), vc.no_options(), timeout=vc.TIMEOUT).take()) \
            as s:
        assert rfb.security_types(s) == [rfb.VNC_AUTH]
    skip = dbus.Dictionary({"skip-auth": True}, signature="sv")
    with from_fd(dom.OpenGraphics(dbus.UInt32(0), skip, timeout=vc.TIMEOUT).take()) as s:
        # The guest's screen: the firmware's text on the VGA display, not a blank frame.
        screen = rfb.frame(s)
        assert (screen.width, screen.height) != (0, 0)
        assert screen.colours() > 1

    # The caller's own socket.
    ours, theirs = socket.socketpair()
    with ours, theirs:
        dom.AddGraphicsClient(dbus.UInt32(0), dbus.types.UnixFd(theirs.fileno()), skip,
                              timeout=vc.TIMEOUT)
        theirs.close()
        assert rfb.security_types(ours) == [rfb.NONE]

    # Refusals: no such graphics, not a socket, an unknown option, an unprivileged caller.
    assert vc.error_name(dom.OpenGraphics, dbus.UInt32(1), vc.no_options()) == INVALID_ARGS
    read_end, write_end = os.pipe()
    try:
        assert vc.error_name(dom.AddGraphicsClient, dbus.UInt32(0),
                             dbus.types.UnixFd(write_end), vc.no_options()) == INVALID_ARGS
    finally:
        os.close(read_end)
        os.close(write_end)
    assert vc.error_name(dom.OpenGraphics, dbus.UInt32(0),
                         dbus.Dictionary({"tls": True}, signature="sv")) == INVALID_ARGS
    denied = vc.call_as(h.test_user(), path, "org.virtswarm.Hypervisor1.Domain.OpenGraphics",
                        0, {})
    assert denied.returncode != 0
    assert "InteractiveAuthorizationRequired" in denied.stderr, denied.stderr
    assert "org.virtswarm.domain.open-graphics" in denied.stderr

    # Not running: nothing to open.
    dom.Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.error_name(dom.OpenGraphics, dbus.UInt32(0), vc.no_options()) == \
        ERR + "InvalidState"


def test_python_libvirt_opens_graphics_through_the_bridge():
    libvirt = pytest.importorskip("libvirt")
    name = vc.unique("gfxlv")
    path = start_vnc_guest(name)
    proxyd = bc.Bridge("bridge-graphics")
    try:
        conn = libvirt.open(proxyd.rw_uri)
        try:
            dom = conn.lookupByName(name)
            # virt-manager's and virt-viewer's way: the socket comes with the reply.
            fd = dom.openGraphicsFD(0, libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH)
            with from_fd(fd) as s:
                assert rfb.security_types(s) == [rfb.NONE]
            # The older way: the client's socket goes with the call.
            ours, theirs = socket.socketpair()
            with ours, theirs:
                dom.openGraphics(0, theirs.fileno(), 0)
                theirs.close()
                assert rfb.security_types(ours) == [rfb.VNC_AUTH]
            assert bc.libvirt_error_code(libvirt, dom.openGraphicsFD, 3, 0) == \
                libvirt.VIR_ERR_INVALID_ARG
            assert bc.libvirt_error_code(libvirt, dom.openGraphicsFD, 0, 0x10) == \
                libvirt.VIR_ERR_INVALID_ARG
        finally:
            conn.close()
        # A read-only connection opens no display.
        ro = libvirt.openReadOnly(proxyd.ro_uri)
        try:
            assert bc.libvirt_error_code(libvirt, ro.lookupByName(name).openGraphicsFD, 0, 0) \
                == libvirt.VIR_ERR_OPERATION_DENIED
        finally:
            ro.close()
        # virsh domdisplay reads the port from the live XML.
        shown = bc.virsh_on(proxyd)("domdisplay", name).strip()
        assert shown.startswith("vnc://") and shown.endswith(f":{vnc_port(path) - 5900}"), shown
    finally:
        proxyd.stop()
