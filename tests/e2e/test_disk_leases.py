"""Disk leases with real QEMU guests: two domains on one writable image through the
libvirt bridge (virsh and python3-libvirt see VIR_ERR_RESOURCE_BUSY and the second domain
stays off), a held image refused on hotplug, a kill -9 of the shim (the lease kept while
its QEMU lives, released with QEMU), and a system and a session domain on one image (the
session shim leases on the system lockd)."""

import os
import signal
import subprocess

import libvirt
import pytest

import bridgeclient as bc
import lockclient as lc
import sessionbus
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")


def image_in(directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    os.chmod(path, 0o666)
    return path


def disk_xml(image: str, dev: str = "vda") -> str:
    return (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{image}'/><target dev='{dev}' bus='virtio'/></disk>")


def shim_pid(path: str) -> int:
    name = "org.virtswarm.Shim1.d" + path.rsplit("_", 1)[1]
    return int(h.bus_daemon().GetConnectionUnixProcessID(name))


@pytest.fixture
def bridge():
    proxyd = bc.Bridge("bridge-leases")
    yield {"uri": proxyd.rw_uri, "root": proxyd.root, "home": bc.virsh_home(proxyd.root)}
    proxyd.stop()


def virsh(bridge, *args, check=True):
    return bc.virsh(bridge["home"], bridge["uri"], *args, check=check)


def test_second_domain_on_a_writable_image_is_refused_through_the_bridge(bridge):
    image = image_in(bridge["root"], "shared.img")
    first = vc.define(vc.domain_xml("lease-first", extra_devices=disk_xml(image)))
    vc.define(vc.domain_xml("lease-second", extra_devices=disk_xml(image)))
    vc.define(vc.domain_xml("lease-other"))
    virsh(bridge, "start", "lease-first")
    assert lc.domains_holding(image) == {str(vc.prop(first, "UUID"))}

    r = virsh(bridge, "start", "lease-second", check=False)
    assert r.returncode == 1
    assert "is in use by domain" in r.stderr, r.stderr
    conn = libvirt.open(bridge["uri"])
    try:
        with pytest.raises(libvirt.libvirtError) as refused:
            conn.lookupByName("lease-second").create()
        assert refused.value.get_error_code() == libvirt.VIR_ERR_RESOURCE_BUSY
        assert refused.value.get_error_domain() == libvirt.VIR_FROM_LOCKING
        assert conn.lookupByName("lease-second").state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    finally:
        conn.close()

    # Hotplug of the held image into another running domain is refused too.
    virsh(bridge, "start", "lease-other")
    plug = os.path.join(bridge["root"], "plug.xml")
    with open(plug, "w") as f:
        f.write(disk_xml(image, "vdb"))
    r = virsh(bridge, "attach-device", "lease-other", plug, check=False)
    assert r.returncode == 1 and "is in use by domain" in r.stderr, r.stderr
    assert "vdb" not in virsh(bridge, "domblklist", "lease-other").stdout

    # kill -9 of the first domain's shim: its QEMU still writes the image, so the lease
    # stays (a new shim may re-attach meanwhile); it goes with QEMU.
    qemu = vc.qemu_pid(first)
    shim = shim_pid(first)
    os.kill(shim, signal.SIGKILL)
    h.wait_until(lambda: not os.path.exists(f"/proc/{shim}"), 30, what="the shim to die")
    assert lc.domains_holding(image) == {str(vc.prop(first, "UUID"))}
    os.kill(qemu, signal.SIGKILL)
    h.wait_until(lambda: not lc.domains_holding(image), 60, what="the lease to be released")
    virsh(bridge, "start", "lease-second")
    assert len(lc.domains_holding(image)) == 1


def test_a_system_and_a_session_domain_cannot_share_a_writable_image():
    with sessionbus.user_session() as (user, home, env):
        image = image_in(home, "both.img")

        def session_call(path, method, *args):
            return h.run_as(user, ["/usr/bin/python3", os.path.join(vc.HERE, "dbus_call.py"),
                                   path, method, *[repr(a) for a in args]], env=env)

        system = vc.define(vc.domain_xml(vc.unique("sys-lease"), extra_devices=disk_xml(image)))
        r = session_call(vc.ROOT, vc.MANAGER + ".DefineXML",
                         vc.domain_xml("mine", extra_devices=disk_xml(image)), {})
        assert r.returncode == 0, r.stderr
        mine = r.stdout.strip()

        vc.domain(system).Start(vc.no_options(), timeout=vc.TIMEOUT)
        r = session_call(mine, vc.DOMAIN + ".Start", {})
        assert r.returncode != 0 and "org.virtswarm.Error.ResourceBusy" in r.stderr, r.stderr

        # The shim gives the leases back before Destroy is answered.
        vc.domain(system).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
        assert not lc.domains_holding(image)
        r = session_call(mine, vc.DOMAIN + ".Start", {})
        assert r.returncode == 0, r.stderr
        # The session domain's lease is on the system lockd, held by the user's shim.
        procs = subprocess.run(["ps", "-o", "args=", "-u", user], capture_output=True,
                               text=True).stdout
        assert "virtswarm-shim --session" in procs
        assert len(lc.domains_holding(image)) == 1
        assert vc.error_name(vc.domain(system).Start, vc.no_options()) == \
            "org.virtswarm.Error.ResourceBusy"
        assert session_call(mine, vc.DOMAIN + ".Destroy", {}).returncode == 0


def lease_holders(path: str) -> set[str]:
    """The bus names holding leases on path."""
    return {str(holder) for p, _k, _m, _d, holder in lc.manager().ListLeases(lc.opts(),
                                                                            timeout=lc.TIMEOUT)
            if str(p) == path}


def test_a_re_attached_shim_takes_the_leases_over():
    """After kill -9 of a shim, the one that re-attaches to the running QEMU becomes the
    holder of the domain's leases, so its destroy gives them back before it is answered,
    as the first shim's would."""
    directory = os.path.join(h.env("VS_TEST_ROOT"), vc.unique("leases-reattach"))
    os.mkdir(directory, 0o755)
    image = image_in(directory, "reattach.img")
    path = vc.define(vc.domain_xml(vc.unique("lease-reattach"), extra_devices=disk_xml(image)))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    shim_name = "org.virtswarm.Shim1.d" + path.rsplit("_", 1)[1]
    old_shim = str(h.bus_daemon().GetNameOwner(shim_name))
    assert lease_holders(image) == {old_shim}
    qemu = vc.qemu_pid(path)
    os.kill(shim_pid(path), signal.SIGKILL)

    def new_owner():
        try:
            owner = str(h.bus_daemon().GetNameOwner(shim_name))
        except Exception:  # between the two shims
            return None
        return owner if owner != old_shim else None
    new_shim = h.wait_until(new_owner, 60, 0.05, "a new shim")
    h.wait_until(lambda: lease_holders(image) == {new_shim}, 60, 0.1,
                 "the new shim to hold the lease")
    assert vc.qemu_pid(path) == qemu

    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert not lc.domains_holding(image)
    other = vc.define(vc.domain_xml(vc.unique("lease-after"), extra_devices=disk_xml(image)))
    vc.domain(other).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert lc.domains_holding(image) == {str(vc.prop(other, "UUID"))}
    vc.domain(other).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


def test_a_stopped_lockd_fails_only_the_starts_that_need_it():
    """lockd frozen (SIGSTOP): a start that needs a lease fails after the shim's timeout,
    with a named error and the domain off; a domain without disks starts meanwhile. Once
    lockd runs again, whatever it granted to the shim that gave up is released, and the
    domain starts."""
    directory = os.path.join(h.env("VS_TEST_ROOT"), vc.unique("leases-frozen"))
    os.mkdir(directory, 0o755)
    image = image_in(directory, "frozen.img")
    leased = vc.define(vc.domain_xml(vc.unique("lease-frozen"), extra_devices=disk_xml(image)))
    diskless = vc.define(vc.domain_xml(vc.unique("lease-none")))
    lc.leases()  # lockd is activated and running
    lockd = lc.lockd_pid()
    os.kill(lockd, signal.SIGSTOP)
    try:
        error = vc.error_name(vc.domain(leased).Start, vc.no_options())
        assert error in ("org.virtswarm.Error.Timeout", "org.freedesktop.DBus.Error.NoReply"), \
            error
        assert vc.state(leased)[0] == "shutoff"
        vc.domain(diskless).Start(vc.no_options(), timeout=vc.TIMEOUT)
        assert vc.state(diskless)[0] == "running"
    finally:
        os.kill(lockd, signal.SIGCONT)
    h.wait_until(lambda: not lc.domains_holding(image), 60, 0.1,
                 "a late lease to be released")
    vc.domain(leased).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert lc.domains_holding(image) == {str(vc.prop(leased, "UUID"))}
    for path in (leased, diskless):
        vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


def test_without_lockd_installed_domains_start_without_leases():
    """No lockd on the host (its bus name not activatable) is libvirt's default, no lock
    manager: a domain starts and its disks are not leased, with a warning. QEMU's own
    image locks still keep a second domain off a writable image it uses."""
    if h.name_has_owner(lc.BUS_NAME):
        os.kill(lc.lockd_pid(), signal.SIGTERM)
        h.wait_for_name_gone(lc.BUS_NAME, 30)
    image = image_in(h.env("VS_TEST_ROOT"), "unleased.img")
    first = vc.define(vc.domain_xml(vc.unique("nolockd-a"), extra_devices=disk_xml(image)))
    second = vc.define(vc.domain_xml(vc.unique("nolockd-b"), extra_devices=disk_xml(image)))
    bus_log = h.env("VS_BUS_LOG")
    with open(bus_log, errors="replace") as f:
        log_start = len(f.read())
    with h.services_hidden(lc.BUS_NAME):
        vc.domain(first).Start(vc.no_options(), timeout=vc.TIMEOUT)
        vc.wait_state(first, "running")
        assert not h.name_has_owner(lc.BUS_NAME)
        with open(bus_log, errors="replace") as f:
            logged = f.read()[log_start:]
        assert "virtswarm-lockd is not installed: disks are not leased" in logged, \
            logged[-3000:]
        error = vc.error_name(vc.domain(second).Start, vc.no_options())
        assert error == "org.virtswarm.Error.OperationFailed", error
        assert str(vc.prop(second, "State")) == "shutoff"
        vc.domain(first).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
        vc.wait_state(first, "shutoff")
    # Installed again: leases are back for the next start.
    vc.domain(first).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert lc.domains_holding(image) == {str(vc.prop(first, "UUID"))}
    vc.domain(first).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
