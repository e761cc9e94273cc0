"""End to end: a domain whose disk is a storage volume (<disk type='volume'>). The shim
gets the open image from storaged (the fd broker) and hands it to QEMU; the image is
root's alone (0600), so neither QEMU's user nor anyone else opens it by path. While the
domain runs the volume is in use and leased from lockd (a second domain on it is refused,
at start and on hotplug); when it stops, the hold and the lease end with it. A volume
disk hotplugged (AttachDevice) is opened the same way and held until it is detached; a
shim that replaces a killed one takes the holds again."""

import os
import signal
import subprocess

import lockclient as lc
import storageclient as sc
import vsclient as vc
import vsharness as h

MIB = 1024 * 1024


def stats(path):
    return {str(k): v for k, v in vc.domain(path).GetStats(vc.no_options(),
                                                           timeout=vc.TIMEOUT).items()}


def delete_error(vol):
    return sc.error_name(lambda: sc.iface(vol, sc.VOLUME).Delete(sc.opts(), timeout=vc.TIMEOUT))


def holds():
    """storaged's record of its holds: (holder's bus name, domain, path) per line."""
    path = os.path.join(h.env("VIRTSWARM_RUNTIME_DIR"), "storage", "holders")
    try:
        with open(path) as f:
            return {tuple(line.split(" ", 2)) for line in f.read().splitlines() if line}
    except FileNotFoundError:
        return set()


def holders_of(image):
    return {holder for holder, _, held in holds() if held == image}


def qemu_holds(pid, image):
    return any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == os.path.realpath(image)
               for fd in os.listdir(f"/proc/{pid}/fd"))


def shim_name(path):
    return "org.virtswarm.Shim1.d" + path.rsplit("_", 1)[1]


def check_hotplug_and_reattach(path, pool, pool_name, directory, boot_image, pid):
    """A hotplugged volume disk is held like a boot one; a new shim after kill -9 of the
    old one holds both again; detaching ends the hotplugged one's hold."""
    hot = str(sc.iface(pool, sc.POOL).CreateVolume(sc.volume_xml("hot", str(8 * MIB)),
                                                   sc.opts(), timeout=vc.TIMEOUT))
    hot_image = os.path.join(directory, "hot")
    os.chmod(hot_image, 0o600)
    disk = (f"<disk type='volume' device='disk'><source pool='{pool_name}' volume='hot'/>"
            "<target dev='vdb' bus='virtio'/></disk>")
    vc.domain(path).AttachDevice(disk, vc.no_options(), timeout=vc.TIMEOUT)
    assert qemu_holds(pid, hot_image)
    assert lc.domains_holding(hot_image) == {str(vc.prop(path, "UUID"))}
    assert delete_error(hot) == "org.virtswarm.Error.InvalidState"
    live = str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT))
    assert "volume=\"hot\"" in live

    old_shim = str(h.bus_daemon().GetNameOwner(shim_name(path)))
    assert holders_of(boot_image) == {old_shim} and holders_of(hot_image) == {old_shim}
    os.kill(int(h.bus_daemon().GetConnectionUnixProcessID(old_shim)), signal.SIGKILL)

    def new_owner():
        try:
            owner = str(h.bus_daemon().GetNameOwner(shim_name(path)))
        except Exception:  # between the two shims
            return None
        return owner if owner != old_shim else None
    new_shim = h.wait_until(new_owner, 60, 0.05, "a new shim")
    h.wait_until(lambda: holders_of(boot_image) == {new_shim} and
                 holders_of(hot_image) == {new_shim}, 60, 0.1,
                 "the new shim to hold both volumes")
    assert vc.qemu_pid(path) == pid and qemu_holds(pid, hot_image)

    vc.domain(path).DetachDevice(disk, vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: not holders_of(hot_image), 30, 0.1, "the hot volume's hold to end")
    h.wait_until(lambda: not lc.domains_holding(hot_image), 30, 0.1,
                 "the hot volume's lease to end")
    assert not qemu_holds(pid, hot_image)
    assert delete_error(hot) == ""
    assert holders_of(boot_image) == {new_shim}


def start_error(path):
    return sc.error_name(lambda: vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT))


def check_second_domain_refused_the_lease(path, disk, image):
    """lockd leases the image storaged opened, keyed by the file, as a file disk's: another
    domain on the same volume (at start, or hotplugged into a running one) is refused, and
    storaged's hold for it ends again."""
    uuid = str(vc.prop(path, "UUID"))
    assert lc.domains_holding(image) == {uuid}
    first_shim = str(h.bus_daemon().GetNameOwner(shim_name(path)))
    second = vc.define(vc.domain_xml(vc.unique("voldisk-second"), extra_devices=disk))
    assert start_error(second) == lc.BUSY
    assert str(vc.prop(second, "State")) == "shutoff"
    assert lc.domains_holding(image) == {uuid}
    h.wait_until(lambda: holders_of(image) == {first_shim}, 30, 0.1,
                 "the refused domain's hold to end")
    # The same file named by its path is the same lease.
    by_path = vc.define(vc.domain_xml(vc.unique("voldisk-path"), extra_devices=(
        f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        f"<source file='{image}'/><target dev='vda' bus='virtio'/></disk>")))
    assert start_error(by_path) == lc.BUSY
    vc.domain(second).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
    vc.domain(by_path).Undefine(vc.no_options(), timeout=vc.TIMEOUT)


