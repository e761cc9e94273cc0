"""End to end: saving a running guest to a file of the caller's (Domain.Save, virsh save)
and restoring it (Manager.Restore, virsh restore), with real QEMU guests that print a
numbered tick every second, so a restored guest is seen to continue its count where it
stopped instead of booting again. The image is libvirt's format; the file is opened with
the rights of the user the call acts for."""

import os
import pwd
import re
import stat

import dbus

import bridgeclient as bc
import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."
# The error table names these two with the bus's standard names.
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
TICK = re.compile(r"^VIRTSWARM-TICK (\d+)\r?$", re.M)


def scratch(name):
    d = os.path.join(h.env("VS_TEST_ROOT"), "save-restore")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def serial_log(name):
    return os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")


def ticks(name):
    with open(serial_log(name), errors="replace") as f:
        return [int(n) for n in TICK.findall(f.read())]


def opts(**kw):
    return dbus.Dictionary(kw, signature="sv")


def start_ticking(name, transient=False):
    xml = vc.domain_xml(name, serial=serial_log(name), ticks=True)
    if transient:
        path = str(vc.manager().CreateXML(xml, vc.no_options(), timeout=vc.TIMEOUT))
    else:
        path = vc.define(xml)
        vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-TICK 2")
    return path


def assert_continues(name, last):
    """The new QEMU's serial file starts empty: the first tick in it is the one after the
    last before the save (or the one after that, if the save caught the guest between a
    tick and its line on the serial port), and the guest did not boot again."""
    h.wait_until(lambda: ticks(name), vc.TIMEOUT, 0.2, f"a tick from {name}")
    first = ticks(name)[0]
    assert last + 1 <= first <= last + 2, (last, ticks(name))
    with open(serial_log(name), errors="replace") as f:
        assert "VIRTSWARM-GUEST-READY" not in f.read()


