"""libvirt's own authorization through the bridge: a client that polkit grants
org.libvirt.unix.manage when it opens a read-write connection (Debian's "libvirt group"
rule, libvirt-dbus's rule) gets what libvirtd gives it: full access, as root. The grant
must give no more than that action names to anyone else: never on the read-only socket,
and a "no" leaves every operation to its own org.virtswarm.* check.

Run through tests/harness/with-test-bus (ctest -R security-test_libvirt_manage).
"""

import os

import pytest

import bridgeclient as bc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

MANAGE = "org.libvirt.unix.manage"
SECRET = "root-only secret\n"

# Every virtswarm domain operation refused to the test user: a manage grant must not
# need any of them.
DENY_DOMAIN_OPERATIONS = """polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.virtswarm.domain.") == 0 && subject.user == "%s") {
        return polkit.Result.NO;
    }
});
""" % h.test_user()


@pytest.fixture(scope="module")
def bridge():
    b = bc.Bridge("bridge-libvirt-manage")
    yield b
    b.stop()


@pytest.fixture
def workdir():
    path = os.path.join(h.env("VS_TEST_ROOT"), vc.unique("manage"))
    os.mkdir(path, 0o755)
    return path


def root_only_image(directory):
    path = os.path.join(directory, "secret.img")
    with open(path, "w") as f:
        f.write(SECRET)
        f.truncate(1024 * 1024)
    os.chmod(path, 0o600)
    return path


def definition_file(directory, name, image=None):
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{image}'/><target dev='vda' bus='virtio'/><readonly/></disk>"
            if image else "")
    path = os.path.join(directory, f"{name}.xml")
    with open(path, "w") as f:
        f.write(vc.domain_xml(name, extra_devices=disk))
    os.chmod(path, 0o644)
    return path


def virsh_as_user(bridge, uri, *args):
    return bc.virsh(bc.virsh_home(bridge.root), uri, *args, check=False, user=h.test_user())


def defined_names():
    return [str(vc.prop(p, "Name")) for p in vc.list_domains()]


def test_the_action_is_registered():
    """Declared by the project, so a host without libvirt-daemon-system can grant it."""
    assert MANAGE in h.enumerate_actions()


def test_without_the_grant_each_operation_is_checked(bridge, workdir):
    name = vc.unique("manage-none")
    r = virsh_as_user(bridge, bridge.rw_uri, "define", definition_file(workdir, name))
    assert r.returncode != 0, r.stdout
    assert "org.virtswarm.domain.save" in r.stderr, r.stderr
    assert name not in defined_names()


def test_the_grant_is_full_access_as_root(bridge, workdir):
    """Granted manage, the user defines, starts and destroys although every
    org.virtswarm.domain.* action is refused to them, and the definition reaches what root
    can (a root-only image), as libvirtd's libvirt group does."""
    name = vc.unique("manage-root")
    xml = definition_file(workdir, name, image=root_only_image(workdir))
    with h.polkit_rule("10-deny-domains.rules", DENY_DOMAIN_OPERATIONS), \
            h.polkit_rule("20-manage.rules", h.allow_rule_js(MANAGE, h.test_user())):
        r = virsh_as_user(bridge, bridge.rw_uri, "define", xml)
        assert r.returncode == 0, r.stdout + r.stderr
        try:
            r = virsh_as_user(bridge, bridge.rw_uri, "start", name)
            assert r.returncode == 0, r.stdout + r.stderr
            r = virsh_as_user(bridge, bridge.rw_uri, "domstate", name)
            assert r.stdout.strip() == "running", r.stdout + r.stderr
            r = virsh_as_user(bridge, bridge.rw_uri, "destroy", name)
            assert r.returncode == 0, r.stdout + r.stderr
        finally:
            r = virsh_as_user(bridge, bridge.rw_uri, "undefine", name)
        assert r.returncode == 0, r.stdout + r.stderr
    assert name not in defined_names()
    assert "manages libvirt" in bridge.output()


