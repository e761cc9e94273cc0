"""Real virsh (libvirt-clients 9.0) and python3-libvirt managing virtswarm-storaged's pools
and volumes through virtswarm-proxyd, on a private bus that has NO hypervisor daemon: the
hypervisord service file is hidden from the bus for the whole module, so this also proves
that the bridge serves storage standalone (domain calls answer that the hypervisor is
unavailable). pool-*/vol-* commands with their output, vol-upload/vol-download compared byte
for byte, pool lifecycle and refresh events, libvirt's error codes, and polkit refusing a test user.

Run through tests/harness/with-test-bus (ctest -R integration-test_bridge_storage).
"""

import filecmp
import os
import struct
import xml.etree.ElementTree as ET

import pytest

import bridgeclient as bc
import bridgewire as w
import storageclient as sc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

HYPERVISOR = "org.virtswarm.Hypervisor1"
# libvirt's virErrorNumber values (reference/libvirt-rpc.md).
OPERATION_FAILED, NO_STORAGE_POOL, NO_STORAGE_VOL, STORAGE_VOL_EXIST = 9, 49, 50, 90
OPERATION_INVALID, INVALID_ARG, RPC = 55, 8, 39
# Wire numbers for the raw-protocol tests (remote_protocol.x, virnetprotocol.x).
STORAGE_VOL_UPLOAD = 208
STREAM_HOLE, CONTINUE = 6, 2
error_code = bc.libvirt_error_code


# ---------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def bridge():
    with h.services_hidden(HYPERVISOR):
        proxyd = bc.Bridge("bridge-storage")
        yield {"rw": proxyd.rw_uri, "ro": proxyd.ro_uri, "root": proxyd.root,
               "home": bc.virsh_home(proxyd.root), "proxyd": proxyd}
        proxyd.stop()
    # Not once, in any test, was the hypervisor registry there.
    assert not h.name_has_owner(HYPERVISOR)


def virsh(bridge, *args, uri=None, check=True, user=None, timeout=120):
    return bc.virsh(bridge["home"], uri or bridge["rw"], *args, check=check, user=user,
                    timeout=timeout)


def table(out):
    """Rows of a virsh table (after the header and the dashes) as lists of columns."""
    return [line.split() for line in out.splitlines()[2:] if line.strip()]


