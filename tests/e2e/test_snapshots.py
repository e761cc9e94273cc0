"""End to end: internal snapshots of real QEMU guests whose disk is a qcow2 image. The test
guest writes "disk-tick <n>" to its disk's first sector every second and prints each
number (VIRTSWARM-DISK-WROTE), and prints what it found on the disk at boot
(VIRTSWARM-DISK ...): so a revert is seen to bring back both the guest's memory (its
count goes back) and its disk (what the next boot finds). Snapshots are taken through
D-Bus and through virsh, and survive a shim and a registry killed in between."""

import os
import re
import subprocess
import threading
import time

import dbus

import bridgeclient as bc
import lockclient as lc
import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
WROTE = re.compile(r"^VIRTSWARM-DISK-WROTE (\d+)\r?$", re.M)
FOUND = re.compile(r"^VIRTSWARM-DISK (.*?)\r?$", re.M)


def scratch(name):
    d = os.path.join(h.env("VS_TEST_ROOT"), "snapshots")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def serial_log(name):
    return scratch(f"{name}.serial")


def console(name):
    try:
        with open(serial_log(name), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wrote(name):
    return [int(n) for n in WROTE.findall(console(name))]


def wait_wrote(name, at_least, after=0):
    """Waits until the console, from offset `after`, shows a write numbered >= at_least."""
    h.wait_until(lambda: any(int(n) >= at_least for n in WROTE.findall(console(name)[after:])),
                 vc.TIMEOUT, 0.2, f"{name} to write disk-tick {at_least}")


def found_at_boot(name):
    h.wait_until(lambda: FOUND.search(console(name)), vc.TIMEOUT, 0.2, f"{name} to read its disk")
    return FOUND.search(console(name)).group(1).strip()


def image(name, fmt="qcow2"):
    path = scratch(f"{name}.{fmt}")
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, path, "16M"], check=True)
    return path


def disk_xml(path, fmt="qcow2"):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>"
            f"<source file='{path}'/><target dev='vda' bus='virtio'/></disk>")


def define_guest(name, fmt="qcow2"):
    xml = vc.domain_xml(name, serial=serial_log(name), disk=True,
                        extra_devices=disk_xml(image(name, fmt), fmt))
    return vc.define(xml)


def opts(**kw):
    return dbus.Dictionary(kw, signature="sv")


def snapshot_obj(path):
    return dbus.Interface(vc.bus().get_object(vc.BUS_NAME, path),
                          "org.virtswarm.Hypervisor1.Snapshot")


def snapshot_prop(path, name):
    props = dbus.Interface(vc.bus().get_object(vc.BUS_NAME, path),
                           "org.freedesktop.DBus.Properties")
    return props.Get("org.virtswarm.Hypervisor1.Snapshot", name)


def listing(path):
    return {str(e[1]): (str(e[2]), str(e[3]), bool(e[6]))
            for e in vc.domain(path).ListSnapshots(vc.no_options(), timeout=vc.TIMEOUT)}


def images_tags(path_of_image):
    out = subprocess.run(["qemu-img", "snapshot", "-U", "-l", path_of_image],
                         capture_output=True, text=True, check=True).stdout
    return out


def kill_shim(path):
    shim = "org.virtswarm.Shim1.d" + path.rsplit("_", 1)[1]
    pid = int(h.bus_daemon().GetConnectionUnixProcessID(shim))
    os.kill(pid, 9)

    def new_shim():
        try:  # the old owner may still hold the name for a moment, then lose it
            return int(h.bus_daemon().GetConnectionUnixProcessID(shim)) != pid
        except dbus.exceptions.DBusException:
            return False
    h.wait_until(new_shim, vc.TIMEOUT, 0.1, "a new shim to take the guest over")


