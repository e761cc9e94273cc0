"""python3-libvirt (9.0) against virtswarm-proxyd: the API as applications use it, with
lifecycle event callbacks dispatched by libvirt's default event loop, libvirt error codes
surviving the D-Bus round trip, and the read-only socket.

Run through tests/harness/with-test-bus (ctest -R e2e-test_python_libvirt_bridge).
"""

import os
import signal
import subprocess
import threading
import time
import uuid as uuidlib

import pytest

import bridgeclient as bc
import vsharness as h

libvirt = pytest.importorskip("libvirt")
pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def guest():
    out = subprocess.run([os.path.join(REPO, "tests/guest/build-guest.sh")], check=True,
                         capture_output=True, text=True, timeout=600).stdout.split()
    return {"kernel": out[0], "initrd": out[1]}


@pytest.fixture(scope="module")
def event_loop():
    # Must come before the first connection is opened; the loop thread runs for the rest
    # of the process (libvirt has no way to stop virEventRunDefaultImpl from outside).
    libvirt.virEventRegisterDefaultImpl()

    def run():
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=run, name="libvirt-events", daemon=True).start()


@pytest.fixture(scope="module")
def bridge(event_loop):
    proxyd = bc.Bridge("bridge-python")
    yield {"rw": proxyd.rw_uri, "ro": proxyd.ro_uri, "root": proxyd.root}
    proxyd.stop()


@pytest.fixture
def conn(bridge):
    c = libvirt.open(bridge["rw"])
    yield c
    c.close()


def domain_xml(guest, root, name, uid):
    return f"""<domain type='qemu'>
  <name>{name}</name><uuid>{uid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>{guest['kernel']}</kernel><initrd>{guest['initrd']}</initrd>
      <cmdline>console=ttyS0 panic=-1</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='file'><source path='{root}/{name}.log'/></serial></devices>
</domain>"""


def error_code(fn, *args):
    with pytest.raises(libvirt.libvirtError) as e:
        fn(*args)
    return e.value.get_error_code()


def test_connection_facts(conn):
    assert conn.getType() == "QEMU"
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True,
                          check=True).stdout.split("version ", 1)[1].split()[0].split(".")
    major, minor, micro = (qemu + ["0"])[:3]
    assert conn.getVersion() == int(major) * 1000000 + int(minor) * 1000 + int(micro)
    assert conn.getLibVersion() >= 9000000
    assert conn.getHostname()
    model, memory_mib, cpus = conn.getInfo()[:3]
    assert model == "x86_64" and cpus == os.cpu_count() and memory_mib > 0
    assert "<capabilities>" in conn.getCapabilities()
    assert conn.isAlive() == 1


def test_domain_lifecycle_with_events(conn, guest, bridge):
    name, uid = "vs-py", str(uuidlib.uuid4())
    assert name not in [d.name() for d in conn.listAllDomains()]

    seen = []
    cond = threading.Condition()

    def on_lifecycle(_conn, dom, event, detail, _opaque):
        with cond:
            seen.append((dom.name(), event, detail))
            cond.notify_all()

    def wait_event(event, detail):
        with cond:
            assert cond.wait_for(lambda: (name, event, detail) in seen, 60), seen

    cb = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                     on_lifecycle, None)
    try:
        dom = conn.defineXML(domain_xml(guest, bridge["root"], name, uid))
        assert dom.name() == name and dom.UUIDString() == uid
        assert dom.isPersistent() == 1 and dom.isActive() == 0 and dom.ID() == -1
        wait_event(libvirt.VIR_DOMAIN_EVENT_DEFINED, libvirt.VIR_DOMAIN_EVENT_DEFINED_ADDED)
        assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, 0]
        assert name in [d.name() for d in conn.listAllDomains(
            libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)]

        dom.create()
        wait_event(libvirt.VIR_DOMAIN_EVENT_STARTED, libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED)
        state, max_mem, mem, vcpus, _cpu_time = dom.info()
        assert (state, max_mem, mem, vcpus) == (libvirt.VIR_DOMAIN_RUNNING, 131072, 131072, 1)
        assert dom.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED]
        # As libvirt: a second suspend of a paused domain succeeds and changes nothing.
        dom.suspend()
        h.wait_until(lambda: dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED, 60,
                     what="the domain to pause")
        dom.suspend()
        assert dom.state() == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER]
        dom.resume()
        h.wait_until(lambda: dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING, 60,
                     what="the domain to resume")
        dom = conn.lookupByUUIDString(uid)
        assert dom.ID() > 0 and conn.lookupByID(dom.ID()).name() == name
        assert [d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
                if d.name() == name] == [name]
        assert f"id='{dom.ID()}'" in dom.XMLDesc(0) or f'id="{dom.ID()}"' in dom.XMLDesc(0)

        dom.destroy()
        wait_event(libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED)
        assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED]
        # A libvirt error code survives the registry's D-Bus error.
        assert error_code(dom.destroy) == libvirt.VIR_ERR_OPERATION_INVALID

        dom.undefine()
        wait_event(libvirt.VIR_DOMAIN_EVENT_UNDEFINED, libvirt.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED)
        h.wait_until(lambda: name not in [d.name() for d in conn.listAllDomains()], 10,
                     what="the domain to disappear")
        assert error_code(conn.lookupByName, name) == libvirt.VIR_ERR_NO_DOMAIN
    finally:
        conn.domainEventDeregisterAny(cb)


