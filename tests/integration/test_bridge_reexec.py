"""virtswarm-proxyd re-executes (SIGUSR1, what an upgrade sends) and its clients stay
connected: a python-libvirt connection keeps working and keeps its event registration, a
call sent half before and half after is answered by the new image, a read-only
connection stays read-only, and a client that cannot be carried over (one with a stream
open) is closed, so it reconnects.

Run through tests/harness/with-test-bus (ctest -R integration-test_bridge_reexec).
"""

import os
import signal
import struct

import pytest

import bridgeclient as bc
import bridgewire as w
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

libvirt = pytest.importorskip("libvirt")
STORAGE_VOL_DOWNLOAD = 209


@pytest.fixture
def proxyd():
    bridge = bc.Bridge("bridge-reexec")
    yield bridge
    bridge.stop()


def reexec(proxyd):
    """SIGUSR1, then the same process listening again as a new image."""
    before = proxyd.output().count("re-executed:")
    os.kill(proxyd.proc.pid, signal.SIGUSR1)
    h.wait_until(lambda: proxyd.output().count("re-executed:") > before, 30, 0.05,
                 "the re-executed proxyd")
    assert proxyd.proc.poll() is None


def test_connections_go_on_in_the_new_image(proxyd):
    name = vc.unique("kept")
    with bc.libvirt_event_loop(libvirt):
        conn = libvirt.open(proxyd.rw_uri)
        ro = libvirt.openReadOnly(proxyd.ro_uri)
        seen = []
        conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            lambda _c, dom, event, _detail, _o: seen.append((dom.name(), event)), None)
        assert name not in [d.name() for d in conn.listAllDomains()]
        raw = w.Conn(proxyd.rw).handshake()
        call = w.frame(w.REMOTE, w.GET_TYPE, w.CALL, 77)
        raw.send_raw(call[:10])   # half a call, before the re-exec
        path = None
        try:
            reexec(proxyd)
            raw.send_raw(call[10:])
            m = raw.reply_to(77)
            assert m[5] == w.OK and w.Unpacker(m[6]).string() == "QEMU"

            # The python-libvirt connection serves calls and still gets its events.
            path = vc.define(vc.domain_xml(name))
            h.wait_until(lambda: (name, libvirt.VIR_DOMAIN_EVENT_DEFINED) in seen, 30, 0.05,
                         "the DEFINED event on the connection opened before the re-exec")
            assert name in [d.name() for d in conn.listAllDomains()]
            # A registration made now gets an ID of its own, not one the connection had
            # (which would replace that registration): both fire.
            changed = []
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                lambda _c, dom, kind, _uri, _o: changed.append((dom.name(), kind)), None)
            conn.lookupByName(name).setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION,
                                                "kept", None, None, 0)
            h.wait_until(lambda: (name, libvirt.VIR_DOMAIN_METADATA_DESCRIPTION) in changed,
                         30, 0.05, "the metadata-change event")
            vc.domain(path).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
            path = None
            h.wait_until(lambda: (name, libvirt.VIR_DOMAIN_EVENT_UNDEFINED) in seen, 30, 0.05,
                         "the UNDEFINED event on the registration made before")
            # The read-only connection is still read-only.
            with pytest.raises(libvirt.libvirtError) as e:
                ro.defineXML(vc.domain_xml(vc.unique("ro")))
            assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED
            assert ro.getType() == "QEMU"
        finally:
            raw.close()
            if path:
                vc.domain(path).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
            ro.close()
            conn.close()


def test_a_connection_with_an_open_stream_is_closed_and_others_kept(proxyd):
    """A stream cannot be carried over: that connection ends (its client sees it close and
    reconnects); the other client's goes on."""
    conn = libvirt.open(proxyd.rw_uri)
    pool = conn.storagePoolLookupByName("default")
    name = vc.unique("reexec") + ".img"
    vol = pool.createXML(f"<volume><name>{name}</name><capacity>1048576</capacity>"
                         "<target><format type='raw'/></target></volume>", 0)
    try:
        streaming = w.Conn(proxyd.rw).handshake()
        plain = w.Conn(proxyd.rw).handshake()
        # STORAGE_VOL_DOWNLOAD (209): the reply, then the stream stays open until the
        # client finishes it, which this one never does.
        serial = streaming.send_call(STORAGE_VOL_DOWNLOAD,
                                     w.string("default") + w.string(name) + w.string(vol.key())
                                     + struct.pack(">QQI", 0, 0, 0))
        assert streaming.reply_to(serial)[5] == w.OK
        reexec(proxyd)
        while streaming.recv_message() is not None:   # the data sent before, then the end
            pass
        assert plain.ok(w.GET_TYPE).string() == "QEMU"
        assert "a stream is open" in proxyd.output()
        plain.close()
        streaming.close()
    finally:
        vol.delete(0)
        conn.close()
