"""The registry over D-Bus: activation, definitions, lookups, bad input, restarts."""

import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import dbus
import pytest

import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."


def test_activation_and_introspection_without_starting_anything_by_hand():
    out = subprocess.run(["busctl", "--system", "introspect", vc.BUS_NAME, vc.ROOT],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    for member in ("DefineXML", "CreateXML", "LookupByName", "LookupByUUID", "GetCapabilities",
                   "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", "DomainEvent"):
        assert member in out
    assert h.name_has_owner(vc.BUS_NAME)


def test_define_lookup_read_undefine():
    name = vc.unique("def")
    uuid = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
    path = vc.define(vc.domain_xml(name, uuid=uuid))
    assert path == vc.ROOT + "/domain/_" + uuid.replace("-", "")
    assert str(vc.manager().LookupByName(name)) == path
    assert str(vc.manager().LookupByUUID(uuid.upper())) == path
    assert str(vc.manager().LookupByUUID(uuid.replace("-", ""))) == path
    p = vc.props(path)
    assert (p["Name"], p["UUID"], p["State"], p["Id"]) == (name, uuid, "shutoff", -1)
    assert (p["Persistent"], p["Autostart"], p["Vcpus"], p["MemoryKiB"]) == (True, False, 1, 131072)
    xml = str(vc.domain(path).GetXML(vc.no_options()))
    root = ET.fromstring(xml)
    assert root.findtext("name") == name and root.findtext("uuid") == uuid
    assert os.path.exists(os.path.join(vc.config_dir(), uuid + ".xml"))

    managed = dbus.Interface(vc.bus().get_object(vc.BUS_NAME, vc.ROOT),
                             "org.freedesktop.DBus.ObjectManager").GetManagedObjects()
    assert str(managed[dbus.ObjectPath(path)][vc.DOMAIN]["Name"]) == name

    vc.domain(path).Undefine(vc.no_options())
    assert vc.list_domains() == []
    assert not os.path.exists(os.path.join(vc.config_dir(), uuid + ".xml"))
    assert vc.error_name(vc.manager().LookupByName, name) == ERR + "NoSuchDomain"


def test_define_generates_a_uuid_and_redefine_updates():
    name = vc.unique("gen")
    path = vc.define(vc.domain_xml(name))
    uuid = str(vc.prop(path, "UUID"))
    xml = str(vc.domain(path).GetXML(vc.no_options()))
    assert f"<uuid>{uuid}</uuid>" in xml
    # Same name and UUID again: an update, not a duplicate.
    assert vc.define(vc.domain_xml(name, uuid=uuid, memory_mib=256)) == path
    assert int(vc.prop(path, "MemoryKiB")) == 256 * 1024
    assert vc.list_domains() == [path]


def test_autostart_flag_persists():
    path = vc.define(vc.domain_xml(vc.unique("auto")))
    vc.domain(path).SetAutostart(True, vc.no_options())
    assert bool(vc.prop(path, "Autostart"))
    vc.domain(path).SetAutostart(False, vc.no_options())
    assert not bool(vc.prop(path, "Autostart"))


def snapshot():
    files = sorted(os.listdir(vc.config_dir())) if os.path.isdir(vc.config_dir()) else []
    contents = {f: open(os.path.join(vc.config_dir(), f)).read()
                for f in files if f.endswith(".xml")}
    return vc.list_domains(), contents


@pytest.mark.parametrize("bad_xml,expected", [
    ("<domain type='qemu'><name>x</name", "MalformedXML"),
    ("", "MalformedXML"),
    ("<domain type='qemu'><memory>131072</memory><os><type>hvm</type></os></domain>",
     "MissingName"),
    ("<domain type='qemu'><name>nomem</name><os><type>hvm</type></os></domain>", "InvalidXML"),
    ("<domain type='xen'><name>x</name><memory>131072</memory><os><type>hvm</type></os></domain>",
     "ConfigUnsupported"),
    ("<domain type='qemu'><name>x</name><memory>131072</memory><os><type>hvm</type></os>"
     "<devices><hostdev mode='subsystem' type='pci'/></devices></domain>", "ConfigUnsupported"),
])
def test_bad_xml_is_a_named_error_and_changes_nothing(bad_xml, expected):
    vc.define(vc.domain_xml(vc.unique("keep")))
    before = snapshot()
    assert vc.error_name(vc.manager().DefineXML, bad_xml, vc.no_options()) == ERR + expected
    assert vc.error_name(vc.manager().CreateXML, bad_xml, vc.no_options()) == ERR + expected
    assert snapshot() == before


def test_duplicates_are_refused_and_change_nothing():
    name = vc.unique("dup")
    uuid = "0a1b2c3d-0000-4000-8000-000000000001"
    path = vc.define(vc.domain_xml(name, uuid=uuid))
    before = snapshot()
    # Same name, another UUID.
    assert vc.error_name(vc.manager().DefineXML,
                         vc.domain_xml(name, uuid="0a1b2c3d-0000-4000-8000-000000000002"),
                         vc.no_options()) == ERR + "DomainExists"
    # Same UUID, another name.
    assert vc.error_name(vc.manager().DefineXML, vc.domain_xml(vc.unique("other"), uuid=uuid),
                         vc.no_options()) == ERR + "DomainExists"
    # A transient domain cannot take a defined domain's name either.
    assert vc.error_name(vc.manager().CreateXML, vc.domain_xml(name), vc.no_options()) == \
        ERR + "DomainExists"
    assert snapshot() == before
    assert str(vc.prop(path, "Name")) == name


def test_unknown_domains_wrong_states_and_options():
    path = vc.define(vc.domain_xml(vc.unique("st")))
    before = snapshot()
    assert vc.error_name(vc.manager().LookupByName, "no-such-domain") == ERR + "NoSuchDomain"
    assert vc.error_name(vc.manager().LookupByUUID, "00000000-0000-0000-0000-00000000abcd") == \
        ERR + "NoSuchDomain"
    assert vc.error_name(vc.manager().LookupByUUID, "garbage") == \
        "org.freedesktop.DBus.Error.InvalidArgs"
    assert vc.error_name(vc.domain(path).Shutdown, vc.no_options()) == ERR + "InvalidState"
    assert vc.error_name(vc.domain(path).Destroy, vc.no_options()) == ERR + "InvalidState"
    assert vc.error_name(vc.domain(path).Start, {"bogus": True}) == \
        "org.freedesktop.DBus.Error.InvalidArgs"
    missing = vc.ROOT + "/domain/_00000000000000000000000000000000"
    assert vc.error_name(vc.domain(missing).Start, vc.no_options()) == \
        "org.freedesktop.DBus.Error.UnknownObject"
    assert snapshot() == before
    assert vc.state(path) == ("shutoff", "unknown")


def test_capabilities():
    caps = ET.fromstring(str(vc.manager().GetCapabilities()))
    assert caps.findtext("host/cpu/arch") == "x86_64"
    guest = caps.find("guest")
    assert guest.findtext("os_type") == "hvm"
    assert "qemu" in [d.get("type") for d in guest.findall("arch/domain")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_definitions_survive_a_registry_restart(sig):
    names = [vc.unique("persist") for _ in range(3)]
    paths = [vc.define(vc.domain_xml(n)) for n in names]
    vc.domain(paths[0]).SetAutostart(False, vc.no_options())
    xml_before = {p: str(vc.domain(p).GetXML(vc.no_options())) for p in paths}
    pid = vc.registry_pid()
    os.kill(pid, sig)
    h.wait_for_name_gone(vc.BUS_NAME)
    # The next call activates a fresh registry.
    assert vc.list_domains() == sorted(paths)
    assert vc.registry_pid() != pid
    for p, n in zip(paths, names):
        assert str(vc.prop(p, "Name")) == n
        assert str(vc.domain(p).GetXML(vc.no_options())) == xml_before[p]


def test_a_broken_definition_is_kept_aside_not_deleted():
    good = vc.define(vc.domain_xml(vc.unique("good")))
    broken = os.path.join(vc.config_dir(), "11111111-2222-3333-4444-555555555555.xml")
    with open(broken, "w") as f:
        f.write("<domain type='qemu'><name>torn")
    os.kill(vc.registry_pid(), signal.SIGTERM)
    h.wait_for_name_gone(vc.BUS_NAME)
    assert vc.list_domains() == [good]
    assert not os.path.exists(broken)
    kept = os.path.join(vc.config_dir(), "rejected", os.path.basename(broken))
    assert open(kept).read() == "<domain type='qemu'><name>torn"


# A client with many defines in flight on one connection (issue 17's async client): prints
# the name of each define the registry acknowledged, and stops issuing new ones at the
# first error (the registry was killed).
DEFINE_BURST = r"""
import sys
import dbus, dbus.mainloop.glib
from gi.repository import GLib
sys.path.insert(0, sys.argv[1])
import vsclient as vc
prefix, total, window = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
mgr = dbus.Interface(dbus.SystemBus().get_object(vc.BUS_NAME, vc.ROOT, introspect=False),
                     vc.MANAGER)
loop = GLib.MainLoop()
names = iter(f"{prefix}{i:04d}" for i in range(total))
state = {"in_flight": 0, "failed": False}

def issue():
    name = None if state["failed"] else next(names, None)
    if name is None:
        if state["in_flight"] == 0:
            loop.quit()
        return
    state["in_flight"] += 1
    mgr.DefineXML(vc.domain_xml(name), vc.no_options(), timeout=vc.TIMEOUT,
                  reply_handler=lambda path, name=name: answered(name),
                  error_handler=lambda e: answered(None))

def answered(name):
    state["in_flight"] -= 1
    if name is None:
        state["failed"] = True
    else:
        print(name, flush=True)
    issue()

for _ in range(window):
    issue()
loop.run()
"""


def test_kill_9_during_a_burst_of_async_defines_loses_no_acknowledged_definition():
    """Group commit answers a batch only once it is on disk: every define acknowledged
    before the registry is killed is complete on disk, and a fresh registry serves it."""
    prefix = vc.unique("burst") + "-"
    pid = vc.registry_pid()
    burst = subprocess.Popen([sys.executable, "-c", DEFINE_BURST, vc.HERE, prefix, "1000", "64"],
                             stdout=subprocess.PIPE, text=True)
    acknowledged = []
    for line in burst.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) == 150:
            os.kill(pid, signal.SIGKILL)
            break
    rest, _ = burst.communicate(timeout=600)
    acknowledged += rest.split()
    assert burst.returncode == 0
    assert len(acknowledged) >= 150

    # Every definition file parses (none torn) and every acknowledged one is there.
    on_disk = {}
    for f in os.listdir(vc.config_dir()):
        if f.endswith(".xml") and not f.startswith("."):
            on_disk[ET.parse(os.path.join(vc.config_dir(), f)).findtext("name")] = f
    assert [n for n in acknowledged if n not in on_disk] == []
    rejected = os.path.join(vc.config_dir(), "rejected")
    assert not any(f.startswith(prefix) for f in
                   (os.listdir(rejected) if os.path.isdir(rejected) else []))
    # A fresh registry (activated by a call, by the burst's last ones or by list_domains)
    # loads each of them.
    def fresh_registry():
        try:
            return vc.list_domains() is not None and vc.registry_pid() != pid
        except dbus.exceptions.DBusException:
            return False  # the killed one's name not released yet
    h.wait_until(fresh_registry, vc.TIMEOUT, 0.1, "a fresh registry")
    served = {str(vc.prop(p, "Name")) for p in vc.list_domains()}
    assert set(acknowledged) <= served