def test_the_read_only_socket_stays_read_only(bridge, workdir):
    name = vc.unique("manage-ro")
    with h.polkit_rule("20-manage.rules", h.allow_rule_js(MANAGE, h.test_user())):
        r = virsh_as_user(bridge, bridge.ro_uri, "define", definition_file(workdir, name))
    assert r.returncode != 0, r.stdout
    assert "read only" in r.stderr.lower() or "read-only" in r.stderr.lower(), r.stderr
    assert name not in defined_names()


def test_a_refusal_leaves_the_per_operation_checks(bridge, workdir):
    """manage answered "no": the user's own org.virtswarm.domain.save grant still lets them
    define, and the definition carries their rights, not root's: start is refused for
    want of org.virtswarm.domain.start, the next check."""
    name = vc.unique("manage-no")
    with h.polkit_rule("20-manage.rules", h.allow_rule_js(MANAGE, h.test_user(), "NO")), \
            h.polkit_rule("30-save.rules",
                          h.allow_rule_js("org.virtswarm.domain.save", h.test_user())):
        r = virsh_as_user(bridge, bridge.rw_uri, "define", definition_file(workdir, name))
        assert r.returncode == 0, r.stdout + r.stderr
        try:
            r = virsh_as_user(bridge, bridge.rw_uri, "start", name)
            assert r.returncode != 0, r.stdout
            assert "org.virtswarm.domain.start" in r.stderr, r.stderr
            assert vc.state(str(vc.manager().LookupByName(name, timeout=vc.TIMEOUT)))[0] \
                == "shutoff"
        finally:
            bc.virsh(bc.virsh_home(bridge.root), bridge.rw_uri, "undefine", name)
    assert name not in defined_names()


MONITOR = "org.libvirt.unix.monitor"


def test_monitor_is_registered():
    assert MONITOR in h.enumerate_actions()


def test_monitor_refused_keeps_the_read_only_connection_closed(bridge):
    """An administrator's "no" for org.libvirt.unix.monitor shuts the user out of
    read-only connections, with libvirtd's error; without the rule they open."""
    r = virsh_as_user(bridge, bridge.ro_uri, "list", "--all", "--name")
    assert r.returncode == 0, r.stdout + r.stderr
    with h.polkit_rule("20-monitor.rules", h.allow_rule_js(MONITOR, h.test_user(), "NO")):
        r = virsh_as_user(bridge, bridge.ro_uri, "list", "--all", "--name")
        assert r.returncode != 0, r.stdout
        assert "authentication failed" in r.stderr and MONITOR in r.stderr, r.stderr
        # virsh -r over the read-write socket asks the same gate.
        r = virsh_as_user(bridge, bridge.rw_uri, "-r", "list", "--all")
        assert r.returncode != 0 and "authentication failed" in r.stderr, r.stdout + r.stderr
        # Root is never asked.
        r = bc.virsh(bc.virsh_home(bridge.root), bridge.ro_uri, "list", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
    r = virsh_as_user(bridge, bridge.ro_uri, "list", "--all", "--name")
    assert r.returncode == 0, r.stdout + r.stderr


def test_monitor_is_a_gate_not_a_grant(bridge, workdir):
    """A yes opens the read-only connection, and reads are still checked one by one: an
    administrator's rule denying org.virtswarm.domain.read to the user holds."""
    name = vc.unique("monitor-read")
    path = vc.define(vc.domain_xml(name))
    try:
        deny_read = h.allow_rule_js("org.virtswarm.domain.read", h.test_user(), "NO")
        with h.polkit_rule("20-monitor.rules", h.allow_rule_js(MONITOR, h.test_user())), \
                h.polkit_rule("30-no-read.rules", deny_read):
            r = virsh_as_user(bridge, bridge.ro_uri, "list", "--all", "--name")
            assert r.returncode == 0 and name in r.stdout, r.stdout + r.stderr
            r = virsh_as_user(bridge, bridge.ro_uri, "dumpxml", name)
            assert r.returncode != 0, r.stdout
            assert "org.virtswarm.domain.read" in r.stderr, r.stderr
        r = virsh_as_user(bridge, bridge.ro_uri, "dumpxml", name)
        assert r.returncode == 0 and f"<name>{name}</name>" in r.stdout, r.stdout + r.stderr
    finally:
        vc.domain(path).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