def test_errors_map_to_libvirt_codes(conn):
    assert error_code(conn.lookupByName, "nosuch") == libvirt.VIR_ERR_NO_DOMAIN
    assert error_code(conn.lookupByUUIDString, str(uuidlib.uuid4())) == libvirt.VIR_ERR_NO_DOMAIN
    assert error_code(conn.defineXML, "<domain") == libvirt.VIR_ERR_XML_DETAIL
    # Not implemented by the bridge: NO_SUPPORT, which is what makes clients fall back.
    assert error_code(conn.listAllSecrets) == libvirt.VIR_ERR_NO_SUPPORT


def test_read_only_socket(bridge, guest):
    ro = libvirt.openReadOnly(bridge["ro"])
    try:
        assert isinstance(ro.listAllDomains(), list)
        code = error_code(ro.defineXML, domain_xml(guest, bridge["root"], "vs-py-ro",
                                                   str(uuidlib.uuid4())))
        assert code == libvirt.VIR_ERR_OPERATION_DENIED
    finally:
        ro.close()


def pty_domain_xml(guest, name, uid):
    return f"""<domain type='qemu'>
  <name>{name}</name><uuid>{uid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>{guest['kernel']}</kernel><initrd>{guest['initrd']}</initrd>
      <cmdline>console=ttyS0 panic=-1</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='pty'/><console type='pty'/></devices>
</domain>"""


def open_console(dom, st, flags=0):
    """openConsole, once the registry knows the guest's pty."""
    def opened():
        try:
            dom.openConsole(None, st, flags)
            return True
        except libvirt.libvirtError as e:      # the pty may not be known yet
            if e.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                raise
            return False
    h.wait_until(opened, 30, 0.1, what="the console to open")


def destroy_quietly(dom):
    """At the end of a test: the guest goes, if it is still there."""
    try:
        dom.destroy()
    except libvirt.libvirtError:
        pass


def wait_stream_end(st):
    """The guest went away: the stream ends (empty read), and finishing it is confirmed
    by the bridge."""
    def ended():
        try:
            return st.recv(4096) == b""
        except libvirt.libvirtError:
            return True
    h.wait_until(ended, 30, 0.05, what="the end of the console stream")
    st.finish()


def test_console_stream_both_ways(conn, guest):
    name = "vs-py-console"
    dom = conn.createXML(pty_domain_xml(guest, name, str(uuidlib.uuid4())), 0)
    try:
        st = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        open_console(dom, st)
        # Whatever the guest's tty echoes comes back through the stream: keep typing until
        # the guest is up far enough to echo.
        echoes(st, b"vs-echo-42", timeout=60)
        dom.destroy()
        wait_stream_end(st)
    finally:
        destroy_quietly(dom)


def echoes(st, word, timeout=90):
    """Types `word` into console stream `st` until the guest's tty echoes it back."""
    received = bytearray()
    last_sent = [0.0]

    def echoed():
        now = time.monotonic()
        if now - last_sent[0] > 0.5:
            st.send(word + b"\n")
            last_sent[0] = now
        while True:
            data = st.recv(4096)
            if data == -2 or data == b"":
                break
            received.extend(data)
        return word in received
    h.wait_until(echoed, timeout, 0.05, what=f"{word!r} echoed through the console")


