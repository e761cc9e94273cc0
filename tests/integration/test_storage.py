"""virtswarm-storaged on the private bus with the real polkitd: pools and volumes, jobs
with progress and cancel, polkit per action, bad input, a kill -9 in the middle of a
clone, and no hypervisor daemon anywhere."""

import os
import signal

import dbus
import pytest

import storageclient as sc
import vsclient as vc
import vsharness as h

HYPERVISOR = "org.virtswarm.Hypervisor1"


@pytest.fixture(autouse=True)
def no_leftover_domains():
    """Replaces the directory's domain clean-up, which would start the hypervisor
    registry: storage must work without it, and every test here checks that it did."""
    yield
    assert not h.name_has_owner(HYPERVISOR)


def test_default_pool_is_made_and_volumes_live_in_it():
    default = str(sc.manager().LookupByName("default"))
    p = sc.props(default, sc.POOL)
    assert p["Active"] and p["Autostart"] and p["Persistent"] and p["Type"] == "dir"
    assert p["Path"] == os.path.join(os.path.dirname(os.environ["VIRTSWARM_STATE_DIR"] + "/x"),
                                     "images")
    assert p["Capacity"] > 0 and p["Available"] > 0
    vol = str(sc.iface(default, sc.POOL).CreateVolume(sc.volume_xml("disk.qcow2", "8", "qcow2", unit="G"),
                                                      sc.opts(), timeout=vc.TIMEOUT))
    v = sc.props(vol, sc.VOLUME)
    assert v["Format"] == "qcow2" and v["Capacity"] == 8 << 30 and v["Pool"] == default
    assert v["Path"] == os.path.join(p["Path"], "disk.qcow2") and os.path.exists(v["Path"])
    assert str(sc.manager().LookupVolumeByPath(v["Path"])) == vol
    xml = sc.iface(vol, sc.VOLUME).GetXML(sc.opts())
    assert "<name>disk.qcow2</name>" in xml and "<format type=\"qcow2\"/>" in xml
    sc.iface(vol, sc.VOLUME).Resize(dbus.UInt64(9 << 30), sc.opts(), timeout=vc.TIMEOUT)
    assert sc.props(vol, sc.VOLUME)["Capacity"] == 9 << 30
    assert sc.error_name(lambda: sc.iface(vol, sc.VOLUME).Resize(
        dbus.UInt64(1 << 30), sc.opts(), timeout=vc.TIMEOUT)) == \
        "org.freedesktop.DBus.Error.InvalidArgs"
    sc.iface(vol, sc.VOLUME).Delete(sc.opts(), timeout=vc.TIMEOUT)
    assert not os.path.exists(v["Path"])
    assert "disk.qcow2" not in sc.volumes(default)


def test_clone_is_a_job_with_progress_and_a_cancel_leaves_nothing():
    pool, directory = sc.running_dir_pool(vc.unique("jobs"))
    sc.write_data(os.path.join(directory, "source"), 192)
    sc.iface(pool, sc.POOL).Refresh(sc.opts(), timeout=vc.TIMEOUT)
    source = sc.volumes(pool)["source"]
    recorder = vc.SignalRecorder(f"type='signal',sender='{sc.BUS_NAME}'")
    try:
        job = str(sc.iface(pool, sc.POOL).CloneVolume(
            dbus.ObjectPath(source), sc.volume_xml("copy", "0", "qcow2"), sc.opts(),
            timeout=vc.TIMEOUT))
        assert sc.props(job, sc.JOB)["Operation"] == "clone"
        recorder.wait_for(f"path={job}", "member=Completed")
        text = recorder.text()
        assert "Progress" in text and "BytesDone" in text
        assert "boolean true" in text.split("member=Completed")[1]
        copy = sc.volumes(pool)["copy"]
        assert sc.props(copy, sc.VOLUME)["Format"] == "qcow2"
        assert sc.props(copy, sc.VOLUME)["Capacity"] == 192 << 20

        job2 = str(sc.iface(pool, sc.POOL).CloneVolume(
            dbus.ObjectPath(source), sc.volume_xml("gone", "0"), sc.opts(), timeout=vc.TIMEOUT))
        # While it runs, the name is taken and the source cannot be deleted.
        assert sc.error_name(lambda: sc.iface(pool, sc.POOL).CreateVolume(
            sc.volume_xml("gone"), sc.opts(), timeout=vc.TIMEOUT)) == \
            "org.virtswarm.Error.VolumeExists"
        assert sc.error_name(lambda: sc.iface(source, sc.VOLUME).Delete(
            sc.opts(), timeout=vc.TIMEOUT)) == "org.virtswarm.Error.InvalidState"
        sc.iface(job2, sc.JOB).Cancel(sc.opts(), timeout=vc.TIMEOUT)

        # job2's own Completed (the first job's Completed is in the text already).
        def completed2():
            segments = recorder.text().split(f"path={job2}")[1:]
            return [s for s in segments if "member=Completed" in s.split("\n", 1)[0]]
        h.wait_until(completed2, vc.TIMEOUT, 0.05, "the cancelled job to complete")
        after = completed2()[0]
        assert "boolean false" in after and "cancelled" in after
    finally:
        recorder.stop()
    assert "gone" not in sc.volumes(pool)
    assert sorted(os.listdir(directory)) == ["copy", "source"]


