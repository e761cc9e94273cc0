"""Backing chains are opened by the shim, layer by layer, with the definer's rights
(issue 11). QEMU used to follow the names a qcow2 header records itself, as its own
user: a user's overlay could name (by absolute path) a base only QEMU's user may read, a
root-only base failed to open, and a relative name, resolved against /dev/fdset/, never
opened at all. Now every layer is the shim's fd set, and a chain QEMU would have
to follow by name (a protocol, a loop, an unrecorded non-raw format) is refused.

Run through tests/harness/with-test-bus (ctest -R security-test_backing_chains).
"""

import os
import re
import subprocess

import dbus
import pytest

import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

CREATE = f"{vc.MANAGER}.CreateXML"
BASE_TEXT = "base-layer"
FOUND = re.compile(r"^VIRTSWARM-DISK (.*?)\r?$", re.M)
WROTE = re.compile(r"^VIRTSWARM-DISK-WROTE (\d+)\r?$", re.M)
UNSUPPORTED = "org.virtswarm.Error.ConfigUnsupported"

OPERATOR_CREATES_RULE = vc.OPERATOR_CREATES_RULE


@pytest.fixture
def workdir():
    path = os.path.join(h.env("VS_TEST_ROOT"), vc.unique("chains"))
    os.mkdir(path, 0o755)
    return path


def dbus_error(call, *args):
    with pytest.raises(dbus.exceptions.DBusException) as e:
        call(*args, timeout=vc.TIMEOUT)
    return e.value


def qemu_img(workdir, *args):
    subprocess.run(["qemu-img", *args], cwd=workdir, check=True, capture_output=True)


def raw_base(workdir, name="base.raw", mode=0o600):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(BASE_TEXT + "\n")
        f.truncate(16 << 20)
    os.chmod(path, mode)
    return path


def disk_xml(image, dev="vda"):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source file='{image}'/><target dev='{dev}' bus='virtio'/></disk>")