def test_a_snapshot_with_memory_brings_the_guest_back_after_shim_and_registry_restarts():
    name = vc.unique("snapmem")
    path = define_guest(name)
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    wait_wrote(name, 3)

    snap = str(vc.domain(path).CreateSnapshot(
        "<domainsnapshot><name>s1</name><description>three ticks in</description>"
        "</domainsnapshot>", vc.no_options(), timeout=vc.TIMEOUT))
    at_snapshot = wrote(name)[-1]
    assert vc.state(path)[0] == "running"  # the guest goes on once its state is saved
    assert str(snapshot_prop(snap, "Name")) == "s1"
    assert str(snapshot_prop(snap, "State")) == "running"
    assert str(snapshot_prop(snap, "Memory")) == "internal"
    assert bool(snapshot_prop(snap, "Current"))
    assert listing(path) == {"s1": ("", "running", True)}
    xml = str(snapshot_obj(snap).GetXML(vc.no_options(), timeout=vc.TIMEOUT))
    assert "<name>s1</name>" in xml and "<state>running</state>" in xml
    assert "<memory snapshot='internal'/>" in xml and f"<name>{name}</name>" in xml
    assert "s1" in images_tags(scratch(f"{name}.qcow2"))  # inside the image, as libvirt's

    # The guest moves on; its shim and then the registry die in between.
    wait_wrote(name, at_snapshot + 4)
    kill_shim(path)
    old_registry = vc.registry_pid()
    os.kill(old_registry, 9)
    h.wait_for_name_gone(vc.BUS_NAME)
    assert listing(path) == {"s1": ("", "running", True)}  # activates a new registry
    assert vc.registry_pid() != old_registry
    assert vc.state(path)[0] == "running"

    snapshot_obj(snap).Revert(vc.no_options(), timeout=vc.TIMEOUT)
    # As libvirt 9.0, a new QEMU starts from the snapshot (its serial file starts anew).
    after_revert = len(console(name))
    assert vc.state(path) == ("running", "from-snapshot")
    # The guest goes on from the snapshot's memory: its count is back where it was.
    h.wait_until(lambda: WROTE.findall(console(name)[after_revert:]), vc.TIMEOUT, 0.2,
                 "a write after the revert")
    first_after = int(WROTE.findall(console(name)[after_revert:])[0])
    assert first_after <= at_snapshot + 2, (at_snapshot, first_after)
    assert "VIRTSWARM-GUEST-READY" not in console(name)  # it did not boot: it continued

    # Revert to the snapshot paused, then with a new definition of the domain: it is
    # restarted from the snapshot with the definition the snapshot was taken with.
    snapshot_obj(snap).Revert(opts(paused=True), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("paused", "from-snapshot")
    described = str(vc.domain(path).GetXML(opts(inactive=True), timeout=vc.TIMEOUT)).replace(
        "</domain>", "<description>changed later</description></domain>")
    vc.manager().DefineXML(described, vc.no_options(), timeout=vc.TIMEOUT)
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert "changed later" in str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT))
    snapshot_obj(snap).Revert(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path)[0] == "running"  # started from the snapshot's memory
    assert "changed later" not in str(vc.domain(path).GetXML(opts(inactive=True),
                                                             timeout=vc.TIMEOUT))
    wait_wrote(name, at_snapshot + 1)
    assert "VIRTSWARM-GUEST-READY" not in console(name)  # it did not boot: it continued

    # Deleting it takes it out of the image too; the domain goes on.
    snapshot_obj(snap).Delete(vc.no_options(), timeout=vc.TIMEOUT)
    assert listing(path) == {}
    assert "s1" not in images_tags(scratch(f"{name}.qcow2"))
    assert vc.error_name(vc.domain(path).LookupSnapshot, "s1", vc.no_options()) == \
        ERR + "NoSuchSnapshot"

    # halt: the domain is stopped once its snapshot is taken (of it running).
    halted = str(vc.domain(path).CreateSnapshot(
        "<domainsnapshot><name>s2</name></domainsnapshot>", opts(halt=True),
        timeout=vc.TIMEOUT))
    assert vc.state(path)[0] == "shutoff"
    assert str(snapshot_prop(halted, "State")) == "running"


def test_a_snapshot_of_a_shut_off_domain_brings_its_disk_back():
    name = vc.unique("snapoff")
    path = define_guest(name)
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    wait_wrote(name, 4)
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    last = wrote(name)[-1]

    snap = str(vc.domain(path).CreateSnapshot("<domainsnapshot/>", vc.no_options(),
                                              timeout=vc.TIMEOUT))
    taken = str(snapshot_prop(snap, "Name"))
    assert taken.isdigit()  # named by its creation time, as libvirt names it
    assert str(snapshot_prop(snap, "State")) == "shutoff"
    assert str(snapshot_prop(snap, "Memory")) == "no"

    # The next boot finds the last tick and overwrites it from 0.
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert found_at_boot(name) == f"disk-tick {last}" or \
        found_at_boot(name) == f"disk-tick {last + 1}"
    at_snapshot = found_at_boot(name)
    wait_wrote(name, 1)
    # Reverting a running domain to a shut-off snapshot stops it (as libvirt).
    snapshot_obj(snap).Revert(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path)[0] == "shutoff"
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert found_at_boot(name) == at_snapshot  # not "disk-tick 1": the disk came back

    # running: revert and boot in one call.
    wait_wrote(name, 1)
    snapshot_obj(snap).Revert(opts(running=True), timeout=vc.TIMEOUT)
    assert vc.state(path)[0] == "running"
    assert found_at_boot(name) == at_snapshot
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)

    # A domain with snapshots is undefined only with their metadata let go of.
    assert vc.error_name(vc.domain(path).Undefine, vc.no_options()) == ERR + "InvalidState"
    vc.domain(path).Undefine(opts(**{"snapshots-metadata": True}), timeout=vc.TIMEOUT)
    assert path not in vc.list_domains()


