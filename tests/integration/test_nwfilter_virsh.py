"""`virsh nwfilter-*` and python-libvirt through the libvirt bridge (virtswarm-proxyd) to
virtswarm-nwfilterd: list, define, dumpxml, undefine, lookups, the errors libvirt's
clients branch on, polkit for an unprivileged client, and the read-only socket. No port
is bound here (nftables is not touched)."""

import os
import tempfile

import libvirt
import pytest

import bridgeclient as bc
import nwfilterclient as nf
import vsharness as h


@pytest.fixture(autouse=True)
def no_leftover_domains():
    """Replaces the directory's domain clean-up: nwfilterd needs no hypervisor."""
    yield


@pytest.fixture(scope="module")
def env():
    proxyd = bc.Bridge("bridge-nwfilter")
    try:
        yield {"proxyd": proxyd, "home": bc.virsh_home(proxyd.root)}
    finally:
        proxyd.stop()


def virsh(env, *args, uri=None, check=True, user=None):
    return bc.virsh(env["home"], uri or env["proxyd"].rw_uri, *args, check=check, user=user)


def define_file(env, xml, **kw):
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, dir=env["home"]) as f:
        f.write(xml)
    os.chmod(f.name, 0o644)
    try:
        return virsh(env, "nwfilter-define", f.name, **kw)
    finally:
        os.unlink(f.name)


def test_nwfilter_list_matches_nwfilterd(env):
    out = virsh(env, "-q", "nwfilter-list").stdout
    names = sorted(line.split()[1] for line in out.splitlines() if line.strip())
    assert names == nf.names()
    assert set(nf.STANDARD) <= set(names)


def test_define_dumpxml_undefine_with_virsh(env):
    xml = ("<filter name='t-virsh' chain='ipv4'>"
           "<rule action='drop' direction='in' priority='300'><udp dstportstart='53'/></rule>"
           "</filter>")
    assert "t-virsh" in define_file(env, xml).stdout
    dumped = virsh(env, "nwfilter-dumpxml", "t-virsh").stdout
    assert "name='t-virsh'" in dumped or 'name="t-virsh"' in dumped
    uuid = str(nf.props(nf.lookup("t-virsh"))["UUID"])
    assert uuid in dumped
    # By UUID too, as virsh resolves either.
    assert "t-virsh" in virsh(env, "nwfilter-dumpxml", uuid).stdout
    # dumpxml | define: the same filter.
    assert "t-virsh" in define_file(env, dumped).stdout
    assert str(nf.props(nf.lookup("t-virsh"))["UUID"]) == uuid
    assert "undefined" in virsh(env, "nwfilter-undefine", "t-virsh").stdout
    assert "t-virsh" not in nf.names()


def test_libvirt_api_and_error_codes(env):
    conn = libvirt.open(env["proxyd"].rw_uri)
    try:
        names = sorted(f.name() for f in conn.listAllNWFilters())
        assert names == nf.names()
        assert sorted(conn.listNWFilters()) == names
        assert conn.numOfNWFilters() == len(names)
        ct = conn.nwfilterLookupByName("clean-traffic")
        assert conn.nwfilterLookupByUUIDString(ct.UUIDString()).name() == "clean-traffic"
        assert "no-mac-spoofing" in ct.XMLDesc()
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nwfilterLookupByName("no-such-filter")
        assert e.value.get_error_code() == libvirt.VIR_ERR_NO_NWFILTER
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nwfilterDefineXML("<filter name='t-loop'><filterref filter='t-loop'/></filter>")
        assert e.value.get_error_code() == libvirt.VIR_ERR_OPERATION_FAILED
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nwfilterDefineXML("<filter name='t-bad'><rule action='x' direction='in'/>"
                                   "</filter>")
        assert e.value.get_error_code() == libvirt.VIR_ERR_XML_ERROR
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nwfilterDefineXML("<filter name='t-ref'><filterref filter='nope'/></filter>")
        assert e.value.get_error_code() == libvirt.VIR_ERR_NO_NWFILTER
        f = conn.nwfilterDefineXML("<filter name='t-api' chain='arp'/>")
        assert f.name() == "t-api" and conn.nwfilterLookupByName("t-api").UUID() == f.UUID()
        f.undefine()
        assert "t-api" not in nf.names()
    finally:
        conn.close()


