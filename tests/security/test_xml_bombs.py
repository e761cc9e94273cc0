"""Entity expansion before authorization: a 2 MiB internal entity referenced 600 times, sent
to DefineXML by anyone (or to virsh define through the bridge), cost the registry gigabytes
and seconds of a blocked event loop before polkit was even asked. Now any DOCTYPE, entity
declaration or non-predefined entity reference is InvalidXML before a tree is built."""

import os
import time
import uuid

import pytest

import bridgeclient as bc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

INVALID_XML = "org.virtswarm.Error.InvalidXML"
NOT_AUTHORIZED = ("org.freedesktop.DBus.Error.AccessDenied",
                  "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
# Resident memory a refused document may cost a daemon (ASan builds included).
MAX_GROWTH_KIB = 20 * 1024


def quadratic_bomb(name, entity_bytes=2 * 1024 * 1024, references=600):
    """Under the registry's 4 MiB limit as sent; 1.2 GB once expanded."""
    return (f'<!DOCTYPE domain [<!ENTITY x "{"a" * entity_bytes}">]>\n'
            f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory>"
            "<os><type>hvm</type></os>"
            f"<description>{'&x;' * references}</description></domain>")


def same_size_plain(xml):
    """A document as big as `xml`, without entities, refused after a full parse (no
    <memory>): what any large request costs a daemon, sanitizer quarantine included."""
    head = "<domain type='qemu'><name>plain</name><description>"
    tail = "</description></domain>"
    return head + "a" * (len(xml) - len(head) - len(tail)) + tail


def memory_kib(pid):
    """(VmRSS, VmHWM) of a process in KiB."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def growth_kib(pid, action):
    """How much action() grew the process's resident and peak memory, in KiB."""
    rss, hwm = memory_kib(pid)
    action()
    rss_after, hwm_after = memory_kib(pid)
    return rss_after - rss, hwm_after - hwm


def assert_cheap(pid, bomb_growth, plain_growth):
    """The bomb costs no more than a plain document of its size, give or take 20 MB."""
    for what, bomb, plain in zip(("VmRSS", "VmHWM"), bomb_growth, plain_growth):
        assert bomb - plain < MAX_GROWTH_KIB, \
            f"pid {pid}: {what} grew {bomb} KiB for the bomb, {plain} KiB for a plain document"


def call_as(user, xml, method="DefineXML", path="/org/virtswarm/Hypervisor1",
            interface="org.virtswarm.Hypervisor1.Manager", options=None):
    """`method`(xml, options) as `user`, the document on stdin (too big for an argument);
    returns (D-Bus error name or None, seconds the call took)."""
    script = ("import sys, time, dbus\n"
              "xml = sys.stdin.read()\n"
              "m = dbus.Interface(dbus.SystemBus().get_object('org.virtswarm.Hypervisor1',"
              f" {path!r}), {interface!r})\n"
              f"options = dbus.Dictionary({options or {}!r}, signature='sv')\n"
              "t = time.monotonic()\n"
              "try:\n"
              f"    m.{method}(xml, options, timeout=120)\n"
              "    err = 'none'\n"
              "except dbus.exceptions.DBusException as e:\n"
              "    err = e.get_dbus_name()\n"
              "print(err, time.monotonic() - t)\n")
    r = h.run_as(user, ["/usr/bin/python3", "-c", script], stdin=None, input=xml)
    assert r.returncode == 0, r.stderr
    err, seconds = r.stdout.split()
    return (None if err == "none" else err), float(seconds)


def define_as(user, xml):
    return call_as(user, xml)


def test_entity_bomb_on_dbus_is_refused_before_authorization():
    vc.list_domains()  # activates the registry
    registry = vc.registry_pid()
    bomb = quadratic_bomb(vc.unique("bomb"))
    plain = same_size_plain(bomb)

    def refused_as_user(xml):
        err, seconds = define_as(h.test_user(), xml)
        assert err == INVALID_XML, "the document must be refused as such, not reach polkit"
        assert seconds < 1, f"an unprivileged define took {seconds:.2f} s"

    plain_growth = growth_kib(registry, lambda: refused_as_user(plain))
    assert_cheap(registry, growth_kib(registry, lambda: refused_as_user(bomb)), plain_growth)

    def refused_as_root():
        t = time.monotonic()
        assert vc.error_name(vc.manager().DefineXML, bomb, vc.no_options()) == INVALID_XML
        assert time.monotonic() - t < 1

    assert_cheap(registry, growth_kib(registry, refused_as_root), plain_growth)
    assert vc.list_domains() == []


def test_managed_save_definitions_from_a_user_are_bounded_then_checked():
    """ManagedSaveDefineXML (virsh managedsave-define) takes a document from its caller too:
    a bomb is InvalidXML before polkit, as cheap as a plain one; a valid definition, with
    or without the running/paused options, is refused by polkit; nothing changes."""
    name, domain_uuid = vc.unique("msave"), str(uuid.uuid4())
    valid = vc.domain_xml(name, uuid=domain_uuid)
    path = vc.define(valid)
    try:
        before = vc.domain(path).GetXML(vc.no_options())
        registry = vc.registry_pid()
        bomb = quadratic_bomb(name)
        plain = same_size_plain(bomb)

        def refused(xml, expected, options=None):
            err, seconds = call_as(h.test_user(), xml, "ManagedSaveDefineXML", path,
                                   vc.DOMAIN, options)
            assert err in expected, err
            assert seconds < 1, f"an unprivileged ManagedSaveDefineXML took {seconds:.2f} s"

        plain_growth = growth_kib(registry, lambda: refused(plain, (INVALID_XML,)))
        assert_cheap(registry, growth_kib(registry, lambda: refused(bomb, (INVALID_XML,))),
                     plain_growth)
        for options in (None, {"running": True}, {"paused": True}):
            refused(valid, NOT_AUTHORIZED, options)
        assert vc.domain(path).GetXML(vc.no_options()) == before
        assert [str(p) for p in vc.list_domains()] == [path]
    finally:
        vc.domain(path).Undefine(vc.no_options())


def test_entity_references_never_reach_a_stored_definition():
    # Without a DOCTYPE, an undeclared reference; with a harmless one, a tiny entity. Either
    # way the stored XML would keep '&x;' without its declaration and never start again.
    name = vc.unique("ref")
    plain = vc.domain_xml(name).replace("<on_poweroff>", "<description>&x;</description>"
                                                         "<on_poweroff>")
    small = "<!DOCTYPE domain [<!ENTITY x 'y'>]>\n" + plain
    external = ("<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/shadow'>]>\n" + plain)
    for xml in (plain, small, external):
        assert vc.error_name(vc.manager().DefineXML, xml, vc.no_options()) == INVALID_XML
    assert vc.list_domains() == []


@pytest.fixture(scope="module")
def bridge():
    proxyd = bc.Bridge("bridge-bombs")
    yield proxyd
    proxyd.stop()


def test_entity_bomb_through_the_bridge_is_refused_cheaply(bridge):
    home = bc.virsh_home(bridge.root)
    name = vc.unique("bomb")
    path = os.path.join(home, "bomb.xml")
    with open(path, "w") as f:
        f.write(quadratic_bomb(name))
    plain = os.path.join(home, "plain.xml")
    with open(plain, "w") as f:
        f.write(same_size_plain(quadratic_bomb(name)))

    # What any large refused document costs through virsh, to compare the bomb with.
    pids = (bridge.proc.pid, vc.registry_pid())
    before = [memory_kib(p) for p in pids]
    t = time.monotonic()
    r = bc.virsh(home, bridge.rw_uri, "define", plain, check=False)
    baseline = time.monotonic() - t
    assert r.returncode == 1 and "memory" in r.stderr, r.stderr
    middle = [memory_kib(p) for p in pids]

    t = time.monotonic()
    r = bc.virsh(home, bridge.rw_uri, "define", path, check=False)
    elapsed = time.monotonic() - t
    after = [memory_kib(p) for p in pids]
    assert r.returncode == 1
    assert "DOCTYPE" in r.stderr, r.stderr
    assert elapsed < baseline + 1, f"the bomb took {elapsed:.2f} s (baseline {baseline:.2f} s)"
    for pid, b, m, a in zip(pids, before, middle, after):
        assert_cheap(pid, (a[0] - m[0], a[1] - m[1]), (m[0] - b[0], m[1] - b[1]))
    assert name not in bc.virsh(home, bridge.rw_uri, "list", "--all", "--name").stdout