def test_snapshots_are_refused_clearly_where_they_cannot_be_taken():
    name = vc.unique("snapraw")
    path = define_guest(name, fmt="raw")
    before = listing(path)
    for xml, options, error in [
        ("<domainsnapshot/>", vc.no_options(), ERR + "ConfigUnsupported"),  # a raw disk
        ("<domainsnapshot>", vc.no_options(), ERR + "MalformedXML"),
        ("<domainsnapshot><name>a/b</name></domainsnapshot>", vc.no_options(), ERR + "InvalidXML"),
        ("<domainsnapshot><memory snapshot='external' file='/tmp/x'/></domainsnapshot>",
         vc.no_options(), ERR + "ConfigUnsupported"),
        ("<domainsnapshot/>", opts(bogus=True), INVALID_ARGS),
        ("<domainsnapshot/>", opts(current=True), INVALID_ARGS),  # needs redefine
        ("<domainsnapshot><name>s</name></domainsnapshot>", opts(redefine=True),
         ERR + "InvalidXML"),  # a redefinition is a whole snapshot, <state> and all
    ]:
        assert vc.error_name(vc.domain(path).CreateSnapshot, xml, options) == error, xml
    assert listing(path) == before

    name = vc.unique("snapdup")
    path = define_guest(name)
    vc.domain(path).CreateSnapshot("<domainsnapshot><name>one</name></domainsnapshot>",
                                   vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.error_name(vc.domain(path).CreateSnapshot,
                         "<domainsnapshot><name>one</name></domainsnapshot>",
                         vc.no_options()) == ERR + "InvalidState"
    # A domain with snapshots keeps its name (a revert would bring the old one back).
    assert vc.error_name(vc.domain(path).Rename, vc.unique("renamed"), vc.no_options()) == \
        ERR + "InvalidState"
    # no-metadata: in the image, but not kept as a snapshot of the domain.
    vc.domain(path).CreateSnapshot("<domainsnapshot><name>loose</name></domainsnapshot>",
                                   opts(**{"no-metadata": True}), timeout=vc.TIMEOUT)
    assert "loose" in images_tags(scratch(f"{name}.qcow2"))
    assert "loose" not in listing(path)
    # A memory snapshot of a shut-off domain cannot be.
    assert vc.error_name(vc.domain(path).CreateSnapshot,
                         "<domainsnapshot><memory snapshot='internal'/></domainsnapshot>",
                         vc.no_options()) == ERR + "ConfigUnsupported"
    # An unprivileged caller's hostile request is refused by its parse, bounded before
    # polkit is asked and before anything is written.
    for xml, error in [
        ("<!DOCTYPE s [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
         "<domainsnapshot><name>&b;</name></domainsnapshot>", "InvalidXML"),
        ("<domainsnapshot><description>" + "x" * 100000 + "</description></domainsnapshot>",
         "InvalidXML"),
    ]:
        hostile = vc.call_as(h.test_user(), path, "org.virtswarm.Hypervisor1.Domain.CreateSnapshot",
                             xml, {})
        assert hostile.returncode != 0 and ERR + error in hostile.stderr, hostile.stderr[:300]
    assert listing(path) == {"one": ("", "shutoff", True)}
    # Deleting one is org.virtswarm.domain.snapshot, which the test user lacks.
    snap = str(vc.domain(path).LookupSnapshot("one", vc.no_options(), timeout=vc.TIMEOUT))
    denied = vc.call_as(h.test_user(), snap, "org.virtswarm.Hypervisor1.Snapshot.Delete", {})
    # (auth_admin_keep: an administrator's password would be asked for, so it is refused)
    assert denied.returncode != 0
    assert "InteractiveAuthorizationRequired" in denied.stderr, denied.stderr
    assert "org.virtswarm.domain.snapshot" in denied.stderr
    assert listing(path) == {"one": ("", "shutoff", True)}


def test_virsh_snapshot_commands():
    """What a libvirt user types, through virtswarm-proxyd."""
    proxyd = bc.Bridge("bridge-snapshot")
    virsh = bc.virsh_on(proxyd)

    try:
        name = vc.unique("virshsnap")
        define_guest(name)
        virsh("start", name)
        wait_wrote(name, 2)
        assert "Domain snapshot first created" in virsh(
            "snapshot-create-as", name, "first", "--description", "two ticks")
        wait_wrote(name, wrote(name)[-1] + 2)
        assert "Domain snapshot second created" in virsh("snapshot-create-as", name, "second")
        listed = virsh("snapshot-list", name)
        assert re.search(r"^\s*first\s+.*running", listed, re.M), listed
        assert re.search(r"^\s*second\s+.*running", listed, re.M), listed
        assert virsh("snapshot-list", "--name", "--roots", name).split() == ["first"]
        assert virsh("snapshot-list", "--name", "--leaves", name).split() == ["second"]
        assert virsh("snapshot-list", "--name", "--inactive", name).split() == []
        assert "first" in virsh("snapshot-list", "--tree", name)
        assert virsh("snapshot-current", "--name", name).strip() == "second"
        assert virsh("snapshot-parent", name, "second").strip() == "first"
        info = virsh("snapshot-info", name, "first")
        assert re.search(r"^Current:\s+no", info, re.M), info
        assert re.search(r"^Children:\s+1", info, re.M), info
        assert "<description>two ticks</description>" in virsh("snapshot-dumpxml", name, "first")

        at_first = wrote(name)[0]
        virsh("snapshot-revert", name, "first")
        after = len(console(name))  # once the revert is done (see the test above)
        assert virsh("snapshot-current", "--name", name).strip() == "first"
        h.wait_until(lambda: WROTE.findall(console(name)[after:]), vc.TIMEOUT, 0.2,
                     "a write after the revert")
        assert int(WROTE.findall(console(name)[after:])[0]) <= at_first + 4
        virsh("snapshot-revert", name, "second", "--paused")
        assert virsh("domstate", name).strip() == "paused"

        # libvirt's refusals, by their codes.
        r = virsh("snapshot-revert", name, "nothing", check=False)
        assert r.returncode != 0 and "no domain snapshot with matching name" in r.stderr
        # --reuse-external: the overlay must exist (libvirt's message and code).
        r = virsh("snapshot-create-as", name, "--disk-only", "--reuse-external", check=False)
        assert r.returncode != 0 and "missing existing file for disk vda" in r.stderr, r.stderr
        virsh("destroy", name)
        r = virsh("undefine", name, check=False)
        assert r.returncode != 0 and "cannot delete inactive domain with 2 snapshots" in r.stderr

        virsh("snapshot-delete", name, "second")  # a shut-off domain: qemu-img's work
        assert virsh("snapshot-list", "--name", name).split() == ["first"]
        assert virsh("snapshot-current", "--name", name).strip() == "first"
        virsh("snapshot-create-as", name, "third")
        assert virsh("snapshot-current", "--name", name).strip() == "third"
        # virsh snapshot-current NAME redefines the snapshot's metadata as current.
        virsh("snapshot-current", name, "first")
        assert virsh("snapshot-current", "--name", name).strip() == "first"
        assert virsh("snapshot-parent", name, "third").strip() == "first"
        virsh("snapshot-delete", name, "first", "--children")
        assert virsh("snapshot-list", "--name", name).split() == []
        virsh("snapshot-create-as", name, "kept")
        assert "Domain snapshot loose created" in virsh("snapshot-create-as", name, "loose",
                                                        "--no-metadata")
        assert virsh("snapshot-list", "--name", name).split() == ["kept"]
        virsh("undefine", "--snapshots-metadata", name)
    finally:
        proxyd.stop()


def first_sector_tick(image_path):
    """The "disk-tick <n>" an image (through its backing chain) holds, read while QEMU runs."""
    raw = scratch(os.path.basename(image_path) + ".raw")
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", image_path, raw], check=True)
    with open(raw, "rb") as f:
        text = f.read(64).split(b"\n")[0].decode(errors="replace")
    os.unlink(raw)
    m = re.fullmatch(r"disk-tick (\d+)", text)
    assert m, text
    return int(m.group(1))


def test_an_external_disk_only_snapshot_puts_the_running_guest_on_an_overlay():
    proxyd = bc.Bridge("bridge-snapshot-external")
    virsh = bc.virsh_on(proxyd)
    try:
        name = vc.unique("extsnap")
        define_guest(name)
        base = scratch(f"{name}.qcow2")
        overlay = scratch(f"{name}.ext1")
        virsh("start", name)
        wait_wrote(name, 3)
        before = wrote(name)[-1]
        assert "Domain snapshot ext1 created" in virsh("snapshot-create-as", name, "ext1",
                                                       "--disk-only")
        after = wrote(name)[-1]
        # The guest runs on, writing into the overlay; the image under it stays as it was.
        assert virsh("domstate", name).strip() == "running"
        wait_wrote(name, after + 3)
        assert before <= first_sector_tick(base) <= after + 1
        info = subprocess.run(["qemu-img", "info", "-U", overlay], capture_output=True,
                              text=True, check=True).stdout
        assert f"backing file: {base}" in info and "backing file format: qcow2" in info, info
        assert overlay in virsh("domblklist", name)
        assert overlay in virsh("domblklist", "--inactive", name)
        # The overlay is leased as the disk it now is; the image under it stays leased.
        uuid = virsh("domuuid", name).strip()
        assert lc.domains_holding(overlay) == {uuid}
        assert lc.domains_holding(base) == {uuid}

        xml = virsh("snapshot-dumpxml", name, "ext1")
        assert "<state>disk-snapshot</state>" in xml and "<memory snapshot='no'/>" in xml, xml
        assert f"<source file='{overlay}'/>" in xml and "snapshot='external'" in xml, xml
        assert base in xml  # the definition it was taken of names the image
        assert virsh("snapshot-list", "--name", "--disk-only", name).split() == ["ext1"]
        assert virsh("snapshot-list", "--name", "--external", name).split() == ["ext1"]
        assert virsh("snapshot-list", "--name", "--internal", name).split() == []

        # As libvirt 9.0: no revert, no merge; the metadata alone may go.
        r = virsh("snapshot-revert", name, "ext1", check=False)
        assert r.returncode != 0 and "revert to external snapshot not supported yet" in r.stderr
        r = virsh("snapshot-delete", name, "ext1", check=False)
        assert r.returncode != 0 and "external disk snapshots not supported yet" in r.stderr
        # An overlay is never made over an existing file.
        r = virsh("snapshot-create-as", name, "clash", "--disk-only", "--diskspec",
                  f"vda,snapshot=external,file={base}", check=False)
        assert r.returncode != 0, r.stdout
        assert virsh("snapshot-list", "--name", name).split() == ["ext1"]

        # The next boot goes through the chain: overlay over image, both opened as the
        # definer.
        virsh("destroy", name)  # QEMU writes out what it holds of the overlay
        assert not lc.domains_holding(overlay) and not lc.domains_holding(base)
        last = wrote(name)[-1]
        assert first_sector_tick(overlay) in (last, last + 1)
        assert before <= first_sector_tick(base) <= after + 1
        virsh("start", name)
        assert found_at_boot(name) in (f"disk-tick {last}", f"disk-tick {last + 1}")
        # The image under the overlay is leased shared: read by this domain, written by
        # none (another domain whose disk it is does not start).
        uuid = virsh("domuuid", name).strip()
        assert (base, "shared", uuid) in lc.leases() and (overlay, "exclusive", uuid) in lc.leases()
        writer = vc.unique("basewriter")
        vc.define(vc.domain_xml(writer, disk=True, extra_devices=disk_xml(base)))
        r = virsh("start", writer, check=False)
        assert r.returncode != 0 and "is in use by domain" in r.stderr, r.stderr
        virsh("undefine", writer)
        virsh("destroy", name)

        # Of a shut-off domain, with a file of the user's choosing: the registry makes it.
        chosen = scratch(f"{name}-top.qcow2")
        virsh("snapshot-create-as", name, "off1", "--disk-only", "--diskspec",
              f"vda,snapshot=external,file={chosen}")
        assert chosen in virsh("domblklist", "--inactive", name)
        info = subprocess.run(["qemu-img", "info", "-U", chosen], capture_output=True,
                              text=True, check=True).stdout
        assert f"backing file: {overlay}" in info, info
        assert virsh("snapshot-parent", name, "off1").strip() == "ext1"

        # --reuse-external: an overlay the user made, running and shut off alike, used as
        # it is (its header untouched), leased as the disk it now is.
        def own_overlay(path, backing):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                            backing, path], check=True)
            with open(path, "rb") as f:
                return f.read()
        mine = scratch(f"{name}-mine.qcow2")
        made = own_overlay(mine, chosen)
        virsh("snapshot-create-as", name, "off2", "--disk-only", "--reuse-external",
              "--diskspec", f"vda,snapshot=external,file={mine}")
        assert mine in virsh("domblklist", "--inactive", name)
        virsh("start", name)
        live = scratch(f"{name}-live.qcow2")
        own_overlay(live, mine)
        virsh("snapshot-create-as", name, "live1", "--disk-only", "--reuse-external",
              "--diskspec", f"vda,snapshot=external,file={live}")
        assert live in virsh("domblklist", name)
        assert lc.domains_holding(live) == {virsh("domuuid", name).strip()}
        virsh("destroy", name)
        with open(mine, "rb") as f:
            assert f.read() == made
        info = subprocess.run(["qemu-img", "info", "-U", live], capture_output=True,
                              text=True, check=True).stdout
        assert f"backing file: {mine}" in info, info  # QEMU did not rewrite it
        for snap in ("live1", "off2", "off1", "ext1"):
            virsh("snapshot-delete", name, snap, "--metadata")
        assert virsh("snapshot-list", "--name", name).split() == []
        assert all(os.path.exists(f) for f in (overlay, chosen, mine, live))  # the data stays
        virsh("undefine", name)
    finally:
        proxyd.stop()


