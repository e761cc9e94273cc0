"""Issue 8, item 1: "start" rights were root. A user the example operator rule lets start
and stop lab-* domains created a new lab-pwn with /etc/shadow as a disk, and the root shim
opened it for the guest. Now CreateXML needs save and start, and a definition reaches only
what its definer could reach: the shim opens its host paths with the definer's
credentials.

Run through tests/harness/with-test-bus (ctest -R security-test_definer_rights).
"""

import os
import signal
import subprocess

import dbus

import pytest

import bridgeclient as bc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_RULE = os.path.join(REPO, "polkit/rules-example/50-virtswarm-operators.rules")
CREATE = f"{vc.MANAGER}.CreateXML"
SECRET = "root-only secret\n"
NOT_AUTHORIZED = ("org.freedesktop.DBus.Error.AccessDenied",
                  "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")

OPERATOR_CREATES_RULE = vc.OPERATOR_CREATES_RULE


@pytest.fixture(scope="module", autouse=True)
def operator_group():
    """The test user is in virt-operators, as the example rule expects."""
    subprocess.run([os.path.join(REPO, "scripts/ensure-users.sh")], check=True)
    groups = subprocess.run(["id", "-nG", h.test_user()], capture_output=True, text=True,
                            check=True).stdout.split()
    assert "virt-operators" in groups


@pytest.fixture
def workdir():
    """A directory the test user can reach (VS_TEST_ROOT is 0755)."""
    path = os.path.join(h.env("VS_TEST_ROOT"), vc.unique("definer"))
    os.mkdir(path, 0o755)
    return path


def root_only_file(directory, name="secret.img"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(SECRET)
        f.truncate(1024 * 1024)
    os.chmod(path, 0o600)
    return path


def content(path):
    with open(path) as f:
        return f.read()


def disk_xml(image, readonly=False):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{image}'/><target dev='vda' bus='virtio'/>"
            f"{'<readonly/>' if readonly else ''}</disk>")


def processes_mentioning(text):
    """Pids whose command line mentions text (a QEMU or shim of that domain)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def assert_nothing_defined(name):
    names = [str(vc.prop(p, "Name")) for p in vc.list_domains()]
    assert name not in names
    assert processes_mentioning(f"guest={name}") == []


def create_as_user(name, extra):
    return vc.call_as(h.test_user(), vc.ROOT, CREATE, vc.domain_xml(name, extra_devices=extra), {})


def test_example_rule_does_not_grant_create():
    """Start and stop rights (the example rule) do not let a user create a domain."""
    name = vc.unique("lab-pwn")
    with open(EXAMPLE_RULE) as f, h.polkit_rule("50-virtswarm-operators.rules", f.read()):
        r = create_as_user(name, disk_xml("/etc/shadow", readonly=True))
    # Refused for want of save: AccessDenied, or InteractiveAuthorizationRequired under
    # the default auth_admin_keep (polkit would ask an administrator; there is no agent).
    assert r.returncode != 0, r.stdout
    assert r.stderr.split()[0] in NOT_AUTHORIZED, r.stderr
    assert "org.virtswarm.domain.save" in r.stderr
    assert_nothing_defined(name)


@pytest.mark.parametrize("readonly", [True, False], ids=["read-only", "read-write"])
def test_root_only_disk_is_refused_naming_the_path(workdir, readonly):
    """With save and start granted, a disk the user cannot open is refused, untouched."""
    secret = root_only_file(workdir)
    name = vc.unique("lab-pwn")
    with h.polkit_rule("50-operators-create.rules", OPERATOR_CREATES_RULE):
        r = create_as_user(name, disk_xml(secret, readonly))
    assert r.returncode != 0, r.stdout
    assert r.stderr.startswith("org.freedesktop.DBus.Error.AccessDenied"), r.stderr
    assert secret in r.stderr
    assert_nothing_defined(name)
    assert content(secret).startswith(SECRET)


def test_etc_shadow_is_refused():
    name = vc.unique("lab-pwn")
    with h.polkit_rule("50-operators-create.rules", OPERATOR_CREATES_RULE):
        r = create_as_user(name, disk_xml("/etc/shadow", readonly=True))
    assert r.returncode != 0, r.stdout
    assert "AccessDenied" in r.stderr and "/etc/shadow" in r.stderr, r.stderr
    assert_nothing_defined(name)


def test_emulator_of_the_user_is_refused(workdir):
    """<emulator> is a host path too: a user's own program would run as QEMU's user,
    the uid every VM's QEMU shares."""
    emulator = os.path.join(workdir, "qemu-mine")
    with open("/usr/bin/qemu-system-x86_64", "rb") as src, open(emulator, "wb") as dst:
        dst.write(src.read())
    os.chmod(emulator, 0o755)
    os.chown(emulator, h.uid_of(h.test_user()), -1)
    name = vc.unique("lab-pwn")
    with h.polkit_rule("50-operators-create.rules", OPERATOR_CREATES_RULE):
        r = create_as_user(name, f"<emulator>{emulator}</emulator>")
    assert r.returncode != 0, r.stdout
    assert r.stderr.startswith("org.freedesktop.DBus.Error.AccessDenied"), r.stderr
    assert emulator in r.stderr
    assert_nothing_defined(name)