def test_bad_input_is_a_named_error_and_changes_nothing():
    pool, directory = sc.running_dir_pool(vc.unique("bad"))
    pools_before = sc.list_pools()
    mgr = sc.manager()
    cases = [
        (lambda: mgr.DefineXML("<pool type='dir'><name>x</name>", sc.opts()),
         "org.virtswarm.Error.MalformedXML"),
        (lambda: mgr.DefineXML("<pool type='iscsi'><name>x</name></pool>", sc.opts()),
         "org.virtswarm.Error.NotSupported"),
        (lambda: mgr.DefineXML(sc.dir_pool_xml("x", "relative/dir"), sc.opts()),
         "org.virtswarm.Error.InvalidXML"),
        (lambda: mgr.DefineXML(sc.dir_pool_xml("x", directory), sc.opts()),
         "org.virtswarm.Error.PoolExists"),
        (lambda: mgr.DefineXML(sc.dir_pool_xml("default", "/srv/other"), sc.opts()),
         "org.virtswarm.Error.PoolExists"),
        (lambda: mgr.DefineXML(sc.dir_pool_xml("y", "/srv/y"), sc.opts(bogus=True)),
         "org.freedesktop.DBus.Error.InvalidArgs"),
        (lambda: mgr.LookupByName("no-such-pool"), "org.virtswarm.Error.NoSuchPool"),
        (lambda: mgr.LookupVolumeByPath("/etc/passwd"), "org.virtswarm.Error.NoSuchVolume"),
    ]
    p = sc.iface(pool, sc.POOL)
    cases += [
        (lambda: p.CreateVolume(sc.volume_xml("../escape"), sc.opts()),
         "org.virtswarm.Error.InvalidXML"),
        (lambda: p.CreateVolume(sc.volume_xml("a/b"), sc.opts()),
         "org.virtswarm.Error.InvalidXML"),
        (lambda: p.CreateVolume(sc.volume_xml("v", fmt="vmdk"), sc.opts()),
         "org.virtswarm.Error.NotSupported"),
        (lambda: p.CreateVolume(sc.volume_xml("v", "1", unit="E", extra="<allocation unit='E'>1"
                                              "</allocation>"), sc.opts()),
         "org.virtswarm.Error.OperationFailed"),
        (lambda: p.CreateVolume(sc.volume_xml("v", "1", "qcow2", "<backingStore><path>rel"
                                              "</path></backingStore>"), sc.opts()),
         "org.virtswarm.Error.InvalidXML"),
        (lambda: p.CloneVolume(dbus.ObjectPath(pool + "/volume/nothing"),
                               sc.volume_xml("c"), sc.opts()),
         "org.virtswarm.Error.NoSuchVolume"),
        (lambda: p.Start(sc.opts()), "org.virtswarm.Error.InvalidState"),
        (lambda: p.Delete(sc.opts()), "org.virtswarm.Error.InvalidState"),
    ]
    for call, expected in cases:
        assert sc.error_name(call) == expected
    assert sc.list_pools() == pools_before
    assert os.listdir(directory) == []
    assert sc.volumes(pool) == {}


