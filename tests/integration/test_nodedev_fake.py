"""virtswarm-nodedevd's operations against a FAKE sysfs tree (tests/fakes/fake_sysfs.py):
detach to vfio-pci, re-attach, reset, mediated devices, lookups by WWN, and polkit for
an unprivileged user, with the real polkitd on the private bus. The fake kernel records
every write nodedevd makes; no real device is touched.

nodedevd is started by the test with VIRTSWARM_SYSFS_ROOT, and every call goes to its
unique bus name, so a call can never reach (or activate) a nodedevd on the real /sys."""

import os
import sys
import uuid as uuidlib

import pytest

import nodedevclient as nd
import vsharness as h

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
import fake_sysfs as fk  # noqa: E402

GPU, NIC = fk.name_of(fk.GPU), fk.name_of(fk.NIC)
CHALLENGED = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"


@pytest.fixture(autouse=True)
def no_leftover_domains():
    """Replaces the directory's domain clean-up: nodedevd needs no hypervisor."""
    yield


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    with nd.fake_nodedevd(str(tmp_path_factory.mktemp("fake-sysfs"))) as running:
        yield running


def test_the_fake_tree_is_described_as_libvirt_does(fake):
    fs, kernel, c = fake
    assert not c.live_updates()  # not the host's /sys: no uevents to follow
    names = set(c.names())
    assert {GPU, NIC, "net_eth9_52_54_00_aa_bb_cc", "usb_1_1", "usb_1_1_1_0",
            "scsi_host0"} <= names
    gpu = nd.cap(c.xml(GPU), "pci")
    assert gpu.findtext("class") == "0x030000" and gpu.findtext("domain") == "255"
    assert gpu.find("vendor").get("id") == "0x8086" and gpu.find("product").get("id") == "0x5912"
    assert gpu.find("iommuGroup").get("number") == "7"
    assert gpu.find("iommuGroup/address").get("slot") == "0x02"
    types = gpu.find("capability[@type='mdev_types']")
    assert types.find("type").get("id") == fk.MDEV_TYPE
    assert types.findtext("type/availableInstances") == "2"
    assert c.xml(GPU).findtext("driver/name") == "i915"
    net = c.xml("net_eth9_52_54_00_aa_bb_cc")
    assert net.findtext("parent") == NIC
    assert nd.cap(net).find("link").get("state") == "up"
    assert nd.cap(net).find("link").get("speed") == "1000"
    usb = c.xml("usb_1_1")
    assert usb.findtext("parent") == fk.name_of(fk.USBCTL)
    assert nd.cap(usb).find("vendor").get("id") == "0x046d"
    assert c.xml("usb_1_1_1_0").findtext("parent") == "usb_1_1"
    assert nd.cap(c.xml("usb_1_1_1_0")).findtext("class") == "3"
    host = c.xml("scsi_host0")
    assert host.findtext("parent") == fk.name_of(fk.HBA)
    assert host.findtext("capability/capability[@type='fc_host']/wwpn") == fk.WWPN
    assert str(c.manager().LookupSCSIHostByWWN(fk.WWNN, fk.WWPN)).endswith("/scsi_host0")
    assert kernel.writes == []  # reading wrote nothing


def test_detach_reset_reattach_through_the_kernel_files(fake):
    fs, kernel, c = fake
    dev = c.device(GPU)
    dev.Detach(nd.opts(), timeout=nd.TIMEOUT)
    assert fs.driver(fk.GPU) == "vfio-pci"
    assert kernel.writes_to(f"{fk.GPU}/driver_override") == ["vfio-pci"]
    assert kernel.writes_to("drivers/i915/unbind") == [fk.GPU]
    assert kernel.writes_to("drivers_probe") == [fk.GPU]
    h.wait_until(lambda: c.props(GPU)["Driver"] == "vfio-pci", 10, 0.05, "Driver to follow")
    # Detached already: nothing more is written.
    dev.Detach(nd.opts(driver="vfio"), timeout=nd.TIMEOUT)
    assert kernel.writes_to("drivers_probe") == [fk.GPU]
    dev.Reset(nd.opts(), timeout=nd.TIMEOUT)
    # The kernel resets during the write; the fake one notices it on its next look.
    h.wait_until(lambda: kernel.writes_to(f"{fk.GPU}/reset") == ["1"], 10, 0.01,
                 "the fake kernel to see the reset")
    dev.ReAttach(nd.opts(), timeout=nd.TIMEOUT)
    assert fs.driver(fk.GPU) == "i915"
    assert kernel.writes_to("drivers/vfio-pci/unbind") == [fk.GPU]
    assert fs.read(f"{fs.dev(fk.GPU)}/driver_override") == "(null)\n"
    h.wait_until(lambda: c.props(GPU)["Driver"] == "i915", 10, 0.05, "Driver to follow")


