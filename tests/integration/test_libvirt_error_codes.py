"""The libvirt error codes scripts branch on, as python3-libvirt sees them through
virtswarm-proxyd, compared with what libvirt 9.0 itself reports for the same call
(virDomainObjListAdd, virNetworkObjAssignDef, virDomainDefParseXML, virXMLParseHelper,
qemuDomainDetachDeviceConfig). No guest is started: each case is refused at define time
or against the persistent definition.

Run through tests/harness/with-test-bus (ctest -R integration-test_libvirt_error_codes).
"""

import uuid as uuidlib

import pytest

import bridgeclient as bc
import vsharness as h

libvirt = pytest.importorskip("libvirt")
pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

GUEST = "/var/cache/virtswarm/test-guest"


@pytest.fixture(scope="module")
def bridge():
    proxyd = bc.Bridge("bridge-errcodes")
    yield proxyd
    proxyd.stop()


@pytest.fixture(scope="module")
def conn(bridge):
    c = libvirt.open(bridge.rw_uri)
    yield c
    c.close()


def domain_xml(name, uid, devices=""):
    return (f"<domain type='qemu'><name>{name}</name><uuid>{uid}</uuid>"
            "<memory unit='MiB'>128</memory><vcpu>1</vcpu>"
            f"<os><type>hvm</type><kernel>{GUEST}/vmlinuz</kernel></os>"
            f"<devices>{devices}</devices></domain>")


def network_xml(name, uid, octet):
    return (f"<network><name>{name}</name><uuid>{uid}</uuid>"
            f"<ip address='10.201.{octet}.1' netmask='255.255.255.0'/></network>")


def error_of(fn, *args):
    with pytest.raises(libvirt.libvirtError) as e:
        fn(*args)
    return e.value.get_error_code(), e.value.get_error_message()


def names(conn):
    return sorted(d.name() for d in conn.listAllDomains())


def test_duplicate_domain_name_or_uuid_is_operation_failed(conn):
    uid = str(uuidlib.uuid4())
    dom = conn.defineXML(domain_xml("errc-dup", uid))
    try:
        before = names(conn)
        # Same name, another UUID.
        code, msg = error_of(conn.defineXML, domain_xml("errc-dup", str(uuidlib.uuid4())))
        assert code == libvirt.VIR_ERR_OPERATION_FAILED, msg
        assert "errc-dup" in msg
        # Same UUID, another name.
        code, msg = error_of(conn.defineXML, domain_xml("errc-dup2", uid))
        assert code == libvirt.VIR_ERR_OPERATION_FAILED, msg
        assert names(conn) == before, "a refused define changes nothing"
    finally:
        dom.undefine()


def test_duplicate_network_is_operation_failed(conn):
    uid = str(uuidlib.uuid4())
    net = conn.networkDefineXML(network_xml("errc-net", uid, 1))
    try:
        code, msg = error_of(conn.networkDefineXML,
                             network_xml("errc-net", str(uuidlib.uuid4()), 2))
        assert code == libvirt.VIR_ERR_OPERATION_FAILED, msg
        code, msg = error_of(conn.networkDefineXML, network_xml("errc-net2", uid, 3))
        assert code == libvirt.VIR_ERR_OPERATION_FAILED, msg
        assert "errc-net2" not in [n.name() for n in conn.listAllNetworks()]
    finally:
        net.undefine()


@pytest.mark.parametrize("xml", [
    "<domain type='qemu'><memory>131072</memory><os><type>hvm</type></os></domain>",
    "<domain type='qemu'><name></name><memory>131072</memory><os><type>hvm</type></os></domain>",
])
def test_missing_name_is_no_name(conn, xml):
    code, msg = error_of(conn.defineXML, xml)
    assert code == libvirt.VIR_ERR_NO_NAME, msg


def test_network_without_name_is_no_name(conn):
    code, msg = error_of(conn.networkDefineXML, "<network><bridge name='vserrc0'/></network>")
    assert code == libvirt.VIR_ERR_NO_NAME, msg


@pytest.mark.parametrize("xml", ["<domain", "<domain><name>x</nam></domain>", ""])
def test_malformed_xml_is_xml_detail(conn, xml):
    code, msg = error_of(conn.defineXML, xml)
    assert code == libvirt.VIR_ERR_XML_DETAIL, msg


def test_semantic_xml_errors_stay_xml_error(conn):
    # Well-formed but wrong (no <memory>): libvirt's XML_ERROR, not XML_DETAIL.
    code, msg = error_of(conn.defineXML, "<domain type='qemu'><name>errc-nomem</name>"
                                         "<os><type>hvm</type></os></domain>")
    assert code == libvirt.VIR_ERR_XML_ERROR, msg


@pytest.mark.parametrize("devices, word", [
    ("<hostdev mode='subsystem' type='pci'/>", "hostdev"),
    ("<serial type='tcp'/>", "tcp"),
])
def test_configuration_refusals_are_config_unsupported(conn, devices, word):
    before = names(conn)
    code, msg = error_of(conn.defineXML, domain_xml("errc-cfg", str(uuidlib.uuid4()), devices))
    assert code == libvirt.VIR_ERR_CONFIG_UNSUPPORTED, msg
    assert word in msg
    assert names(conn) == before


