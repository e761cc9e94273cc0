"""Memory, vCPU counts and metadata of a defined domain, changed through the bridge with
real virsh and python3-libvirt as people do it (virsh setmem/setmaxmem/setvcpus --config,
vcpucount, dominfo, desc, metadata), compared with libvirt 9.0's documented behaviour and
error codes; and what needs a running guest (setmem --live, send-key, inject-nmi) refused
with libvirt's codes on a stopped one. No guest is started: the live paths are in
tests/e2e/test_accounting_bridge.py.

Run through tests/harness/with-test-bus (ctest -R integration-test_domain_tuning).
"""

import subprocess
import uuid as uuidlib
import xml.etree.ElementTree as ET

import pytest

import bridgeclient as bc
import vsharness as h

libvirt = pytest.importorskip("libvirt")
pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

GUEST = "/var/cache/virtswarm/test-guest"
NAME = "tune-vm"
APP_URI = "http://app.example.org/virtswarm-test/"


@pytest.fixture(scope="module")
def bridge():
    proxyd = bc.Bridge("bridge-tuning")
    yield proxyd
    proxyd.stop()


@pytest.fixture(scope="module")
def conn(bridge):
    c = libvirt.open(bridge.rw_uri)
    yield c
    c.close()


@pytest.fixture
def dom(conn):
    d = conn.defineXML(
        f"<domain type='qemu'><name>{NAME}</name><uuid>{uuidlib.uuid4()}</uuid>"
        "<memory unit='MiB'>256</memory><vcpu>4</vcpu>"
        f"<os><type>hvm</type><kernel>{GUEST}/vmlinuz</kernel></os>"
        "<devices><memballoon model='virtio'/></devices></domain>")
    yield d
    d.undefine()


def virsh(bridge, *args, check=True, user=None):
    return bc.virsh(bc.virsh_home(h.env("VS_TEST_ROOT")), bridge.rw_uri, *args, check=check,
                    user=user)


def inactive_xml(dom):
    return ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def error_of(fn, *args):
    with pytest.raises(libvirt.libvirtError) as e:
        fn(*args)
    return e.value.get_error_code(), e.value.get_error_message()