def test_polkit_decides_per_action_with_pool_and_volume_details():
    name = vc.unique("granted")
    pool, directory = sc.running_dir_pool(name)
    other, _ = sc.running_dir_pool(vc.unique("other"))
    user = h.test_user()
    # Reading is open to everyone.
    r = sc.call_as(user, sc.ROOT, sc.MANAGER + ".ListPools", {})
    assert r.returncode == 0 and pool in r.stdout, r.stderr
    r = sc.call_as(user, pool, sc.POOL + ".GetXML", {})
    assert r.returncode == 0 and f"<name>{name}</name>" in r.stdout, r.stderr
    # Changes need an administrator: without an agent that is a challenge.
    r = sc.call_as(user, pool, sc.POOL + ".CreateVolume", sc.volume_xml("u"), {})
    assert "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" in r.stderr
    r = sc.call_as(user, pool, sc.POOL + ".Stop", {})
    assert "InteractiveAuthorizationRequired" in r.stderr
    rule = ("polkit.addRule(function(action, subject) {\n"
            '  if (action.id == "org.virtswarm.storage-vol.create" &&\n'
            f'      subject.user == "{user}" &&\n'
            f'      action.lookup("pool_name") == "{name}" &&\n'
            '      ["mine", "overlay"].indexOf(action.lookup("vol_name")) >= 0) {\n'
            "    return polkit.Result.YES;\n"
            "  }\n"
            '  if (action.id == "org.virtswarm.storage-pool.stop") {\n'
            "    return polkit.Result.NO;\n"
            "  }\n"
            "});\n")
    with h.polkit_rule("60-vs-storage.rules", rule):
        r = sc.call_as(user, pool, sc.POOL + ".CreateVolume", sc.volume_xml("mine"), {})
        assert r.returncode == 0, r.stderr
        r = sc.call_as(user, pool, sc.POOL + ".CreateVolume", sc.volume_xml("notmine"), {})
        assert "InteractiveAuthorizationRequired" in r.stderr
        r = sc.call_as(user, other, sc.POOL + ".CreateVolume", sc.volume_xml("mine"), {})
        assert "InteractiveAuthorizationRequired" in r.stderr
        r = sc.call_as(user, pool, sc.POOL + ".Stop", {})
        assert "org.freedesktop.DBus.Error.AccessDenied" in r.stderr
        vol = sc.volumes(pool)["mine"]
        r = sc.call_as(user, vol, sc.VOLUME + ".Delete", {})
        assert "InteractiveAuthorizationRequired" in r.stderr
        # The right to create a volume is no right to read another's file through it: a
        # backing store is read as the caller (storaged is root).
        secret = os.path.join(h.env("VS_TEST_ROOT"), "root-only.img")
        with open(secret, "wb") as f:
            f.truncate(1 << 20)
        os.chmod(secret, 0o600)
        overlay = ("<volume><name>overlay</name><target><format type='qcow2'/></target>"
                   f"<backingStore><path>{secret}</path></backingStore></volume>")
        r = sc.call_as(user, pool, sc.POOL + ".CreateVolume", overlay, {})
        assert "org.freedesktop.DBus.Error.AccessDenied" in r.stderr, r.stderr
        assert "overlay" not in sc.volumes(pool)
        os.chmod(secret, 0o644)
        r = sc.call_as(user, pool, sc.POOL + ".CreateVolume", overlay, {})
        assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(directory)) == ["mine", "overlay"]
    assert sc.props(pool, sc.POOL)["Active"]