def boot_on_volume(prefix, disk):
    """A test guest with `disk` started, once its virtio_blk has read the volume (QEMU's
    counters)."""
    name = vc.unique(prefix)
    serial = os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")
    path = vc.define(vc.domain_xml(name, serial=serial, extra_devices=disk))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    vc.wait_file_contains(serial, "VIRTSWARM-GUEST-READY")
    h.wait_until(lambda: int(stats(path)["block.0.rd.reqs"]) > 0, 120, 0.5,
                 "the guest to read its volume")
    return path


def test_a_domain_boots_with_a_volume_disk_that_is_in_use_while_it_runs():
    pool_name = vc.unique("vmpool")
    pool, directory = sc.running_dir_pool(pool_name)
    vol = str(sc.iface(pool, sc.POOL).CreateVolume(sc.volume_xml("disk", str(16 * MIB)),
                                                   sc.opts(), timeout=vc.TIMEOUT))
    image = os.path.join(directory, "disk")
    os.chmod(image, 0o600)
    disk = (f"<disk type='volume' device='disk'><source pool='{pool_name}' volume='disk'/>"
            "<target dev='vda' bus='virtio'/></disk>")
    path = boot_on_volume("voldisk", disk)
    # QEMU holds the image through the fd storaged opened.
    pid = vc.qemu_pid(path)
    held = [fd for fd in os.listdir(f"/proc/{pid}/fd")
            if os.path.realpath(f"/proc/{pid}/fd/{fd}") == os.path.realpath(image)]
    assert held
    # The live XML keeps the disk as defined: pool and volume.
    live = str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT))
    assert f"pool=\"{pool_name}\"" in live and "volume=\"disk\"" in live
    assert delete_error(vol) == "org.virtswarm.Error.InvalidState"
    check_second_domain_refused_the_lease(path, disk, image)
    check_hotplug_and_reattach(path, pool, pool_name, directory, image, pid)

    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert not lc.domains_holding(image)
    h.wait_until(lambda: delete_error(vol) == "", 60, 0.5, "the volume to be released")
    assert not os.path.exists(image)


def test_a_domain_boots_from_a_qcow2_volume_over_a_backing_volume():
    """vol-create with a <backingStore>: storaged reads the backing file as the caller and
    qemu-img writes the overlay without opening it; storaged hands the domain the overlay,
    the shim opens the layer under it as the definer, and QEMU opens no path."""
    pool_name = vc.unique("chainpool")
    pool, directory = sc.running_dir_pool(pool_name)
    sc.iface(pool, sc.POOL).CreateVolume(sc.volume_xml("base", str(16 * MIB)), sc.opts(),
                                         timeout=vc.TIMEOUT)
    base = os.path.join(directory, "base")
    top_xml = ("<volume><name>top</name><target><format type='qcow2'/></target>"
               f"<backingStore><path>{base}</path></backingStore></volume>")
    sc.iface(pool, sc.POOL).CreateVolume(top_xml, sc.opts(), timeout=vc.TIMEOUT)
    top = os.path.join(directory, "top")
    for image in (base, top):
        os.chmod(image, 0o600)  # root's: QEMU's user can reach them only as descriptors
    # Without <capacity>: the backing file's size; the format probed, as libvirt does.
    info = subprocess.run(["qemu-img", "info", "--output=json", "-U", top], check=True,
                          capture_output=True, text=True).stdout
    assert '"virtual-size": 16777216' in info and '"backing-filename-format": "raw"' in info

    disk = (f"<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source pool='{pool_name}' volume='top'/><target dev='vda' bus='virtio'/></disk>")
    path = boot_on_volume("chaindisk", disk)
    pid = vc.qemu_pid(path)
    assert qemu_holds(pid, top) and qemu_holds(pid, base)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().decode(errors="replace")
    assert base not in argv and top not in argv  # both came as fd sets
    uuid = str(vc.prop(path, "UUID"))
    assert lc.domains_holding(top) == {uuid}
    # The layer under the volume is leased shared: no domain may write it meanwhile.
    assert lc.domains_holding(base) == {uuid}
    writer = vc.define(vc.domain_xml(vc.unique("chain-writer"), extra_devices=(
        f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        f"<source file='{base}'/><target dev='vda' bus='virtio'/></disk>")))
    assert start_error(writer) == lc.BUSY
    vc.domain(writer).Undefine(vc.no_options(), timeout=vc.TIMEOUT)

    # Hotplug takes no chains (QEMU would open the backing file by its name).
    sc.iface(pool, sc.POOL).CreateVolume(top_xml.replace(">top<", ">hot<"), sc.opts(),
                                         timeout=vc.TIMEOUT)
    hot = (f"<disk type='volume' device='disk'><source pool='{pool_name}' volume='hot'/>"
           "<target dev='vdb' bus='virtio'/></disk>")
    assert sc.error_name(lambda: vc.domain(path).AttachDevice(
        hot, vc.no_options(), timeout=vc.TIMEOUT)) == "org.virtswarm.Error.ConfigUnsupported"
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert not lc.domains_holding(base) and not lc.domains_holding(top)
    vc.domain(path).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