def test_polkit_and_the_read_only_socket(env):
    user = h.test_user()
    out = virsh(env, "-q", "nwfilter-list", user=user).stdout
    assert "clean-traffic" in out
    assert "no-mac-spoofing" in virsh(env, "nwfilter-dumpxml", "clean-traffic", user=user).stdout
    r = virsh(env, "nwfilter-undefine", "allow-arp", user=user, check=False)
    assert r.returncode != 0 and "allow-arp" in nf.names()
    r = virsh(env, "nwfilter-undefine", "allow-arp", uri=env["proxyd"].ro_uri, check=False)
    assert r.returncode != 0 and "read only" in r.stderr.lower()
    assert "allow-arp" in nf.names()


def test_define_with_validate_flag(env):
    xml = ("<filter name='t-validate' chain='ipv4'>"
           "<rule action='drop' direction='out'><tcp dstportstart='25'/></rule></filter>")
    assert "t-validate" in define_file(env, xml).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, dir=env["home"]) as f:
        f.write(xml.replace("25", "587"))
    os.chmod(f.name, 0o644)
    try:
        assert "t-validate" in virsh(env, "nwfilter-define", "--validate", f.name).stdout
    finally:
        os.unlink(f.name)
    assert "587" in nf.xml_of("t-validate")
    conn = libvirt.open(env["proxyd"].rw_uri)
    try:
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nwfilterDefineXMLFlags("<filter name='t-validate'><rule action='x'/></filter>",
                                        libvirt.VIR_NWFILTER_DEFINE_VALIDATE)
        assert e.value.get_error_code() == libvirt.VIR_ERR_XML_ERROR
        assert "587" in nf.xml_of("t-validate")  # nothing changed
    finally:
        conn.close()
    virsh(env, "nwfilter-undefine", "t-validate")


def test_binding_procedures_refuse_without_touching_nftables(env):
    """The binding procedures' errors, all decided before nftables (the network tier binds
    real ports through virsh)."""
    assert virsh(env, "-q", "nwfilter-binding-list").stdout.strip() == ""
    conn = libvirt.open(env["proxyd"].rw_uri)
    try:
        assert conn.listAllNWFilterBindings() == []
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nwfilterBindingLookupByPortDev("vsnone0")
        assert e.value.get_error_code() == libvirt.VIR_ERR_NO_NWFILTER_BINDING
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nwfilterBindingCreateXML(nf.binding_xml("vsnone0", "52:54:00:00:00:01",
                                                         "no-such-filter"))
        assert e.value.get_error_code() == libvirt.VIR_ERR_NO_NWFILTER
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nwfilterBindingCreateXML("<filterbinding><portdev name='x y'/></filterbinding>")
        assert e.value.get_error_code() == libvirt.VIR_ERR_XML_ERROR
        assert conn.listAllNWFilterBindings() == []
    finally:
        conn.close()
    r = virsh(env, "nwfilter-binding-dumpxml", "vsnone0", check=False)
    assert r.returncode != 0 and "vsnone0" in r.stderr
    r = virsh(env, "nwfilter-binding-delete", "vsnone0", check=False)
    assert r.returncode != 0
    # An unprivileged client is refused creation before nwfilterd is asked.
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, dir=env["home"]) as f:
        f.write(nf.binding_xml("vsnone0", "52:54:00:00:00:01", "allow-arp"))
    os.chmod(f.name, 0o644)
    try:
        r = virsh(env, "nwfilter-binding-create", f.name, user=h.test_user(), check=False)
        assert r.returncode != 0 and "nwfilter-binding.create" in r.stderr, r.stderr
        r = virsh(env, "nwfilter-binding-create", f.name, uri=env["proxyd"].ro_uri, check=False)
        assert r.returncode != 0 and "read only" in r.stderr.lower()
    finally:
        os.unlink(f.name)
    assert list(nf.manager().ListBindings(nf.opts())) == []