def test_kill_9_in_the_middle_of_a_clone_leaves_a_consistent_pool():
    pool, directory = sc.running_dir_pool(vc.unique("crash"))
    sc.write_data(os.path.join(directory, "big"), 384)
    sc.iface(pool, sc.POOL).Refresh(sc.opts(), timeout=vc.TIMEOUT)
    source = sc.volumes(pool)["big"]
    sc.iface(pool, sc.POOL).CloneVolume(dbus.ObjectPath(source), sc.volume_xml("half", "0"),
                                        sc.opts(), timeout=vc.TIMEOUT)
    partial = os.path.join(directory, ".partial-half")
    h.wait_until(lambda: os.path.exists(partial), 30, 0.01, "the clone to start writing")
    os.kill(sc.storaged_pid(), signal.SIGKILL)
    h.wait_for_name_gone(sc.BUS_NAME)
    # The next call activates a new storaged; it takes the running pool up again and
    # removes what the interrupted clone left.
    again = str(sc.manager().LookupByUUID(sc.props(pool, sc.POOL)["UUID"]))
    assert again == pool
    assert sc.props(pool, sc.POOL)["Active"]
    assert set(sc.volumes(pool)) == {"big"}
    h.wait_until(lambda: not os.path.exists(partial), 30, 0.05, "the partial clone to go")
    assert not os.path.exists(os.path.join(directory, "half"))


def test_upload_and_download_go_through_the_callers_file_descriptors():
    pool, directory = sc.running_dir_pool(vc.unique("fds"))
    vol = str(sc.iface(pool, sc.POOL).CreateVolume(sc.volume_xml("disk"), sc.opts(),
                                                   timeout=vc.TIMEOUT))
    work = os.path.join(os.environ["VS_TEST_ROOT"], "fd-work")
    os.makedirs(work, exist_ok=True)
    payload = os.urandom(1 << 20) + b"\0" * (3 << 20) + b"end"
    with open(os.path.join(work, "up"), "wb") as f:
        f.write(payload)
    recorder = vc.SignalRecorder(f"type='signal',sender='{sc.BUS_NAME}'")
    try:
        with open(os.path.join(work, "up"), "rb") as f:
            job = str(sc.iface(vol, sc.VOLUME).Upload(dbus.types.UnixFd(f), sc.opts(),
                                                      timeout=vc.TIMEOUT))
        recorder.wait_for(f"path={job}", "member=Completed")
        assert "boolean true" in recorder.text().split(f"path={job}")[-1]
        with open(os.path.join(directory, "disk"), "rb") as f:
            assert f.read() == payload
        # qemu-img counts a raw image in whole 512-byte sectors.
        assert 0 <= sc.props(vol, sc.VOLUME)["Capacity"] - len(payload) < 512

        with open(os.path.join(work, "down"), "wb") as f:
            job = str(sc.iface(vol, sc.VOLUME).Download(dbus.types.UnixFd(f), sc.opts(),
                                                        timeout=vc.TIMEOUT))
        recorder.wait_for(f"path={job}", "member=Completed")
        with open(os.path.join(work, "down"), "rb") as f:
            assert f.read() == payload
    finally:
        recorder.stop()

    # Not a regular file, or open the wrong way: a named error, the volume untouched.
    r, w = os.pipe()
    try:
        assert sc.error_name(lambda: sc.iface(vol, sc.VOLUME).Upload(
            dbus.types.UnixFd(r), sc.opts(), timeout=vc.TIMEOUT)) == \
            "org.freedesktop.DBus.Error.InvalidArgs"
    finally:
        os.close(r)
        os.close(w)
    with open(os.path.join(work, "down"), "rb") as f:
        assert sc.error_name(lambda: sc.iface(vol, sc.VOLUME).Download(
            dbus.types.UnixFd(f), sc.opts(), timeout=vc.TIMEOUT)) == \
            "org.freedesktop.DBus.Error.InvalidArgs"
    with open(os.path.join(directory, "disk"), "rb") as f:
        assert f.read() == payload
    # Writing a volume's data is an administrator's right.
    user = h.test_user()
    r = sc.call_as(user, vol, sc.VOLUME + ".Wipe", {})
    assert "InteractiveAuthorizationRequired" in r.stderr
    assert sorted(os.listdir(directory)) == ["disk"]