def test_bad_requests_are_named_errors_and_write_nothing(fake):
    fs, kernel, c = fake
    before = list(kernel.writes)
    m = c.manager()
    cases = [
        (lambda: c.device(NIC).Reset(nd.opts()), "org.virtswarm.Error.InvalidState"),
        (lambda: c.device("usb_1_1").Detach(nd.opts()), "org.freedesktop.DBus.Error.InvalidArgs"),
        (lambda: c.device(GPU).Detach(nd.opts(driver="kvm")),
         "org.freedesktop.DBus.Error.InvalidArgs"),
        (lambda: c.device(GPU).Destroy(nd.opts()), "org.freedesktop.DBus.Error.InvalidArgs"),
        (lambda: m.LookupByName("pci_00ff_00_1f_7"), "org.virtswarm.Error.NoSuchNodeDevice"),
        (lambda: m.CreateMdev(GPU, "no-such-type", str(uuidlib.uuid4()), nd.opts()),
         "org.freedesktop.DBus.Error.InvalidArgs"),
        (lambda: m.CreateMdev(GPU, "../../../bus/pci/drivers/i915", str(uuidlib.uuid4()),
                              nd.opts()), "org.freedesktop.DBus.Error.InvalidArgs"),
        (lambda: m.CreateMdev(GPU, fk.MDEV_TYPE, "not-a-uuid", nd.opts()),
         "org.freedesktop.DBus.Error.InvalidArgs"),
        (lambda: m.CreateMdev(NIC, fk.MDEV_TYPE, str(uuidlib.uuid4()), nd.opts()),
         "org.freedesktop.DBus.Error.InvalidArgs"),
    ]
    for call, want in cases:
        assert nd.error_name(call) == want
    assert nd.error_name(c.bus.get_object(c.dest, f"{nd.ROOT}/device/pci_00ff_00_1f_7")
                         .GetXML, nd.opts(), dbus_interface=nd.DEVICE) == \
        "org.freedesktop.DBus.Error.UnknownObject"
    assert kernel.writes == before
    assert fs.driver(fk.NIC) == "e1000e" and fs.driver(fk.GPU) == "i915"


def test_mediated_device_create_and_destroy(fake):
    fs, kernel, c = fake
    import vsclient as vc
    recorder = vc.SignalRecorder(f"type='signal',sender='{c.dest}'")
    try:
        u = str(uuidlib.uuid4())
        path = str(c.manager().CreateMdev(GPU, fk.MDEV_TYPE, u, nd.opts(), timeout=nd.TIMEOUT))
        name = "mdev_" + u.replace("-", "_")
        assert path.endswith("/" + name)
        assert kernel.writes_to(f"{fk.MDEV_TYPE}/create") == [u]
        x = c.xml(name)
        assert x.findtext("parent") == GPU
        assert nd.cap(x, "mdev").find("type").get("id") == fk.MDEV_TYPE
        assert nd.cap(x, "mdev").findtext("uuid") == u
        assert nd.cap(c.xml(GPU), "pci").findtext(
            "capability[@type='mdev_types']/type/availableInstances") == "1"
        assert nd.error_name(c.manager().CreateMdev, GPU, fk.MDEV_TYPE, u, nd.opts()) == \
            "org.virtswarm.Error.NodeDeviceExists"
        recorder.wait_for("InterfacesAdded", name, "NodeDeviceEvent")
        c.device(name).Destroy(nd.opts(), timeout=nd.TIMEOUT)
        assert fs.mdevs() == []
        h.wait_until(lambda: name not in c.names(), 10, 0.05, f"{name} to go")
        recorder.wait_for("InterfacesRemoved")
    finally:
        recorder.stop()


def test_polkit_challenges_a_user_for_detach_and_mdev_until_a_rule_allows(fake):
    fs, kernel, c = fake
    user = h.test_user()
    gpu_path = nd.Client.path(GPU)
    r = nd.call_as(user, c.dest, gpu_path, f"{nd.DEVICE}.GetXML", {})
    assert r.returncode == 0 and f"<name>{GPU}</name>" in r.stdout, r.stderr
    before = list(kernel.writes)
    for path, method, args in [(gpu_path, "Detach", [{}]), (gpu_path, "Reset", [{}]),
                               (nd.ROOT, "CreateMdev", [GPU, fk.MDEV_TYPE,
                                                        str(uuidlib.uuid4()), {}])]:
        iface = nd.MANAGER if path == nd.ROOT else nd.DEVICE
        r = nd.call_as(user, c.dest, path, f"{iface}.{method}", *args)
        assert r.returncode == 1 and r.stderr.startswith(CHALLENGED), (method, r.stderr)
    assert kernel.writes == before and fs.driver(fk.GPU) == "i915"
    # A rule on the details: this user may detach this GPU (by name and vendor), no more.
    rule = ("polkit.addRule(function(action, subject) {\n"
            '    if (action.id == "org.virtswarm.node-device.detach" && subject.user == "'
            + user + '" &&\n'
            f'        action.lookup("node_device_name") == "{GPU}" &&\n'
            '        action.lookup("vendor_id") == "0x8086" &&\n'
            '        action.lookup("device_class") == "0x030000")\n'
            "        return polkit.Result.YES;\n"
            "});\n")
    with h.polkit_rule("60-nodedev-test.rules", rule):
        r = nd.call_as(user, c.dest, gpu_path, f"{nd.DEVICE}.Detach", {})
        assert r.returncode == 0, r.stderr
        assert fs.driver(fk.GPU) == "vfio-pci"
        r = nd.call_as(user, c.dest, nd.Client.path(NIC), f"{nd.DEVICE}.Detach", {})
        assert r.stderr.startswith(CHALLENGED) and fs.driver(fk.NIC) == "e1000e"
        r = nd.call_as(user, c.dest, gpu_path, f"{nd.DEVICE}.ReAttach", {})
        assert r.returncode == 0, r.stderr
    assert fs.driver(fk.GPU) == "i915"