def test_a_saved_guest_is_restored_and_counts_on_across_a_registry_restart():
    name = vc.unique("saved")
    path = start_ticking(name)
    image = scratch(f"{name}.save")

    vc.domain(path).Save(image, vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("shutoff", "saved")
    last = ticks(name)[-1]
    with open(image, "rb") as f:
        assert f.read(16) == b"LibvirtQemudSave"  # libvirt's format, complete
    assert not bool(vc.prop(path, "HasManagedSave"))  # a file, not the managed image
    # What the image holds, and nothing secret unless asked.
    xml = str(vc.manager().SaveImageGetXML(image, vc.no_options(), timeout=vc.TIMEOUT))
    assert f"<name>{name}</name>" in xml

    # The registry goes between the save and the restore: the image is all that counts.
    old_registry = vc.registry_pid()
    os.kill(old_registry, 9)
    h.wait_for_name_gone(vc.BUS_NAME)

    restored = str(vc.manager().Restore(image, vc.no_options(), timeout=vc.TIMEOUT))
    assert vc.registry_pid() != old_registry
    assert restored == path
    assert vc.state(path) == ("running", "restored")
    assert_continues(name, last)
    assert os.path.exists(image)  # the user's file is kept, as in libvirt

    # Restoring a domain that runs is refused, and changes nothing.
    assert vc.error_name(vc.manager().Restore, image, vc.no_options()) == ERR + "InvalidState"
    assert vc.state(path) == ("running", "restored")

    # A guest saved paused comes back paused, and goes on when resumed.
    vc.domain(path).Save(image, opts(paused=True), timeout=vc.TIMEOUT)
    last = ticks(name)[-1]
    vc.manager().Restore(image, vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("paused", "user")
    vc.domain(path).Resume(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path)[0] == "running"
    assert_continues(name, last)


def test_a_transient_guest_goes_with_its_save_and_comes_back_transient():
    name = vc.unique("transave")
    path = start_ticking(name, transient=True)
    image = scratch(f"{name}.save")
    vc.domain(path).Save(image, opts(running=True), timeout=vc.TIMEOUT)
    h.wait_until(lambda: path not in vc.list_domains(), 30, 0.1, "the transient domain to go")
    last = ticks(name)[-1]

    restored = str(vc.manager().Restore(image, vc.no_options(), timeout=vc.TIMEOUT))
    assert restored == path
    assert bool(vc.prop(path, "Persistent")) is False
    assert vc.state(path) == ("running", "restored")
    assert_continues(name, last)
    # "paused" decides over what the image says.
    vc.domain(path).Save(image, vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: path not in vc.list_domains(), 30, 0.1, "the transient domain to go")
    vc.manager().Restore(image, opts(paused=True), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("paused", "user")
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


def test_the_image_definition_can_be_read_and_replaced_in_place():
    name = vc.unique("imgxml")
    path = start_ticking(name)
    image = scratch(f"{name}.save")
    vc.domain(path).Save(image, vc.no_options(), timeout=vc.TIMEOUT)
    size = os.path.getsize(image)
    xml = str(vc.manager().SaveImageGetXML(image, vc.no_options(), timeout=vc.TIMEOUT))
    described = xml.replace("</domain>", "<description>restored copy</description></domain>")
    vc.manager().SaveImageDefineXML(image, described, opts(paused=True), timeout=vc.TIMEOUT)
    assert "restored copy" in str(vc.manager().SaveImageGetXML(image, vc.no_options(),
                                                               timeout=vc.TIMEOUT))
    assert os.path.getsize(image) == size  # in place: the stream did not move
    # Another domain's definition does not go into this image.
    other = vc.domain_xml(vc.unique("other"))
    # libvirt: CONFIG_UNSUPPORTED "Target domain name ... does not match source ...".
    assert vc.error_name(vc.manager().SaveImageDefineXML, image, other, vc.no_options()) == \
        ERR + "ConfigUnsupported"
    # A replacement at restore time must describe the same domain too.
    assert vc.error_name(vc.manager().Restore, image, opts(xml=other)) == \
        ERR + "ConfigUnsupported"
    assert vc.state(path) == ("shutoff", "saved")

    vc.manager().Restore(image, vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("paused", "user")  # as the image now says
    live = str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT))
    assert "restored copy" in live
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    # The stored definition applies again from the next start.
    inactive = str(vc.domain(path).GetXML(opts(inactive=True), timeout=vc.TIMEOUT))
    assert "restored copy" not in inactive


def test_bad_files_and_arguments_are_refused_and_change_nothing():
    before = sorted(vc.list_domains())
    name = vc.unique("badsave")
    garbage = scratch("garbage.save")
    with open(garbage, "wb") as f:
        f.write(b"\0" * 4096)
    partial = scratch("partial.save")
    with open(partial, "wb") as f:
        f.write(b"LibvirtQemudPart" + b"\0" * 200)
    fifo = scratch("fifo.save")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    cases = [
        ("relative.save", vc.no_options(), INVALID_ARGS),
        (scratch("missing.save"), vc.no_options(), ERR + "OperationFailed"),
        (garbage, vc.no_options(), ERR + "OperationFailed"),
        (partial, vc.no_options(), ERR + "OperationFailed"),
        (fifo, vc.no_options(), ACCESS_DENIED),  # refused, never waited on
        (garbage, opts(running=True, paused=True), INVALID_ARGS),
        (garbage, opts(bogus=True), INVALID_ARGS),
    ]
    for file, options, error in cases:
        assert vc.error_name(vc.manager().Restore, file, options) == error, file
        if options == vc.no_options():
            assert vc.error_name(vc.manager().SaveImageGetXML, file, options) == error
    for file, message in ((partial, "save image is incomplete"),
                          (garbage, "image magic is incorrect")):
        try:
            vc.manager().Restore(file, vc.no_options(), timeout=vc.TIMEOUT)
            raise AssertionError("restored a bad image")
        except dbus.exceptions.DBusException as e:
            assert message in e.get_dbus_message()
    assert sorted(vc.list_domains()) == before

    # Save: a domain that does not run, and a path that is not absolute.
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    assert vc.error_name(vc.domain(path).Save, scratch("x.save"), vc.no_options()) == \
        ERR + "InvalidState"
    assert not os.path.exists(scratch("x.save"))
    assert vc.error_name(vc.domain(path).Save, "x.save", vc.no_options()) == INVALID_ARGS


def test_the_file_is_opened_with_the_rights_of_the_user_the_call_acts_for():
    """Root acting for vstest (as the libvirt bridge does for its clients): a directory
    only root may write is refused, and a file vstest may write is vstest's."""
    user = pwd.getpwnam("vstest")
    closed = scratch("root-only")
    os.makedirs(closed, exist_ok=True)
    os.chmod(closed, 0o700)
    theirs = scratch("vstest-own")
    os.makedirs(theirs, exist_ok=True)
    os.chown(theirs, user.pw_uid, user.pw_gid)
    os.chmod(os.path.dirname(theirs), 0o755)

    name = vc.unique("asuser")
    path = start_ticking(name)
    acting = opts(**{"definer-uid": dbus.UInt32(user.pw_uid)})
    assert vc.error_name(vc.domain(path).Save, os.path.join(closed, "x.save"), acting) == \
        ACCESS_DENIED
    assert vc.state(path)[0] == "running"  # nothing happened to the guest
    assert not os.path.exists(os.path.join(closed, "x.save"))

    image = os.path.join(theirs, "x.save")
    vc.domain(path).Save(image, acting, timeout=vc.TIMEOUT)
    st = os.stat(image)
    assert st.st_uid == user.pw_uid and stat.S_IMODE(st.st_mode) == 0o600
    # Only the owner may read it: restoring it for another user is refused.
    nobody = opts(**{"definer-uid": dbus.UInt32(65534)})
    assert vc.error_name(vc.manager().Restore, image, nobody) == ACCESS_DENIED
    vc.manager().Restore(image, acting, timeout=vc.TIMEOUT)
    assert vc.state(path) == ("running", "restored")


def test_virsh_save_restore_and_the_image_commands():
    """What a libvirt user types, through virtswarm-proxyd."""
    proxyd = bc.Bridge("bridge-save")
    virsh = bc.virsh_on(proxyd)

    try:
        name = vc.unique("virshsave")
        start_ticking(name)
        image = scratch(f"{name}.virsh.save")
        assert "None" in virsh("domjobinfo", "--completed", name)
        assert f"Domain '{name}' saved to {image}" in virsh("save", name, image)
        assert virsh("domstate", "--reason", name).strip() == "shut off (saved)"
        last = ticks(name)[-1]
        # As libvirtd: the finished save's figures stay with the shut-off domain until
        # read (--keep-completed keeps them).
        done = virsh("domjobinfo", "--completed", "--keep-completed", name)
        assert re.search(r"^Job type:\s+Completed", done, re.M), done
        assert re.search(r"^Operation:\s+Save", done, re.M), done
        for line in ("Time elapsed:", "Memory processed:", "Memory total:", "Total downtime:"):
            assert line in done, done
        assert virsh("domjobinfo", "--completed", name) == done
        assert "None" in virsh("domjobinfo", "--completed", name)
        assert f"<name>{name}</name>" in virsh("save-image-dumpxml", image)
        assert f"Domain restored from {image}" in virsh("restore", image)
        assert virsh("domstate", "--reason", name).strip() == "running (restored)"
        assert_continues(name, last)

        # --paused on save, and on restore; start --paused.
        virsh("save", "--paused", name, image)
        virsh("restore", image)
        assert virsh("domstate", name).strip() == "paused"
        virsh("destroy", name)
        virsh("start", "--paused", name)
        assert virsh("domstate", name).strip() == "paused"
        virsh("resume", name)
        assert virsh("domstate", name).strip() == "running"
        virsh("save", "--running", name, image)
        xml = virsh("save-image-dumpxml", image).replace(
            "</domain>", "<description>edited</description></domain>")
        edited = scratch(f"{name}.xml")
        with open(edited, "w") as f:
            f.write(xml)
        assert f"State file {image} updated" in virsh("save-image-define", image, edited)
        assert "edited" in virsh("save-image-dumpxml", image)
        virsh("restore", "--paused", image)
        assert virsh("domstate", name).strip() == "paused"

        # libvirt's refusals.
        r = virsh("restore", scratch("nothing-here.save"), check=False)
        assert r.returncode != 0
        r = virsh("save", "--running", "--paused", name, image, check=False)
        assert r.returncode != 0 and "exclusive" in r.stderr
    finally:
        proxyd.stop()


def test_a_managed_save_keeps_the_definition_its_guest_comes_back_with():
    """As libvirtd 9.0 on this machine: the managed save image holds the definition the
    guest ran with (managedsave-dumpxml), which managedsave-define replaces in place; the
    next start restores the guest with it for that run (the stored definition stays for
    the next boot), paused if it was saved paused, unless the image was told otherwise."""
    proxyd = bc.Bridge("bridge-managedsave")
    virsh = bc.virsh_on(proxyd)
    try:
        name = vc.unique("msxml")
        path = start_ticking(name)
        r = virsh("managedsave-dumpxml", name, check=False)
        assert r.returncode != 0 and "domain does not have managed save image" in r.stderr
        assert vc.error_name(vc.domain(path).ManagedSaveGetXML, vc.no_options()) == \
            ERR + "InvalidState"

        virsh("managedsave", "--paused", name)
        assert virsh("domstate", "--reason", name).strip() == "shut off (saved)"
        last = ticks(name)[-1]
        saved = virsh("managedsave-dumpxml", name)
        assert f"<name>{name}</name>" in saved, saved
        # The stored definition changes; the image keeps its own, then gets another.
        stored = str(vc.domain(path).GetXML(opts(inactive=True), timeout=vc.TIMEOUT))
        vc.manager().DefineXML(stored.replace("</domain>",
                                              "<description>stored</description></domain>"),
                               vc.no_options(), timeout=vc.TIMEOUT)
        assert "stored" not in virsh("managedsave-dumpxml", name)
        edited = scratch(f"{name}.image.xml")
        with open(edited, "w") as f:
            f.write(saved.replace("</domain>", "<description>image</description></domain>"))
        virsh("managedsave-define", name, edited, "--running")
        assert "<description>image</description>" in virsh("managedsave-dumpxml", name)
        # libvirt's ABI check: another domain's definition is CONFIG_UNSUPPORTED.
        other = scratch(f"{name}.other.xml")
        with open(other, "w") as f:
            f.write(vc.domain_xml(vc.unique("other")))
        r = virsh("managedsave-define", name, other, check=False)
        assert r.returncode != 0 and "Target domain name" in r.stderr, r.stderr

        # Saved paused, defined --running: it runs, with the image's definition.
        virsh("start", name)
        assert virsh("domstate", "--reason", name).strip() == "running (restored)"
        assert_continues(name, last)
        assert "<description>image</description>" in virsh("dumpxml", name)
        assert "<description>stored</description>" in virsh("dumpxml", "--inactive", name)

        # Saved paused, it comes back paused; the next boot has the stored definition.
        virsh("suspend", name)
        virsh("managedsave", name)
        virsh("start", name)
        assert virsh("domstate", name).strip() == "paused"
        virsh("destroy", name)
        virsh("start", name)
        assert "<description>stored</description>" in virsh("dumpxml", name)
    finally:
        proxyd.stop()