def console(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def qemu_cmdline(path):
    with open(f"/proc/{vc.qemu_pid(path)}/cmdline", "rb") as f:
        return f.read().decode(errors="replace").split("\0")


def test_a_three_layer_chain_on_a_root_only_base_boots(workdir):
    """top.qcow2 -> mid.qcow2 (named relative to top's directory) -> base.raw, 0600 root:
    QEMU's user could open none of the lower layers, the guest reads the base through
    both overlays, and its writes land in the top, never the base."""
    raw_base(workdir)
    qemu_img(workdir, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "mid.qcow2")
    qemu_img(workdir, "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2",
             "top.qcow2")
    for layer in ("mid.qcow2", "top.qcow2"):
        os.chmod(os.path.join(workdir, layer), 0o600)
    name = vc.unique("chain")
    serial = os.path.join(workdir, "serial.log")
    xml = vc.domain_xml(name, serial=serial, disk=True,
                        extra_devices=disk_xml(os.path.join(workdir, "top.qcow2")))
    path = str(vc.manager().CreateXML(xml, vc.no_options(), timeout=vc.TIMEOUT))
    try:
        h.wait_until(lambda: FOUND.search(console(serial)), vc.TIMEOUT, 0.2,
                     "the guest to read its disk")
        assert FOUND.search(console(serial)).group(1).strip() == BASE_TEXT
        h.wait_until(lambda: WROTE.search(console(serial)), vc.TIMEOUT, 0.2,
                     "the guest to write its disk")
        argv = ",".join(qemu_cmdline(path))
        assert "backing.backing.file.filename=/dev/fdset/" in argv, argv
        assert workdir not in argv, argv
    finally:
        vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    with open(os.path.join(workdir, "base.raw")) as f:
        assert f.readline().strip() == BASE_TEXT
    out = subprocess.run(["qemu-img", "info", "--backing-chain", "-U",
                          os.path.join(workdir, "top.qcow2")],
                         capture_output=True, text=True, check=True).stdout
    assert out.count("image:") == 3, out


def test_a_users_overlay_cannot_reach_what_only_qemu_may_read(workdir):
    """The user owns the overlay; its base is readable by QEMU's user only. QEMU could
    have opened it; the definer cannot, so the domain is refused, naming the base."""
    base = raw_base(workdir)
    qemu_uid = h.uid_of(os.environ.get("VIRTSWARM_QEMU_USER", "virtswarm-qemu"))
    os.chown(base, qemu_uid, -1)
    qemu_img(workdir, "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", "mine.qcow2")
    overlay = os.path.join(workdir, "mine.qcow2")
    os.chown(overlay, h.uid_of(h.test_user()), -1)
    name = vc.unique("lab-chain")
    xml = vc.domain_xml(name, extra_devices=disk_xml(overlay))
    with h.polkit_rule("50-operators-create.rules", OPERATOR_CREATES_RULE):
        r = vc.call_as(h.test_user(), vc.ROOT, CREATE, xml, {})
    assert r.returncode != 0, r.stdout
    assert r.stderr.startswith("org.freedesktop.DBus.Error.AccessDenied"), r.stderr
    assert base in r.stderr, r.stderr
    assert name not in [str(vc.prop(p, "Name")) for p in vc.list_domains()]


def unrecorded_qcow2_format(workdir):
    qemu_img(workdir, "create", "-q", "-f", "qcow2", "base.qcow2", "16M")
    qemu_img(workdir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
             "top.qcow2")
    top = os.path.join(workdir, "top.qcow2")
    with open(top, "r+b") as f:  # qemu-img records the format: rename that extension
        head = f.read(65536)
        f.seek(head.index(b"\xe2\x79\x2a\xca"))
        f.write(b"\x12\x34\x56\x78")
    return top, "was not specified in the image metadata"


def loop(workdir):
    qemu_img(workdir, "create", "-q", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2",
             "a.qcow2", "16M")
    qemu_img(workdir, "create", "-q", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2",
             "b.qcow2", "16M")
    return os.path.join(workdir, "a.qcow2"), "loops back"


def protocol(workdir):
    qemu_img(workdir, "create", "-q", "-f", "qcow2", "-u", "-b", "nbd:127.0.0.1:10809", "-F",
             "raw", "nbd.qcow2", "16M")
    return os.path.join(workdir, "nbd.qcow2"), "is not a local file"


@pytest.mark.parametrize("make", [unrecorded_qcow2_format, loop, protocol],
                         ids=["unrecorded-format", "loop", "protocol"])
def test_chains_qemu_would_follow_by_name_are_refused(workdir, make):
    image, words = make(workdir)
    name = vc.unique("chain-bad")
    e = dbus_error(vc.manager().CreateXML, vc.domain_xml(name, extra_devices=disk_xml(image)),
                 vc.no_options())
    assert e.get_dbus_name() == UNSUPPORTED, e
    assert words in e.get_dbus_message(), e.get_dbus_message()
    assert name not in [str(vc.prop(p, "Name")) for p in vc.list_domains()]


def test_hotplug_of_a_backed_image_is_refused(workdir):
    """Hotplug hands QEMU one image: an overlay would have QEMU open its base by name."""
    raw_base(workdir)
    qemu_img(workdir, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2")
    name = vc.unique("chain-plug")
    path = str(vc.manager().CreateXML(vc.domain_xml(name), vc.no_options(), timeout=vc.TIMEOUT))
    try:
        e = dbus_error(vc.domain(path).AttachDevice,
                     disk_xml(os.path.join(workdir, "top.qcow2"), "vdb"), vc.no_options())
        assert e.get_dbus_name() == UNSUPPORTED, e
        assert "base.raw" in e.get_dbus_message()
        assert vc.state(path)[0] == "running"
        assert "vdb" not in str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT))
    finally:
        vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