def info(out):
    return {k.strip(): v.strip() for k, v in
            (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def pool_dir(bridge, name):
    path = os.path.join(bridge["root"], "pools", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def open_libvirt(bridge):
    libvirt = pytest.importorskip("libvirt")
    return libvirt, libvirt.open(bridge["rw"])


def running_pool(bridge, name):
    directory = pool_dir(bridge, name)
    virsh(bridge, "pool-define-as", name, "dir", "--target", directory)
    virsh(bridge, "pool-build", name)
    virsh(bridge, "pool-start", name)
    return directory


def remove_pool(bridge, name):
    virsh(bridge, "pool-destroy", name, check=False)
    virsh(bridge, "pool-undefine", name, check=False)


# ---------------------------------------------------------------- pools
def test_pool_through_its_whole_life(bridge):
    directory = pool_dir(bridge, "life")
    r = virsh(bridge, "pool-define-as", "life", "dir", "--target", directory)
    assert "Pool life defined" in r.stdout
    rows = {row[0]: row[1:] for row in table(virsh(bridge, "pool-list", "--all").stdout)}
    assert rows["life"] == ["inactive", "no"]
    assert rows["default"] == ["active", "yes"]      # storaged's own pool, as libvirt's
    assert "life" not in {row[0] for row in table(virsh(bridge, "pool-list").stdout)}

    assert "Pool life built" in virsh(bridge, "pool-build", "life").stdout
    assert os.path.isdir(directory)
    assert "Pool life started" in virsh(bridge, "pool-start", "life").stdout
    facts = info(virsh(bridge, "pool-info", "life").stdout)
    assert facts["Name"] == "life" and facts["State"] == "running"
    assert facts["Persistent"] == "yes" and facts["Autostart"] == "no"
    uuid = facts["UUID"]
    assert virsh(bridge, "pool-uuid", "life").stdout.strip() == uuid
    assert virsh(bridge, "pool-name", uuid).stdout.strip() == "life"
    assert facts["Capacity"] != "0.00 B"

    dump = ET.fromstring(virsh(bridge, "pool-dumpxml", "life").stdout)
    assert dump.get("type") == "dir" and dump.find("name").text == "life"
    assert dump.find("target/path").text == directory and dump.find("uuid").text == uuid
    assert int(dump.find("capacity").text) > 0

    virsh(bridge, "pool-autostart", "life")
    assert info(virsh(bridge, "pool-info", "life").stdout)["Autostart"] == "yes"
    virsh(bridge, "pool-autostart", "life", "--disable")
    assert info(virsh(bridge, "pool-info", "life").stdout)["Autostart"] == "no"

    # A file made behind storaged's back shows up after a refresh.
    with open(os.path.join(directory, "outside.img"), "wb") as f:
        f.truncate(1 << 20)
    assert "Pool life refreshed" in virsh(bridge, "pool-refresh", "life").stdout
    assert "outside.img" in virsh(bridge, "vol-list", "life").stdout

    assert "Pool life destroyed" in virsh(bridge, "pool-destroy", "life").stdout
    assert info(virsh(bridge, "pool-info", "life").stdout)["State"] == "inactive"
    r = virsh(bridge, "vol-list", "life", check=False)
    assert r.returncode == 1 and "not active" in r.stderr
    os.remove(os.path.join(directory, "outside.img"))
    assert "Pool life deleted" in virsh(bridge, "pool-delete", "life").stdout
    assert not os.path.exists(directory)
    assert "Pool life has been undefined" in virsh(bridge, "pool-undefine", "life").stdout
    assert "life" not in virsh(bridge, "pool-list", "--all").stdout


def test_transient_pool_from_xml(bridge):
    directory = pool_dir(bridge, "passing")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(bridge["root"], "passing.xml")
    with open(path, "w") as f:
        f.write(sc.dir_pool_xml("passing", directory))
    assert "Pool passing created" in virsh(bridge, "pool-create", path).stdout
    facts = info(virsh(bridge, "pool-info", "passing").stdout)
    assert facts["State"] == "running" and facts["Persistent"] == "no"
    virsh(bridge, "pool-destroy", "passing")
    # Gone at once: storaged forgets a transient pool when it stops.
    assert "passing" not in virsh(bridge, "pool-list", "--all").stdout


# ---------------------------------------------------------------- volumes
def test_volumes_through_virsh(bridge):
    directory = running_pool(bridge, "vols")
    try:
        r = virsh(bridge, "vol-create-as", "vols", "plain.img", "4M", "--format", "raw")
        assert "Vol plain.img created" in r.stdout
        virsh(bridge, "vol-create-as", "vols", "disk.qcow2", "8M", "--format", "qcow2")
        rows = {row[0]: row[1] for row in table(virsh(bridge, "vol-list", "vols").stdout)}
        plain, disk = os.path.join(directory, "plain.img"), os.path.join(directory, "disk.qcow2")
        assert rows == {"plain.img": plain, "disk.qcow2": disk}

        facts = info(virsh(bridge, "vol-info", "plain.img", "--pool", "vols").stdout)
        assert facts["Name"] == "plain.img" and facts["Type"] == "file"
        assert facts["Capacity"] == "4.00 MiB"
        assert info(virsh(bridge, "vol-info", disk).stdout)["Capacity"] == "8.00 MiB"
        dump = ET.fromstring(virsh(bridge, "vol-dumpxml", "disk.qcow2", "--pool", "vols").stdout)
        assert dump.find("name").text == "disk.qcow2"
        assert dump.find("target/format").get("type") == "qcow2"
        assert virsh(bridge, "vol-path", "plain.img", "--pool", "vols").stdout.strip() == plain
        assert virsh(bridge, "vol-key", "plain.img", "--pool", "vols").stdout.strip() == plain
        assert virsh(bridge, "vol-name", plain).stdout.strip() == "plain.img"
        assert virsh(bridge, "vol-pool", plain).stdout.strip() == "vols"

        with open(plain, "r+b") as f:
            f.write(b"virtswarm" * 1000)
        r = virsh(bridge, "vol-clone", "plain.img", "copy.img", "--pool", "vols")
        assert "Vol copy.img cloned from plain.img" in r.stdout
        assert filecmp.cmp(plain, os.path.join(directory, "copy.img"), shallow=False)

        assert "successfully changed to 6M" in virsh(bridge, "vol-resize", "plain.img", "6M",
                                                     "--pool", "vols").stdout
        assert os.path.getsize(plain) == 6 << 20
        virsh(bridge, "vol-resize", "plain.img", "2M", "--delta", "--pool", "vols")
        assert info(virsh(bridge, "vol-info", plain).stdout)["Capacity"] == "8.00 MiB"
        r = virsh(bridge, "vol-resize", "plain.img", "1M", "--pool", "vols", check=False)
        assert r.returncode == 1 and "shrink" in r.stderr      # shrinking needs --shrink
        assert os.path.getsize(plain) == 8 << 20
        virsh(bridge, "vol-resize", "plain.img", "--capacity", "-1M", "--delta", "--shrink",
              "--pool", "vols")
        assert os.path.getsize(plain) == 7 << 20

        assert "wiped" in virsh(bridge, "vol-wipe", "plain.img", "--pool", "vols").stdout
        with open(plain, "rb") as f:
            assert f.read(9000).count(0) == 9000

        for name in ("plain.img", "disk.qcow2", "copy.img"):
            assert f"Vol {name} deleted" in virsh(bridge, "vol-delete", name, "--pool",
                                                  "vols").stdout
        assert table(virsh(bridge, "vol-list", "vols").stdout) == []
        assert os.listdir(directory) == []
    finally:
        remove_pool(bridge, "vols")


def test_upload_and_download_byte_for_byte(bridge):
    running_pool(bridge, "data")
    try:
        virsh(bridge, "vol-create-as", "data", "blob.img", "3M", "--format", "raw")
        source = os.path.join(bridge["root"], "upload.bin")
        content = os.urandom(3 << 20)
        with open(source, "wb") as f:
            f.write(content)
        virsh(bridge, "vol-upload", "blob.img", source, "--pool", "data")
        target = os.path.join(bridge["root"], "download.bin")
        virsh(bridge, "vol-download", "blob.img", target, "--pool", "data")
        with open(target, "rb") as f:
            assert f.read() == content
        # Only a range.
        virsh(bridge, "vol-download", "blob.img", target, "--pool", "data",
              "--offset", "1000", "--length", "5000")
        with open(target, "rb") as f:
            assert f.read() == content[1000:6000]
        # Into a range: the bytes go in from the offset, the rest of the volume stays.
        patch = os.path.join(bridge["root"], "patch.bin")
        with open(patch, "wb") as f:
            f.write(b"\xa5" * 10000)
        virsh(bridge, "vol-upload", "blob.img", patch, "--pool", "data", "--offset", "4096")
        virsh(bridge, "vol-download", "blob.img", target, "--pool", "data")
        with open(target, "rb") as f:
            assert f.read() == content[:4096] + b"\xa5" * 10000 + content[14096:]
        # Past the end of the volume nothing is written.
        r = virsh(bridge, "vol-upload", "blob.img", patch, "--pool", "data", "--offset",
                  str((3 << 20) - 512), check=False)
        assert r.returncode == 1, r.stdout
        virsh(bridge, "vol-download", "blob.img", target, "--pool", "data")
        with open(target, "rb") as f:
            got = f.read()
        assert len(got) == 3 << 20 and got[4096:14096] == b"\xa5" * 10000
        assert got[-512:] == content[-512:]
    finally:
        virsh(bridge, "vol-delete", "blob.img", "--pool", "data", check=False)
        remove_pool(bridge, "data")


def write_sparse(path, size, extents):
    """A file of `size` bytes whose only data are `extents` [(offset, bytes)]: the rest is
    holes."""
    with open(path, "wb") as f:
        for offset, data in extents:
            f.seek(offset)
            f.write(data)
        f.truncate(size)


def allocated(path):
    return os.stat(path).st_blocks * 512


def test_sparse_upload_and_download_keep_holes(bridge):
    """vol-upload/vol-download --sparse (VIR_STORAGE_VOL_*_SPARSE_STREAM): holes cross the
    wire as STREAM_HOLE messages, the volume and the downloaded file stay sparse."""
    mib = 1 << 20
    directory = running_pool(bridge, "holes")
    try:
        virsh(bridge, "vol-create-as", "holes", "sparse.img", "8M", "--format", "raw")
        head, tail = os.urandom(mib), os.urandom(mib)
        source = os.path.join(bridge["root"], "sparse-source.bin")
        # Data, a 5 MiB hole, data, a 1 MiB hole up to the end.
        write_sparse(source, 8 * mib, [(0, head), (6 * mib, tail)])
        expected = head + bytes(5 * mib) + tail + bytes(mib)
        virsh(bridge, "vol-upload", "sparse.img", source, "--pool", "holes", "--sparse")
        volume = os.path.join(directory, "sparse.img")
        with open(volume, "rb") as f:
            assert f.read() == expected
        assert allocated(volume) < 3 * mib, "the uploaded holes were written"

        target = os.path.join(bridge["root"], "sparse-download.bin")
        virsh(bridge, "vol-download", "sparse.img", target, "--pool", "holes", "--sparse")
        with open(target, "rb") as f:
            assert f.read() == expected
        assert allocated(target) < 3 * mib, "the downloaded holes were written"

        # What went over the wire: two data extents and two holes, the last one to the end.
        libvirt, conn = open_libvirt(bridge)
        try:
            vol = conn.storagePoolLookupByName("holes").storageVolLookupByName("sparse.img")
            stream = conn.newStream()
            vol.download(stream, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
            pieces = []

            def on_data(_stream, data, _opaque):
                if pieces and pieces[-1][0] == "data":
                    pieces[-1] = ("data", pieces[-1][1] + len(data))
                else:
                    pieces.append(("data", len(data)))
                return len(data)

            def on_hole(_stream, length, _opaque):
                pieces.append(("hole", length))
                return 0

            stream.sparseRecvAll(on_data, on_hole, None)
            stream.finish()
            assert pieces == [("data", mib), ("hole", 5 * mib), ("data", mib), ("hole", mib)]

            # A range across a hole's edge: holes are cut to it.
            stream = conn.newStream()
            vol.download(stream, mib - 4096, 8192 + mib,
                         libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
            pieces.clear()
            stream.sparseRecvAll(on_data, on_hole, None)
            stream.finish()
            assert pieces == [("data", 4096), ("hole", mib + 4096)]

            # Without the flag the same volume comes as plain data, zeros and all.
            stream = conn.newStream()
            vol.download(stream, 0, 0, 0)
            received = bytearray()
            stream.recvAll(lambda _s, data, _o: received.extend(data), None)
            stream.finish()
            assert bytes(received) == expected
            # A flag libvirt does not define: INVALID_ARG, nothing started.
            with pytest.raises(libvirt.libvirtError) as e:
                vol.download(conn.newStream(), 0, 0, 2)
            assert e.value.get_error_code() == INVALID_ARG
        finally:
            conn.close()
    finally:
        virsh(bridge, "vol-delete", "sparse.img", "--pool", "holes", check=False)
        remove_pool(bridge, "holes")


def test_holes_on_a_stream_not_opened_sparse_are_refused(bridge):
    """STREAM_HOLE on a plain upload is libvirt's RPC error "Unexpected stream hole"; a
    malformed hole on a sparse one is a named error too; the volume keeps its content."""
    running_pool(bridge, "rawholes")
    try:
        virsh(bridge, "vol-create-as", "rawholes", "keep.img", "1M", "--format", "raw")
        key = virsh(bridge, "vol-key", "keep.img", "--pool", "rawholes").stdout.strip()
        vol = w.string("rawholes") + w.string("keep.img") + w.string(key)
        conn = w.Conn(bridge["proxyd"].rw).handshake()
        try:
            for flags, hole, code, message in ((0, struct.pack(">qI", 4096, 0), RPC,
                                                "Unexpected stream hole"),
                                               (1, b"\0\0", INVALID_ARG,
                                                "malformed stream hole")):
                serial = conn.send_call(STORAGE_VOL_UPLOAD,
                                        vol + struct.pack(">QQI", 0, 0, flags))
                assert conn.reply_to(serial)[5] == w.OK
                conn.send_raw(w.frame(w.REMOTE, STORAGE_VOL_UPLOAD, STREAM_HOLE, serial,
                                      status=CONTINUE, payload=hole))
                m = conn.recv_message()
                assert m[3:6] == (w.STREAM, serial, w.ERROR), m
                got_code, _domain, text = w.Unpacker(m[6]).error()
                assert got_code == code and message in text, (got_code, text)
                # The client's abort is confirmed; nothing reached the volume.
                conn.send_raw(w.frame(w.REMOTE, STORAGE_VOL_UPLOAD, w.STREAM, serial,
                                      status=w.ERROR))
                assert conn.recv_message()[3:6] == (w.STREAM, serial, w.OK)
        finally:
            conn.close()
        out = virsh(bridge, "vol-info", "keep.img", "--pool", "rawholes", "--bytes").stdout
        assert info(out)["Capacity"] == "1048576 bytes"
    finally:
        virsh(bridge, "vol-delete", "keep.img", "--pool", "rawholes", check=False)
        remove_pool(bridge, "rawholes")


# ---------------------------------------------------------------- libvirt's errors
def test_errors_are_libvirts(bridge):
    libvirt, conn = open_libvirt(bridge)
    try:
        assert error_code(libvirt, conn.storagePoolLookupByName, "nope") == NO_STORAGE_POOL
        default = conn.storagePoolLookupByName("default")
        assert error_code(libvirt, default.storageVolLookupByName, "nope") == NO_STORAGE_VOL
        assert error_code(libvirt, conn.storageVolLookupByPath, "/nope") == NO_STORAGE_VOL
        directory = pool_dir(bridge, "twice")
        xml = sc.dir_pool_xml("twice", directory)
        pool = conn.storagePoolDefineXML(xml)
        try:
            # The same name with another UUID: libvirt's OPERATION_FAILED.
            assert error_code(libvirt, conn.storagePoolDefineXML, xml) == OPERATION_FAILED
            vol = sc.volume_xml("dup.img", "1048576")
            pool.build()
            pool.create()
            pool.createXML(vol)
            assert error_code(libvirt, pool.createXML, vol, 0) == STORAGE_VOL_EXIST
            pool.storageVolLookupByName("dup.img").delete()
            pool.destroy()
            assert error_code(libvirt, pool.listAllVolumes) == OPERATION_INVALID
            pool.delete()
        finally:
            pool.undefine()
        # Nothing changed by the refused calls.
        assert "twice" not in [p.name() for p in conn.listAllStoragePools()]
    finally:
        conn.close()


def test_domain_calls_say_the_hypervisor_is_unavailable(bridge):
    r = virsh(bridge, "list", "--all", check=False)
    assert r.returncode == 1 and "cannot reach the hypervisor" in r.stderr, r.stderr
    # ... and storage still works on the same connection kind.
    assert "default" in virsh(bridge, "pool-list").stdout
    assert not h.name_has_owner(HYPERVISOR)


# ---------------------------------------------------------------- events
def test_pool_lifecycle_events_reach_python_callbacks(bridge):
    libvirt = pytest.importorskip("libvirt")
    with bc.libvirt_event_loop(libvirt):
        conn = libvirt.open(bridge["rw"])
        seen = []
        callback = conn.storagePoolEventRegisterAny(
            None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
            lambda _conn, pool, event, detail, _opaque: seen.append((pool.name(), event)), None)
        refreshed = []
        refresh_callback = conn.storagePoolEventRegisterAny(
            None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH,
            lambda _conn, pool, _opaque: refreshed.append(pool.name()), None)
        try:
            directory = pool_dir(bridge, "evented")
            pool = conn.storagePoolDefineXML(sc.dir_pool_xml("evented", directory))
            pool.build()
            pool.create()
            pool.refresh()
            h.wait_until(lambda: refreshed == ["evented"], 30,
                         what=f"refresh event ({refreshed})")
            pool.destroy()
            pool.undefine()
            want = [("evented", libvirt.VIR_STORAGE_POOL_EVENT_DEFINED),
                    ("evented", libvirt.VIR_STORAGE_POOL_EVENT_STARTED),
                    ("evented", libvirt.VIR_STORAGE_POOL_EVENT_STOPPED),
                    ("evented", libvirt.VIR_STORAGE_POOL_EVENT_UNDEFINED)]
            h.wait_until(lambda: seen == want, 30, what=f"pool events (seen {seen})")
        finally:
            conn.storagePoolEventDeregisterAny(callback)
            conn.storagePoolEventDeregisterAny(refresh_callback)
            conn.close()


# ---------------------------------------------------------------- who may
def test_read_only_socket_and_polkit_refuse_changes(bridge):
    r = virsh(bridge, "vol-create-as", "default", "ro.img", "1M", uri=bridge["ro"], check=False)
    assert r.returncode == 1 and "read only access" in r.stderr
    # A test user reads (lists need no right) but may not create without a rule.
    rows = table(virsh(bridge, "pool-list", user=h.env("VS_TEST_USER")).stdout)
    assert "default" in [row[0] for row in rows]
    r = virsh(bridge, "vol-create-as", "default", "user.img", "1M",
              user=h.env("VS_TEST_USER"), check=False)
    assert r.returncode == 1 and "org.virtswarm.storage-vol.create" in r.stderr, r.stderr
    assert "user.img" not in virsh(bridge, "vol-list", "default").stdout


# ---------------------------------------------------------------- capabilities
def test_pool_capabilities_name_what_storaged_serves(bridge):
    caps = ET.fromstring(virsh(bridge, "pool-capabilities").stdout)
    pools = {p.get("type"): p for p in caps.findall("pool")}
    assert {t for t, p in pools.items() if p.get("supported") == "yes"} == \
        {"dir", "fs", "logical"}
    assert pools["netfs"].get("supported") == "no" and pools["iscsi"].get("supported") == "no"

    def values(pool, options):
        return [v.text for v in pools[pool].findall(f"{options}/enum/value")]
    assert values("dir", "volOptions") == ["raw", "qcow2"]
    assert pools["dir"].find("volOptions/defaultFormat").get("type") == "raw"
    assert {"auto", "ext4", "xfs"} <= set(values("fs", "poolOptions"))
    assert values("logical", "poolOptions") == ["lvm2"]