def info(bridge):
    out = virsh(bridge, "dominfo", NAME).stdout
    return {k.strip(): v.strip() for k, v in
            (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def test_setmem_and_setmaxmem_config(bridge, dom):
    virsh(bridge, "setmem", NAME, "131072", "--config")
    x = inactive_xml(dom)
    assert x.find("currentMemory").text == "131072" and x.find("memory").text == "262144"
    i = info(bridge)
    assert i["Max memory"] == "262144 KiB" and i["Used memory"] == "131072 KiB", i
    # A stopped domain's "current" is its definition (AFFECT_CURRENT).
    virsh(bridge, "setmem", NAME, "200M", "--current")
    assert inactive_xml(dom).find("currentMemory").text == str(200 * 1024)
    # The maximum shrinks the current size with it; it may also grow.
    virsh(bridge, "setmaxmem", NAME, "160M", "--config")
    x = inactive_xml(dom)
    assert x.find("memory").text == str(160 * 1024)
    assert x.find("currentMemory").text == str(160 * 1024)
    virsh(bridge, "setmaxmem", NAME, "512M")
    assert inactive_xml(dom).find("memory").text == str(512 * 1024)
    assert dom.maxMemory() == 512 * 1024


def test_memory_errors_are_libvirts(dom):
    before = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    code, msg = error_of(dom.setMemoryFlags, 300 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert code == libvirt.VIR_ERR_INVALID_ARG and "higher than max memory" in msg, msg
    code, msg = error_of(dom.setMemoryFlags, 0, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert code == libvirt.VIR_ERR_INVALID_ARG, msg
    # Live on a domain that does not run: OPERATION_INVALID, as libvirt.
    code, msg = error_of(dom.setMemoryFlags, 128 * 1024, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert code == libvirt.VIR_ERR_OPERATION_INVALID and "not running" in msg, msg
    code, msg = error_of(dom.setMemory, 128 * 1024)
    assert code == libvirt.VIR_ERR_OPERATION_INVALID, msg
    assert dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before, "a refusal changes nothing"


def test_setvcpus_config_and_vcpucount(bridge, dom):
    virsh(bridge, "setvcpus", NAME, "2", "--config")
    vcpu = inactive_xml(dom).find("vcpu")
    assert vcpu.text == "4" and vcpu.get("current") == "2", ET.tostring(vcpu)
    counts = virsh(bridge, "vcpucount", NAME).stdout
    assert "maximum      config         4" in counts, counts
    assert "current      config         2" in counts, counts
    assert info(bridge)["CPU(s)"] == "2"
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_VCPU_MAXIMUM) == 4
    # The maximum, shrinking the current count with it.
    virsh(bridge, "setvcpus", NAME, "1", "--config", "--maximum")
    vcpu = inactive_xml(dom).find("vcpu")
    assert vcpu.text == "1" and vcpu.get("current") is None, ET.tostring(vcpu)
    virsh(bridge, "setvcpus", NAME, "3", "--config", "--maximum")
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 1
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_VCPU_MAXIMUM) == 3


def test_vcpu_errors_are_libvirts(bridge, dom):
    before = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    code, msg = error_of(dom.setVcpusFlags, 5, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert code == libvirt.VIR_ERR_INVALID_ARG and "greater than max allowable" in msg, msg
    code, msg = error_of(dom.setVcpusFlags, 1, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert code == libvirt.VIR_ERR_OPERATION_INVALID, msg
    code, msg = error_of(dom.vcpusFlags, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert code == libvirt.VIR_ERR_OPERATION_INVALID, msg
    r = virsh(bridge, "setvcpus", NAME, "0", "--config", check=False)
    assert r.returncode == 1
    assert dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before


def test_desc_and_title(bridge, dom):
    # None yet: NO_DOMAIN_METADATA, which virsh desc reports as "No description".
    code, _ = error_of(dom.metadata, libvirt.VIR_DOMAIN_METADATA_TITLE, None)
    assert code == libvirt.VIR_ERR_NO_DOMAIN_METADATA
    assert "No description for domain" in virsh(bridge, "desc", NAME).stdout
    virsh(bridge, "desc", NAME, "--config", "--title", "Web front end")
    virsh(bridge, "desc", NAME, "--config", "A test domain & its <description>")
    assert virsh(bridge, "desc", NAME, "--title").stdout.strip() == "Web front end"
    assert virsh(bridge, "desc", NAME).stdout.strip() == "A test domain & its <description>"
    x = inactive_xml(dom)
    assert x.find("title").text == "Web front end"
    assert x.find("description").text == "A test domain & its <description>"
    # virsh list --title reads the same title.
    assert "Web front end" in virsh(bridge, "list", "--all", "--title").stdout
    code, msg = error_of(dom.setMetadata, libvirt.VIR_DOMAIN_METADATA_TITLE, "two\nlines",
                         None, None, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert code == libvirt.VIR_ERR_INVALID_ARG and "newlines" in msg, msg
    # An empty title removes it.
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, "", None, None, 0)
    assert inactive_xml(dom).find("title") is None


def test_metadata_elements(bridge, dom):
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, "<instance owner='ci'><v>1</v></instance>",
                    "vst", APP_URI, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    got = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, APP_URI,
                       libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    e = ET.fromstring(got)
    assert e.tag == "{%s}instance" % APP_URI and e.get("owner") == "ci", got
    out = virsh(bridge, "metadata", NAME, APP_URI).stdout
    assert "owner" in out and APP_URI in out, out
    # The element sits in <metadata> of the definition, in its namespace.
    assert inactive_xml(dom).find("metadata/{%s}instance" % APP_URI) is not None
    # virsh metadata --set replaces it; --remove removes it.
    virsh(bridge, "metadata", NAME, APP_URI, "--config", "--key", "vst", "--set", "<other/>")
    assert inactive_xml(dom).find("metadata/{%s}other" % APP_URI) is not None
    assert inactive_xml(dom).find("metadata/{%s}instance" % APP_URI) is None
    virsh(bridge, "metadata", NAME, APP_URI, "--config", "--remove")
    code, _ = error_of(dom.metadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, APP_URI, 0)
    assert code == libvirt.VIR_ERR_NO_DOMAIN_METADATA
    # Not one element: the definition keeps what it had.
    before = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    code, _ = error_of(dom.setMetadata, libvirt.VIR_DOMAIN_METADATA_ELEMENT, "<open>", "vst",
                       APP_URI, 0)
    assert code == libvirt.VIR_ERR_XML_DETAIL
    assert dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before


def test_metadata_change_event(bridge, dom):
    """virsh event sees libvirt's METADATA_CHANGE for each SetMetadata, with its type."""
    home = bc.virsh_home(h.env("VS_TEST_ROOT"))
    watcher = subprocess.Popen(
        ["virsh", "-c", bridge.rw_uri, "event", "--domain", NAME, "--event", "metadata-change",
         "--timeout", "60"],
        env={"HOME": home, "XDG_CACHE_HOME": home, "XDG_CONFIG_HOME": home, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The watcher registers at some point: set the title until it has seen one event
        # (without --loop it exits after the first).
        def seen():
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, "watched", None, None,
                            libvirt.VIR_DOMAIN_AFFECT_CONFIG)
            return watcher.poll() is not None
        h.wait_until(seen, 60, 0.5, what="virsh event to see a metadata change")
        out, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert f"event 'metadata-change' for domain '{NAME}': type title" in out, (out, err)


def test_guest_input_needs_a_running_domain(bridge, dom):
    code, msg = error_of(dom.sendKey, libvirt.VIR_KEYCODE_SET_LINUX, 0, [29, 56, 111], 3, 0)
    assert code == libvirt.VIR_ERR_OPERATION_INVALID and "not running" in msg, msg
    code, msg = error_of(dom.injectNMI, 0)
    assert code == libvirt.VIR_ERR_OPERATION_INVALID, msg
    # An unknown keycode is refused whatever the state, before anything is sent.
    code, msg = error_of(dom.sendKey, libvirt.VIR_KEYCODE_SET_LINUX, 0, [999], 1, 0)
    assert code == libvirt.VIR_ERR_INVALID_ARG and "999" in msg, msg


def test_domrename(bridge, conn, dom):
    uid = dom.UUIDString()
    other = conn.defineXML(
        f"<domain type='qemu'><name>tune-other</name><memory>131072</memory>"
        f"<os><type>hvm</type><kernel>{GUEST}/vmlinuz</kernel></os></domain>")
    try:
        # A taken name: OPERATION_FAILED, and nothing changes.
        code, msg = error_of(dom.rename, "tune-other", 0)
        assert code == libvirt.VIR_ERR_OPERATION_FAILED and "already exists" in msg, msg
        code, msg = error_of(dom.rename, NAME, 0)
        assert code == libvirt.VIR_ERR_OPERATION_INVALID, msg
        assert "renamed" in virsh(bridge, "domrename", NAME, "tune-renamed").stdout
        renamed = conn.lookupByName("tune-renamed")
        assert renamed.UUIDString() == uid
        assert inactive_xml(renamed).find("name").text == "tune-renamed"
        code, _ = error_of(conn.lookupByName, NAME)
        assert code == libvirt.VIR_ERR_NO_DOMAIN
        # The old name is free again.
        renamed.rename(NAME, 0)
        assert conn.lookupByName(NAME).UUIDString() == uid
    finally:
        other.undefine()


def test_changes_need_domain_write(bridge, dom):
    user = h.test_user()
    # Reading is open; changing needs polkit's yes (auth_admin_keep, no agent here).
    assert "No description" in virsh(bridge, "desc", NAME, user=user).stdout
    for args in (["setmem", NAME, "131072", "--config"], ["desc", NAME, "--config", "x"],
                 ["setvcpus", NAME, "2", "--config"]):
        r = virsh(bridge, *args, user=user, check=False)
        assert r.returncode == 1 and "org.virtswarm.domain.write" in r.stderr, (args, r.stderr)
    assert inactive_xml(dom).find("description") is None
