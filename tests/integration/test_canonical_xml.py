"""The XML clients read back is libvirt's form of what they defined (units in KiB,
<currentMemory>, the machine type QEMU's alias stands for, the devices libvirt adds), on
D-Bus and through the bridge, and it is stable: defining what dumpxml printed gives the
same XML. Compared with what libvirt 9.0 prints (its tests/qemuxml2xmloutdata/ files).

Run through tests/harness/with-test-bus (ctest -R integration-test_canonical_xml).
"""

import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

import bridgeclient as bc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")


def installed_machine(alias):
    """What the installed QEMU says `alias` stands for (`-machine help`)."""
    out = subprocess.run(["qemu-system-x86_64", "-machine", "help"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    m = re.search(rf"^{re.escape(alias)}\s.*\(alias of ([^)]+)\)", out, re.M)
    assert m, out
    return m.group(1)


def console_only_xml(name, machine="pc"):
    kernel, initrd = vc.guest_files()
    return f"""<domain type='qemu'><name>{name}</name>
  <memory unit='MiB'>128</memory>
  <os><type machine='{machine}'>hvm</type><kernel>{kernel}</kernel></os>
  <devices><console type='pty'/></devices></domain>"""


def inactive(path):
    return str(vc.domain(path).GetXML({"inactive": True}))


def test_dbus_clients_get_libvirts_form():
    path = vc.define(console_only_xml(vc.unique("canon")))
    root = ET.fromstring(inactive(path))
    memory, current = root.find("memory"), root.find("currentMemory")
    assert (memory.get("unit"), memory.text) == ("KiB", "131072")
    assert current is not None and (current.get("unit"), current.text) == ("KiB", "131072")
    assert root.find("vcpu").get("placement") == "static"
    os_type = root.find("os/type")
    assert os_type.get("arch") == "x86_64"
    assert os_type.get("machine") == installed_machine("pc")
    # The CPU model QEMU picks, written in as libvirt writes it (Cockpit shows it).
    cpu = root.find("cpu")
    assert (cpu.get("mode"), cpu.get("match"), cpu.get("check")) == ("custom", "exact", "none")
    assert (cpu.find("model").text, cpu.find("model").get("fallback")) == ("qemu64", "forbid")
    assert [c.tag for c in root].index("cpu") < [c.tag for c in root].index("devices")
    devices = root.find("devices")
    serial = devices.find("serial")
    assert serial is not None and serial.get("type") == "pty"
    assert serial.find("target").get("port") == "0"
    assert devices.find("console/target").get("type") == "serial"
    inputs = [(i.get("type"), i.get("bus")) for i in devices.findall("input")]
    assert ("mouse", "ps2") in inputs and ("keyboard", "ps2") in inputs
    assert devices.find("memballoon").get("model") == "virtio"
    vc.domain(path).Undefine(vc.no_options())


def test_q35_is_expanded_and_the_form_is_stable():
    name = vc.unique("canonq")
    path = vc.define(console_only_xml(name, "q35"))
    first = inactive(path)
    assert ET.fromstring(first).find("os/type").get("machine") == installed_machine("q35")
    # define(dumpxml(x)) gives dumpxml(x) again.
    assert vc.define(first) == path
    assert inactive(path) == first
    vc.domain(path).Undefine(vc.no_options())


@pytest.fixture(scope="module")
def libvirt_conn():
    libvirt = pytest.importorskip("libvirt")
    proxyd = bc.Bridge("bridge-canon")
    conn = libvirt.open(proxyd.rw_uri)
    yield libvirt, conn
    conn.close()
    proxyd.stop()


def test_python_libvirt_reads_kib_and_round_trips(libvirt_conn):
    libvirt, conn = libvirt_conn
    dom = conn.defineXML(console_only_xml("canon-py"))
    try:
        # virt-manager and virtinst read ./memory as KiB: 128 MiB, not 128 KiB.
        assert dom.maxMemory() == 131072
        first = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        root = ET.fromstring(first)
        assert root.find("memory").text == "131072"
        assert root.find("currentMemory").text == "131072"
        again = conn.defineXML(first)
        assert again.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == first
    finally:
        dom.undefine()