def test_disk_the_user_owns_works(workdir):
    image = root_only_file(workdir, "mine.img")
    user = h.uid_of(h.test_user())
    os.chown(image, user, -1)
    serial = os.path.join(workdir, "serial.log")
    name = vc.unique("lab-ok")
    xml = vc.domain_xml(name, serial=serial, extra_devices=disk_xml(image))
    with h.polkit_rule("50-operators-create.rules", OPERATOR_CREATES_RULE):
        # The serial log is created as the user, in a directory only root may write:
        # refused, as it would be for the user.
        r = vc.call_as(h.test_user(), vc.ROOT, CREATE, xml, {})
        assert r.returncode != 0 and "AccessDenied" in r.stderr and serial in r.stderr, r.stderr
        os.chown(workdir, user, -1)
        r = vc.call_as(h.test_user(), vc.ROOT, CREATE, xml, {})
        assert r.returncode == 0, r.stderr
    path = r.stdout.strip()
    assert vc.state(path)[0] == "running"
    assert os.stat(serial).st_uid == user
    # Hotplug opens with the definer's rights too, whoever asks for it.
    secret = root_only_file(workdir)
    hotplug = disk_xml(secret).replace("dev='vda'", "dev='vdb'")
    with pytest.raises(dbus.exceptions.DBusException) as e:
        vc.domain(path).AttachDevice(hotplug, vc.no_options(), timeout=vc.TIMEOUT)
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.AccessDenied", e.value
    assert secret in e.value.get_dbus_message()
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


def test_root_domain_with_root_only_disk_still_works(workdir):
    secret = root_only_file(workdir)
    name = vc.unique("lab-root")
    path = str(vc.manager().CreateXML(vc.domain_xml(name, extra_devices=disk_xml(secret)),
                                      vc.no_options(), timeout=vc.TIMEOUT))
    assert vc.state(path)[0] == "running"
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


FORGED_DEFINER = """
import sys, dbus
m = dbus.Interface(dbus.SystemBus().get_object("org.virtswarm.Hypervisor1",
                                               "/org/virtswarm/Hypervisor1"),
                   "org.virtswarm.Hypervisor1.Manager")
try:
    m.DefineXML(sys.stdin.read(), dbus.Dictionary({"definer-uid": dbus.UInt32(0)},
                                                  signature="sv"))
except dbus.exceptions.DBusException as e:
    sys.exit(e.get_dbus_name())
"""


def test_definer_uid_option_only_from_root():
    """Only root (the bridge) may say the definition belongs to someone else."""
    name = vc.unique("lab-forge")
    with h.polkit_rule("50-operators-create.rules", OPERATOR_CREATES_RULE):
        r = h.run_as(h.test_user(), ["/usr/bin/python3", "-c", FORGED_DEFINER],
                     input=vc.domain_xml(name), stdin=None)
    assert r.stderr.strip().endswith("org.freedesktop.DBus.Error.InvalidArgs"), r.stderr
    assert_nothing_defined(name)