def test_python_libvirt_sees_the_snapshot_tree_as_libvirt_shows_it():
    """The calls virt-manager and scripts make, on a shut-off domain (no guest to boot)."""
    libvirt = __import__("libvirt")
    proxyd = bc.Bridge("bridge-snapshot-python")
    conn = libvirt.open(proxyd.rw_uri)
    try:
        name = vc.unique("pysnap")
        define_guest(name)
        dom = conn.lookupByName(name)
        root = dom.snapshotCreateXML("<domainsnapshot><name>root</name></domainsnapshot>")
        assert root.getName() == "root"
        left = dom.snapshotCreateXML("<domainsnapshot><name>left</name></domainsnapshot>")
        dom.revertToSnapshot(dom.snapshotLookupByName("root"))
        right = dom.snapshotCreateXML("<domainsnapshot><name>right</name></domainsnapshot>")
        leaf = dom.snapshotCreateXML("<domainsnapshot><name>leaf</name></domainsnapshot>")

        assert sorted(s.getName() for s in dom.listAllSnapshots()) == \
            ["leaf", "left", "right", "root"]
        assert [s.getName() for s in dom.listAllSnapshots(
            libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS)] == ["root"]
        assert sorted(s.getName() for s in dom.listAllSnapshots(
            libvirt.VIR_DOMAIN_SNAPSHOT_LIST_LEAVES)) == ["leaf", "left"]
        assert dom.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE) == []
        assert dom.snapshotNum() == 4
        assert sorted(dom.snapshotListNames()) == ["leaf", "left", "right", "root"]
        assert root.numChildren() == 2
        assert root.numChildren(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS) == 3
        assert sorted(s.getName() for s in root.listAllChildren()) == ["left", "right"]
        assert sorted(root.listChildrenNames()) == ["left", "right"]
        assert leaf.getParent().getName() == "right"
        assert dom.hasCurrentSnapshot() == 1
        assert dom.snapshotCurrent().getName() == "leaf"
        assert leaf.isCurrent() == 1 and left.isCurrent() == 0
        assert leaf.hasMetadata() == 1
        assert "<state>shutoff</state>" in left.getXMLDesc()

        # Deleting "right" moves "leaf" up to "root"; the errors are libvirt's codes.
        right.delete()
        assert dom.snapshotLookupByName("leaf").getParent().getName() == "root"
        for call in (lambda: dom.snapshotLookupByName("right"),
                     lambda: root.getParent()):
            try:
                call()
                raise AssertionError("no error")
            except libvirt.libvirtError as e:
                assert e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT, e
        try:
            dom.snapshotCreateXML("<domainsnapshot/>",
                                  libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY |
                                  libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT)
            raise AssertionError("a snapshot over missing reused files was taken")
        except libvirt.libvirtError as e:
            # libvirt's code and words when the file to reuse is not there.
            assert e.get_error_code() == libvirt.VIR_ERR_CONFIG_UNSUPPORTED, e
            assert "missing existing file for disk vda" in str(e), e
        # Redefinition: the metadata as given, the images untouched (libvirt's REDEFINE).
        secure = libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE
        redefine = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
        left_xml = left.getXMLDesc(secure)
        dom.snapshotCreateXML(left_xml, redefine | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT)
        assert dom.snapshotCurrent().getName() == "left"
        dom.snapshotCreateXML(left_xml.replace("<state>", "<description>kept</description>\n"
                                               "  <state>", 1), redefine)
        assert "<description>kept</description>" in \
            dom.snapshotLookupByName("left").getXMLDesc()
        leaf_xml = dom.snapshotLookupByName("leaf").getXMLDesc(secure)
        dom.snapshotLookupByName("leaf").delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
        back = dom.snapshotCreateXML(leaf_xml, redefine)
        assert back.getName() == "leaf" and back.getParent().getName() == "root"
        before = sorted(dom.snapshotListNames())
        for bad in (leaf_xml.replace("<name>root</name>", "<name>nothing</name>"),
                    leaf_xml.replace("<name>root</name>", "<name>leaf</name>"),
                    re.sub(r"<uuid>[^<]*</uuid>", "<uuid>" + "1" * 32 + "</uuid>", leaf_xml)):
            assert bc.libvirt_error_code(libvirt, dom.snapshotCreateXML, bad, redefine) == \
                libvirt.VIR_ERR_INVALID_ARG
        assert sorted(dom.snapshotListNames()) == before

        root.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY)
        assert dom.snapshotListNames() == ["root"]

        # A disk-only snapshot of the shut-off domain: an overlay, and libvirt 9.0's codes.
        ext = dom.snapshotCreateXML("<domainsnapshot><name>ext</name></domainsnapshot>",
                                    libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY)
        assert os.path.exists(scratch(f"{name}.ext"))
        assert ext.getParent().getName() == "root"
        for flag in (libvirt.VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL,
                     libvirt.VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY):
            assert [s.getName() for s in dom.listAllSnapshots(flag)] == ["ext"]
        assert [s.getName() for s in dom.listAllSnapshots(
            libvirt.VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL)] == ["root"]
        assert bc.libvirt_error_code(libvirt, dom.revertToSnapshot, ext) == \
            libvirt.VIR_ERR_CONFIG_UNSUPPORTED
        assert bc.libvirt_error_code(libvirt, ext.delete) == libvirt.VIR_ERR_CONFIG_UNSUPPORTED
        ext.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
        assert dom.snapshotListNames() == ["root"]
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    finally:
        conn.close()
        proxyd.stop()


