"""`virsh nodedev-*` and python-libvirt through the libvirt bridge (virtswarm-proxyd) to a
nodedevd on a FAKE sysfs tree (tests/fakes/fake_sysfs.py): the tree, dumpxml, detach,
reset, re-attach, errors and the read-only socket. The fake devices live in PCI domain
0x00ff, which no real host has: even a call that reached a nodedevd on /sys could only
answer "no such device"."""

import os
import sys
import uuid as uuidlib

import libvirt
import pytest

import bridgeclient as bc
import nodedevclient as nd
import vsharness as h

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
import fake_sysfs as fk  # noqa: E402

GPU, NIC = fk.name_of(fk.GPU), fk.name_of(fk.NIC)
ETH9 = "net_eth9_52_54_00_aa_bb_cc"


@pytest.fixture(autouse=True)
def no_leftover_domains():
    """Replaces the directory's domain clean-up: nodedevd needs no hypervisor."""
    yield


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with nd.fake_nodedevd(str(tmp_path_factory.mktemp("fake-sysfs"))) as (fs, kernel, client):
        proxyd = bc.Bridge("bridge-nodedev")
        try:
            yield {"fs": fs, "kernel": kernel, "client": client, "proxyd": proxyd,
                   "home": bc.virsh_home(proxyd.root)}
        finally:
            proxyd.stop()


def virsh(env, *args, uri=None, check=True):
    return bc.virsh(env["home"], uri or env["proxyd"].rw_uri, *args, check=check)


def test_nodedev_list_and_tree_match_nodedevd(env):
    names = virsh(env, "-q", "nodedev-list").stdout.split()
    assert sorted(names) == sorted(env["client"].names())
    assert sorted(virsh(env, "-q", "nodedev-list", "--cap", "pci").stdout.split()) == \
        sorted(fk.name_of(a) for a in [fk.GPU, fk.NIC, fk.USBCTL, fk.HBA])
    out = virsh(env, "nodedev-list", "--tree").stdout
    assert out.splitlines()[0] == "computer"
    # eth9 is drawn under its NIC, usb_1_1_1_0 under usb_1_1 under the controller.
    tree = nd.tree_positions(out)
    nd.assert_drawn_under(tree, NIC, ETH9)
    nd.assert_drawn_under(tree, fk.name_of(fk.USBCTL), "usb_1_1")
    nd.assert_drawn_under(tree, "usb_1_1", "usb_1_1_1_0")


def test_dumpxml_and_the_libvirt_api(env):
    out = virsh(env, "nodedev-dumpxml", GPU).stdout
    assert f"<name>{GPU}</name>" in out and "<vendor id=\"0x8086\"" in out
    conn = libvirt.open(env["proxyd"].rw_uri)
    try:
        dev = conn.nodeDeviceLookupByName(ETH9)
        assert dev.parent() == NIC and dev.listCaps() == ["net"]
        assert conn.nodeDeviceLookupByName("computer").parent() is None
        assert len(conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET)) == 1
        assert conn.numOfDevices("usb_device") == 1
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nodeDeviceLookupByName("pci_00ff_00_1f_7")
        assert e.value.get_error_code() == libvirt.VIR_ERR_NO_NODE_DEVICE
    finally:
        conn.close()


def test_detach_reset_reattach_with_virsh(env):
    fs, kernel = env["fs"], env["kernel"]
    assert "detached" in virsh(env, "nodedev-detach", GPU).stdout
    assert fs.driver(fk.GPU) == "vfio-pci"
    assert "reset" in virsh(env, "nodedev-reset", GPU).stdout
    h.wait_until(lambda: kernel.writes_to(f"{fk.GPU}/reset") == ["1"], 10, 0.01,
                 "the fake kernel to see the reset")
    assert "re-attached" in virsh(env, "nodedev-reattach", GPU).stdout
    assert fs.driver(fk.GPU) == "i915"
    # Errors: a device in use by a host driver cannot be reset; a USB device is no PCI
    # device; the read-only socket refuses before anything happens.
    before = list(kernel.writes)
    r = virsh(env, "nodedev-reset", NIC, check=False)
    assert r.returncode != 0 and "in use by host driver" in r.stderr
    r = virsh(env, "nodedev-detach", "usb_1_1", check=False)
    assert r.returncode != 0 and "not a PCI device" in r.stderr
    r = virsh(env, "nodedev-detach", GPU, uri=env["proxyd"].ro_uri, check=False)
    assert r.returncode != 0 and "read only" in r.stderr.lower()
    assert kernel.writes == before and fs.driver(fk.NIC) == "e1000e"


def mdev_xml(parent, uuid=None, cap_type="mdev"):
    inner = f"<type id='{fk.MDEV_TYPE}'/>" + (f"<uuid>{uuid}</uuid>" if uuid else "")
    return (f"<device><parent>{parent}</parent>"
            f"<capability type='{cap_type}'>{inner}</capability></device>")