def test_detaching_a_missing_device_is_device_missing(conn):
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{GUEST}/vmlinuz'/><target dev='vdb' bus='virtio'/>"
            "<readonly/></disk>")
    dom = conn.defineXML(domain_xml("errc-detach", str(uuidlib.uuid4())))
    try:
        before = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        code, msg = error_of(dom.detachDeviceFlags, disk, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        assert code == libvirt.VIR_ERR_DEVICE_MISSING, msg
        assert "vdb" in msg
        nic = "<interface type='user'><mac address='52:54:00:aa:bb:cc'/></interface>"
        code, msg = error_of(dom.detachDeviceFlags, nic, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        assert code == libvirt.VIR_ERR_DEVICE_MISSING, msg
        assert dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before
        # The same disk, once attached, detaches (the code above is about absence only).
        dom.attachDeviceFlags(disk, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        dom.detachDeviceFlags(disk, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    finally:
        dom.undefine()


def test_undefine_of_a_domain_with_nvram_needs_nvram_or_keep_nvram(conn, tmp_path):
    """libvirt 9.0's qemuDomainUndefineFlags: an existing NVRAM file makes a plain undefine
    OPERATION_INVALID ("cannot undefine domain with nvram"), and so is asking for both
    flags; VIR_DOMAIN_UNDEFINE_NVRAM removes the file, _KEEP_NVRAM leaves it."""
    nvram = tmp_path / "errc-nvram_VARS.fd"
    uid = str(uuidlib.uuid4())
    xml = (f"<domain type='qemu'><name>errc-nvram</name><uuid>{uid}</uuid>"
           "<memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type machine='q35'>hvm</type>"
           "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
           f"<nvram>{nvram}</nvram></os><devices/></domain>")
    dom = conn.defineXML(xml)
    try:
        # No NVRAM file yet (the first start makes it): nothing to decide.
        dom.undefine()
        dom = conn.defineXML(xml)
        nvram.write_bytes(b"variables")
        for flags, word in ((0, "cannot undefine domain with nvram"),
                            (libvirt.VIR_DOMAIN_UNDEFINE_NVRAM |
                             libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM,
                             "cannot both keep and delete nvram")):
            code, msg = error_of(dom.undefineFlags, flags)
            assert code == libvirt.VIR_ERR_OPERATION_INVALID, msg
            assert word in msg
            assert "errc-nvram" in names(conn) and nvram.read_bytes() == b"variables"
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM)
        assert "errc-nvram" not in names(conn) and nvram.read_bytes() == b"variables"
        dom = conn.defineXML(xml)
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        assert "errc-nvram" not in names(conn) and not nvram.exists()
    finally:
        if "errc-nvram" in names(conn):
            conn.lookupByName("errc-nvram").undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)


# ---------------------------------------------------------------- validation
def test_define_validate_refuses_what_the_schema_does_not_know(conn):
    typo = domain_xml("errc-typo", str(uuidlib.uuid4()),
                      "<serial type='pty'><targett port='0'/></serial>")
    before = names(conn)
    code, msg = error_of(conn.defineXMLFlags, typo, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    assert code == libvirt.VIR_ERR_XML_INVALID_SCHEMA, msg
    # libxml2's RelaxNG words it (as for libvirt, which uses it too): inside an interleave
    # it names the enclosing element ("Extra element devices in interleave").
    assert "Unable to validate doc against /usr/share/libvirt/schemas/domain.rng" in msg, msg
    assert "devices" in msg, msg
    attr = domain_xml("errc-attr", str(uuidlib.uuid4()), "<serial type='pty' colour='red'/>")
    code, msg = error_of(conn.defineXMLFlags, attr, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    assert code == libvirt.VIR_ERR_XML_INVALID_SCHEMA, msg
    # The same through CREATE_XML's own flag: refused before anything starts.
    code, msg = error_of(conn.createXML, typo, libvirt.VIR_DOMAIN_START_VALIDATE)
    assert code == libvirt.VIR_ERR_XML_INVALID_SCHEMA, msg
    assert names(conn) == before
    # Malformed text stays XML_DETAIL with the flag.
    code, msg = error_of(conn.defineXMLFlags, "<domain", libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    assert code == libvirt.VIR_ERR_XML_DETAIL, msg


def test_define_validate_accepts_a_valid_definition(conn):
    xml = domain_xml("errc-valid", str(uuidlib.uuid4()),
                     "<serial type='pty'/><console type='pty'/>")
    dom = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    try:
        # What it stored (libvirt's form) validates too.
        again = conn.defineXMLFlags(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE),
                                    libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        assert again.UUIDString() == dom.UUIDString()
    finally:
        dom.undefine()


def test_virsh_define_validate(bridge, conn, tmp_path):
    home = bc.virsh_home(h.env("VS_TEST_ROOT"))
    bad = tmp_path / "typo.xml"
    bad.write_text(domain_xml("errc-virsh", str(uuidlib.uuid4()), "<serail type='pty'/>"))
    r = bc.virsh(home, bridge.rw_uri, "define", "--validate", str(bad), check=False)
    assert r.returncode == 1, r.stdout
    assert "Unable to validate doc against" in r.stderr and "devices" in r.stderr, r.stderr
    assert "errc-virsh" not in names(conn)