def test_a_revert_sends_the_events_libvirtd_sends():
    """Each revert transition, with the (event, detail) sequence and the (state, reason)
    libvirtd 9.0 gave for it on this kind of machine (python-libvirt, a TCG guest, an
    internal snapshot taken running and one taken shut off): a running domain is stopped
    (STOPPED/FROM_SNAPSHOT, no SHUTDOWN), a new QEMU starts from the snapshot
    (STARTED/FROM_SNAPSHOT, then RESUMED or SUSPENDED/FROM_SNAPSHOT), and the definition
    the snapshot holds is the domain's again (DEFINED/FROM_SNAPSHOT, last)."""
    libvirt = __import__("libvirt")
    with bc.libvirt_event_loop(libvirt):
        revert_events_through(libvirt)


def revert_events_through(libvirt):
    proxyd = bc.Bridge("bridge-snapshot-events")
    conn = libvirt.open(proxyd.rw_uri)
    name = vc.unique("snapev")
    events = []
    cond = threading.Condition()

    def on_lifecycle(_conn, dom, event, detail, _opaque):
        if dom.name() == name:
            with cond:
                events.append((event, detail))
                cond.notify_all()

    def quiet():
        """Waits until no event came for a second, then forgets those seen."""
        deadline = time.monotonic() + vc.TIMEOUT
        with cond:
            while time.monotonic() < deadline:
                seen = len(events)
                cond.wait(1.0)
                if len(events) == seen:
                    break
            events.clear()

    def reverted(snapshot, flags, expected):
        dom.revertToSnapshot(snapshot, flags)
        with cond:
            assert cond.wait_for(lambda: len(events) >= len(expected), vc.TIMEOUT), events
        quiet_events = list(events)
        quiet()  # a late extra event fails the comparison below
        assert quiet_events == expected, (snapshot.getName(), flags, quiet_events)

    callback = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                           on_lifecycle, None)
    E = libvirt
    stopped_fs = (E.VIR_DOMAIN_EVENT_STOPPED, E.VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT)
    started_fs = (E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT)
    resumed_fs = (E.VIR_DOMAIN_EVENT_RESUMED, E.VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT)
    suspended_fs = (E.VIR_DOMAIN_EVENT_SUSPENDED, E.VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT)
    defined_fs = (E.VIR_DOMAIN_EVENT_DEFINED, E.VIR_DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT)
    resumed = (E.VIR_DOMAIN_EVENT_RESUMED, E.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED)
    try:
        define_guest(name)
        dom = conn.lookupByName(name)
        dom.create()
        wait_wrote(name, 1)
        run = dom.snapshotCreateXML("<domainsnapshot><name>run</name></domainsnapshot>")
        dom.destroy()
        off = dom.snapshotCreateXML("<domainsnapshot><name>off</name></domainsnapshot>")
        dom.create()
        quiet()

        # running -> a snapshot taken running: restarted from its memory.
        reverted(run, 0, [stopped_fs, started_fs, resumed_fs, defined_fs])
        assert dom.state() == [E.VIR_DOMAIN_RUNNING, E.VIR_DOMAIN_RUNNING_FROM_SNAPSHOT]
        # ... and left paused.
        reverted(run, E.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED,
                 [stopped_fs, started_fs, suspended_fs, defined_fs])
        assert dom.state() == [E.VIR_DOMAIN_PAUSED, E.VIR_DOMAIN_PAUSED_FROM_SNAPSHOT]
        # running -> a snapshot taken shut off: stopped, its disks put back.
        dom.resume()
        quiet()
        reverted(off, 0, [stopped_fs, defined_fs])
        assert dom.state() == [E.VIR_DOMAIN_SHUTOFF, E.VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT]
        # shut off -> a snapshot taken running: started from it.
        reverted(run, 0, [started_fs, resumed_fs, defined_fs])
        dom.destroy()
        quiet()
        # shut off -> shut-off snapshot, booted (running) or left paused.
        reverted(off, E.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING, [resumed, started_fs, defined_fs])
        assert dom.state() == [E.VIR_DOMAIN_RUNNING, E.VIR_DOMAIN_RUNNING_BOOTED]
        dom.destroy()
        quiet()
        reverted(off, E.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED, [started_fs, suspended_fs, defined_fs])
        assert dom.state() == [E.VIR_DOMAIN_PAUSED, E.VIR_DOMAIN_PAUSED_USER]
        dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    finally:
        conn.domainEventDeregisterAny(callback)
        conn.close()
        proxyd.stop()