def test_definer_survives_a_registry_restart(workdir):
    """A persistent definition keeps its definer across a registry restart."""
    secret = root_only_file(workdir)
    name = vc.unique("lab-later")
    with h.polkit_rule("50-operators-create.rules", OPERATOR_CREATES_RULE):
        r = vc.call_as(h.test_user(), vc.ROOT, f"{vc.MANAGER}.DefineXML",
                       vc.domain_xml(name, extra_devices=disk_xml(secret, readonly=True)), {})
    assert r.returncode == 0, r.stderr
    pid = vc.registry_pid()
    os.kill(pid, signal.SIGTERM)
    h.wait_for_name_gone(vc.BUS_NAME)
    path = str(vc.manager().LookupByName(name, timeout=vc.TIMEOUT))  # activates it again
    e = vc.error_name(vc.domain(path).Start, vc.no_options())
    assert e == "org.freedesktop.DBus.Error.AccessDenied"
    assert vc.state(path)[0] == "shutoff"
    assert content(secret).startswith(SECRET)


def test_virsh_create_is_refused_naming_the_path(workdir):
    """The same escalation through the libvirt bridge: virsh create as the user."""
    secret = root_only_file(workdir)
    name = vc.unique("lab-pwn")
    xml_file = os.path.join(workdir, "pwn.xml")
    with open(xml_file, "w") as f:
        f.write(vc.domain_xml(name, extra_devices=disk_xml(secret, readonly=True)))
    os.chmod(xml_file, 0o644)
    bridge = bc.Bridge("bridge-definer")
    home = bc.virsh_home(bridge.root)
    try:
        with open(EXAMPLE_RULE) as f, h.polkit_rule("50-virtswarm-operators.rules", f.read()):
            r = bc.virsh(home, bridge.rw_uri, "create", xml_file, check=False,
                         user=h.test_user())
            assert r.returncode != 0, r.stdout
            assert "org.virtswarm.domain.save" in r.stderr, r.stdout + r.stderr
            assert_nothing_defined(name)
        with h.polkit_rule("50-operators-create.rules", OPERATOR_CREATES_RULE):
            r = bc.virsh(home, bridge.rw_uri, "create", xml_file, check=False,
                         user=h.test_user())
        assert r.returncode != 0, r.stdout
        assert secret in r.stdout + r.stderr, r.stdout + r.stderr
        assert_nothing_defined(name)
        assert content(secret).startswith(SECRET)
    finally:
        bridge.stop()


def test_a_replaced_shim_keeps_the_definer(workdir):
    """A transient domain's definer lives on in its runtime dir: a shim that re-attaches
    after the old one was killed still opens hotplugged images with the user's rights."""
    image = root_only_file(workdir, "mine.img")
    os.chown(image, h.uid_of(h.test_user()), -1)
    name = vc.unique("lab-again")
    with h.polkit_rule("50-operators-create.rules", OPERATOR_CREATES_RULE):
        r = create_as_user(name, disk_xml(image))
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip()
    vc.kill_shim(path, 30)
    secret = root_only_file(workdir)
    hotplug = disk_xml(secret).replace("dev='vda'", "dev='vdb'")

    def refused():
        # Until the new shim has attached to QEMU's monitor, hotplug fails otherwise.
        try:
            vc.domain(path).AttachDevice(hotplug, vc.no_options(), timeout=vc.TIMEOUT)
        except dbus.exceptions.DBusException as e:
            return e if e.get_dbus_name() == "org.freedesktop.DBus.Error.AccessDenied" else None
        raise AssertionError("a root-only disk was hotplugged into the user's domain")
    e = h.wait_until(refused, 30, 0.05, "hotplug to be refused by the new shim")
    assert secret in e.get_dbus_message()
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