def test_a_console_session_goes_on_across_a_bridge_reexec(event_loop, guest):
    """proxyd re-executes (an upgrade) under an open console session: the session's
    descriptor and the connection go to the new image, and the guest keeps echoing
    through the same stream."""
    proxyd = bc.Bridge("bridge-console-reexec")
    conn = libvirt.open(proxyd.rw_uri)
    name = "vs-py-console-reexec"
    dom = conn.createXML(pty_domain_xml(guest, name, str(uuidlib.uuid4())), 0)
    try:
        st = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        open_console(dom, st)
        echoes(st, b"vs-before-reexec")
        os.kill(proxyd.proc.pid, signal.SIGUSR1)
        h.wait_until(lambda: "re-executed: 1 of 1 connections kept" in proxyd.output(), 30,
                     0.05, "the re-executed proxyd to keep the connection")
        echoes(st, b"vs-after-reexec")
        dom.destroy()
        wait_stream_end(st)
    finally:
        destroy_quietly(dom)
        conn.close()
        proxyd.stop()


def test_console_is_exclusive_and_force_takes_it_over(conn, guest):
    """As libvirt (virChrdevOpen): one session per console. A second openConsole without
    FORCE is OPERATION_FAILED "Active console session exists for this domain" and leaves
    the first session working; with FORCE the first client's stream ends and the second
    has the console. Once the holder finishes its stream, a plain open works again."""
    name = "vs-py-console-excl"
    dom = conn.createXML(pty_domain_xml(guest, name, str(uuidlib.uuid4())), 0)
    streams = []
    try:
        first = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        streams.append(first)
        open_console(dom, first)

        second = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        streams.append(second)
        with pytest.raises(libvirt.libvirtError) as refused:
            dom.openConsole(None, second, 0)
        assert refused.value.get_error_code() == libvirt.VIR_ERR_OPERATION_FAILED
        assert "Active console session exists for this domain" in str(refused.value)

        echoes(first, b"vs-first-holder")     # the refusal did not disturb the holder

        forced = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        streams.append(forced)
        dom.openConsole(None, forced, libvirt.VIR_DOMAIN_CONSOLE_FORCE)

        def first_ended():
            try:
                while True:
                    data = first.recv(4096)
                    if data == b"":
                        return True
                    if data == -2:
                        return False
            except libvirt.libvirtError:
                return True
        h.wait_until(first_ended, 30, 0.05, what="the first client's stream to end")
        first.finish()
        streams.remove(first)
        echoes(forced, b"vs-forced-holder")

        # The holder lets go: the console is free for a plain open again.
        forced.finish()
        streams.remove(forced)
        again = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        streams.append(again)

        def reopened():
            try:
                dom.openConsole(None, again, 0)
                return True
            except libvirt.libvirtError as e:      # the shim may not have seen the close yet
                if e.get_error_code() != libvirt.VIR_ERR_OPERATION_FAILED:
                    raise
                return False
        h.wait_until(reopened, 30, 0.1, what="the console to be free again")
        echoes(again, b"vs-third-holder")
    finally:
        for st in streams:
            try:
                st.abort()
            except libvirt.libvirtError:
                pass
        try:
            dom.destroy()
        except libvirt.libvirtError:
            pass