AGENT_CHANNEL = ("<channel type='unix'><source mode='bind'/>"
                 "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>")


def test_a_quiesced_disk_only_snapshot_freezes_the_guest_through_its_agent():
    """libvirt's QUIESCE and LIVE flags, with the codes and words libvirtd 9.0 gave on this
    machine: quiesce needs disk-only (INVALID_ARG), a running guest's agent channel
    (ARGUMENT_UNSUPPORTED) and a connected agent (AGENT_UNRESPONSIVE); with one, the
    snapshot is taken and the guest goes on. LIVE is OPERATION_UNSUPPORTED. A refusal
    leaves no snapshot and no overlay behind."""
    libvirt = __import__("libvirt")
    proxyd = bc.Bridge("bridge-snapshot-quiesce")
    conn = libvirt.open(proxyd.rw_uri)
    quiesce = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
    disk_only = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY

    def guest(prefix, agent, cmdline=""):
        name = vc.unique(prefix)
        xml = vc.domain_xml(name, serial=serial_log(name), disk=True,
                            extra_devices=disk_xml(image(name)) + (AGENT_CHANNEL if agent else ""))
        vc.define(xml.replace("</cmdline>", cmdline + "</cmdline>"))
        dom = conn.lookupByName(name)
        dom.create()
        wait_wrote(name, 1)
        return name, dom

    def snap(name, label):
        return f"<domainsnapshot><name>{label}</name></domainsnapshot>", scratch(f"{name}.{label}")

    def refused(dom, name, label, flags, code, words):
        xml, overlay = snap(name, label)
        try:
            dom.snapshotCreateXML(xml, flags)
            raise AssertionError(f"{label} was taken")
        except libvirt.libvirtError as e:
            assert e.get_error_code() == code, e
            assert words in str(e), e
        assert label not in dom.snapshotListNames()
        assert not os.path.exists(overlay)

    try:
        name, dom = guest("quiesce-none", agent=False)
        refused(dom, name, "q1", quiesce, libvirt.VIR_ERR_INVALID_ARG,
                "Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY' is required by flag "
                "'VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE'")
        refused(dom, name, "q2", quiesce | disk_only, libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
                "QEMU guest agent is not configured")
        for flags in (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_LIVE,
                      libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_LIVE | disk_only):
            refused(dom, name, "l1", flags, libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
                    "live snapshot creation is supported only during full system snapshots")
        dom.destroy()
        # Shut off, there is nothing to freeze: libvirt takes the snapshot anyway.
        xml, overlay = snap(name, "off")
        dom.snapshotCreateXML(xml, quiesce | disk_only)
        assert os.path.exists(overlay)

        # A channel, but the guest runs no agent on it.
        name, dom = guest("quiesce-deaf", agent=True, cmdline=" virtswarm.noagent")
        refused(dom, name, "q3", quiesce | disk_only, libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
                "guest agent is not connected")
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING

        name, dom = guest("quiesce", agent=True)
        vc.wait_file_contains(serial_log(name), "VIRTSWARM-AGENT-STARTED")
        xml, overlay = snap(name, "q4")
        dom.snapshotCreateXML(xml, quiesce | disk_only)
        assert dom.snapshotLookupByName("q4").getXMLDesc().count("<state>disk-snapshot</state>")
        assert overlay in dom.XMLDesc(0)
        # Thawed: the guest goes on writing, into the overlay.
        at = wrote(name)[-1]
        wait_wrote(name, at + 2)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    finally:
        conn.close()
        proxyd.stop()