def test_mdev_create_and_destroy_with_virsh_and_python(env):
    """virsh nodedev-create / nodedev-destroy (NODE_DEVICE_CREATE_XML 123, DESTROY 124)
    make and remove a mediated device through nodedevd; python-libvirt's createXML without
    a UUID gets one; bad requests are libvirt's errors with nothing made."""
    fs, c = env["fs"], env["client"]
    u = str(uuidlib.uuid4())
    name = "mdev_" + u.replace("-", "_")
    path = os.path.join(env["home"], "mdev.xml")
    with open(path, "w") as f:
        f.write(mdev_xml(GPU, u))
    out = virsh(env, "nodedev-create", path).stdout
    assert f"Node device {name} created from {path}" in out, out
    assert fs.mdevs() == [u]
    h.wait_until(lambda: name in virsh(env, "-q", "nodedev-list", "--cap", "mdev").stdout.split(),
                 10, 0.05, "the mdev in the bridge's list")
    dumped = virsh(env, "nodedev-dumpxml", name).stdout
    assert f"<uuid>{u}</uuid>" in dumped and fk.MDEV_TYPE in dumped
    assert name in virsh(env, "nodedev-destroy", name).stdout
    assert fs.mdevs() == []

    conn = libvirt.open(env["proxyd"].rw_uri)
    try:
        dev = conn.nodeDeviceCreateXML(mdev_xml(GPU), 0)
        made = dev.name()
        assert made.startswith("mdev_") and fs.mdevs() == [made[5:].replace("_", "-")]
        dev.destroy()
        assert fs.mdevs() == []

        def error_code(xml):
            with pytest.raises(libvirt.libvirtError) as e:
                conn.nodeDeviceCreateXML(xml, 0)
            return e.value.get_error_code()
        assert error_code(mdev_xml("pci_00ff_00_1f_7")) == libvirt.VIR_ERR_NO_NODE_DEVICE
        assert error_code(mdev_xml(GPU, cap_type="pci")) == libvirt.VIR_ERR_XML_ERROR
        assert error_code("<device><parent>x</parent>") == libvirt.VIR_ERR_XML_DETAIL
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nodeDeviceLookupByName(GPU).destroy()   # not a mediated device
        assert e.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
        assert fs.mdevs() == []
        # SCSI host by its Fibre Channel names (NODE_DEVICE_LOOKUP_SCSI_HOST_BY_WWN 297).
        assert conn.nodeDeviceLookupSCSIHostByWWN(fk.WWNN, fk.WWPN, 0).name() == "scsi_host0"
        with pytest.raises(libvirt.libvirtError) as e:
            conn.nodeDeviceLookupSCSIHostByWWN(fk.WWNN, "1000000000000000", 0)
        assert e.value.get_error_code() == libvirt.VIR_ERR_NO_NODE_DEVICE
    finally:
        conn.close()
    r = virsh(env, "nodedev-create", path, uri=env["proxyd"].ro_uri, check=False)
    assert r.returncode != 0 and "read only" in r.stderr.lower()
    assert fs.mdevs() == [] and name not in c.names()


def test_an_unprivileged_nodedev_create_is_parsed_bounded_then_refused(env):
    """virsh nodedev-create as a user: an entity bomb is libvirt's XML error before polkit
    is asked, a valid mediated device is refused by polkit; nothing is made."""
    fs, user = env["fs"], h.test_user()
    bomb = os.path.join(env["home"], "bomb.xml")
    with open(bomb, "w") as f:
        f.write(f'<!DOCTYPE device [<!ENTITY x "{"a" * (1 << 20)}">]>\n' +
                mdev_xml(GPU).replace("<type ", "<type name='" + "&x;" * 500 + "' "))
    valid = os.path.join(env["home"], "valid.xml")
    with open(valid, "w") as f:
        f.write(mdev_xml(GPU, str(uuidlib.uuid4())))
    for path in (bomb, valid):
        os.chmod(path, 0o644)
    r = bc.virsh(env["home"], env["proxyd"].rw_uri, "nodedev-create", bomb, user=user,
                 check=False)
    assert r.returncode != 0 and "XML" in r.stderr, r.stderr
    r = bc.virsh(env["home"], env["proxyd"].rw_uri, "nodedev-create", valid, user=user,
                 check=False)
    # polkit would need an administrator's password for the user: refused, naming the action.
    assert r.returncode != 0 and "org.virtswarm.node-device.start" in r.stderr, r.stderr
    assert fs.mdevs() == []


def test_node_device_lifecycle_events_reach_python_callbacks(env):
    """An mdev created and destroyed by nodedevd is a CREATED and a DELETED node device
    event for a libvirt client; a registration for one device sees only that one's. A
    secret event registration is accepted (the swarm keeps no libvirt secrets, so none
    fires)."""
    c = env["client"]
    with bc.libvirt_event_loop(libvirt):
        conn = libvirt.open(env["proxyd"].rw_uri)
        seen, gpu_only = [], []
        everything = conn.nodeDeviceEventRegisterAny(
            None, libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE,
            lambda _c, dev, event, _detail, _o: seen.append((dev.name(), event)), None)
        one = conn.nodeDeviceEventRegisterAny(
            conn.nodeDeviceLookupByName(GPU), libvirt.VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE,
            lambda _c, dev, event, _detail, _o: gpu_only.append(dev.name()), None)
        secrets = conn.secretEventRegisterAny(
            None, libvirt.VIR_SECRET_EVENT_ID_LIFECYCLE, lambda *_: None, None)
        try:
            u = str(uuidlib.uuid4())
            c.manager().CreateMdev(GPU, fk.MDEV_TYPE, u, nd.opts(), timeout=nd.TIMEOUT)
            name = "mdev_" + u.replace("-", "_")
            c.device(name).Destroy(nd.opts(), timeout=nd.TIMEOUT)
            want = [(name, libvirt.VIR_NODE_DEVICE_EVENT_CREATED),
                    (name, libvirt.VIR_NODE_DEVICE_EVENT_DELETED)]
            h.wait_until(lambda: seen == want, 30, what=f"node device events (seen {seen})")
            assert gpu_only == []
        finally:
            conn.secretEventDeregisterAny(secrets)
            conn.nodeDeviceEventDeregisterAny(one)
            conn.nodeDeviceEventDeregisterAny(everything)
            conn.close()