def test_event_sequences_are_libvirts(conn, guest, bridge):
    """The (event, detail) sequences libvirt's QEMU driver sends (src/qemu/qemu_process.c):
    a start is RESUMED/UNPAUSED then STARTED/BOOTED; a reboot is a REBOOT event and no
    lifecycle change; a guest powering off is SHUTDOWN/GUEST then STOPPED/SHUTDOWN; a
    destroy is SHUTDOWN/HOST then STOPPED/DESTROYED; a live detach ends in DEVICE_REMOVED
    with the device's alias."""
    name, uid = "vs-py-events", str(uuidlib.uuid4())
    serial = os.path.join(bridge["root"], name + ".log")
    lifecycle, reboots, removed = [], [], []
    cond = threading.Condition()

    def record(into, item):
        with cond:
            into.append(item)
            cond.notify_all()

    def wait_for(what, pred, timeout=180):
        with cond:
            assert cond.wait_for(pred, timeout), (what, lifecycle, reboots, removed)

    def wait_lifecycle(*events):
        wait_for(events, lambda: all(e in lifecycle for e in events))

    def booted(times):
        def count():
            try:
                with open(serial, encoding="utf-8", errors="replace") as f:
                    return f.read().count("VIRTSWARM-GUEST-READY") >= times
            except FileNotFoundError:
                return False
        h.wait_until(count, 180, 0.2, what=f"boot number {times} of the guest")

    E = libvirt
    callbacks = [
        conn.domainEventRegisterAny(
            None, E.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            lambda _c, d, ev, det, _o: d.name() == name and record(lifecycle, (ev, det)), None),
        conn.domainEventRegisterAny(
            None, E.VIR_DOMAIN_EVENT_ID_REBOOT,
            lambda _c, d, _o: d.name() == name and record(reboots, d.name()), None),
        conn.domainEventRegisterAny(
            None, E.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
            lambda _c, d, dev, _o: d.name() == name and record(removed, dev), None),
    ]
    dom = None
    try:
        dom = conn.defineXML(domain_xml(guest, bridge["root"], name, uid))
        dom.create()
        wait_lifecycle((E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED))
        booted(1)

        dom.suspend()
        wait_lifecycle((E.VIR_DOMAIN_EVENT_SUSPENDED, E.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED))
        dom.resume()
        wait_for("resumed", lambda: lifecycle.count(
            (E.VIR_DOMAIN_EVENT_RESUMED, E.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED)) == 2)

        nic = ("<interface type='user'><mac address='52:54:00:5a:00:07'/>"
               "<model type='virtio'/></interface>")
        dom.attachDevice(nic)
        dom.detachDevice(nic)
        wait_for("device removed", lambda: removed == ["net-5254005a0007"])

        dom.reboot(0)
        wait_for("reboot", lambda: name in reboots)
        booted(2)
        assert dom.state()[0] == E.VIR_DOMAIN_RUNNING

        dom.shutdown()
        wait_lifecycle((E.VIR_DOMAIN_EVENT_STOPPED, E.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN))

        dom.create()
        wait_for("second start", lambda: lifecycle.count(
            (E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED)) == 2)
        dom.destroy()
        wait_lifecycle((E.VIR_DOMAIN_EVENT_STOPPED, E.VIR_DOMAIN_EVENT_STOPPED_DESTROYED))
        dom.undefine()
        dom = None
        wait_lifecycle((E.VIR_DOMAIN_EVENT_UNDEFINED, E.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED))

        with cond:
            assert lifecycle == [
                (E.VIR_DOMAIN_EVENT_DEFINED, E.VIR_DOMAIN_EVENT_DEFINED_ADDED),
                (E.VIR_DOMAIN_EVENT_RESUMED, E.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED),
                (E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED),
                (E.VIR_DOMAIN_EVENT_SUSPENDED, E.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED),
                (E.VIR_DOMAIN_EVENT_RESUMED, E.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED),
                # The reboot: no lifecycle event at all.
                (E.VIR_DOMAIN_EVENT_SHUTDOWN, E.VIR_DOMAIN_EVENT_SHUTDOWN_GUEST),
                (E.VIR_DOMAIN_EVENT_STOPPED, E.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN),
                (E.VIR_DOMAIN_EVENT_RESUMED, E.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED),
                (E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED),
                (E.VIR_DOMAIN_EVENT_SHUTDOWN, E.VIR_DOMAIN_EVENT_SHUTDOWN_HOST),
                (E.VIR_DOMAIN_EVENT_STOPPED, E.VIR_DOMAIN_EVENT_STOPPED_DESTROYED),
                (E.VIR_DOMAIN_EVENT_UNDEFINED, E.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED),
            ], lifecycle
            # One REBOOT per QMP RESET, as libvirt: ours, and any the guest does itself
            # later, so at least the one of the reboot above.
            assert reboots and set(reboots) == {name}, reboots
            assert removed == ["net-5254005a0007"], removed
    finally:
        for cb in callbacks:
            conn.domainEventDeregisterAny(cb)
        if dom is not None:
            try:
                dom.destroy()
            except libvirt.libvirtError:
                pass
            dom.undefine()
