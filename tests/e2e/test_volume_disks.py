"""End to end: a domain whose disk is a storage volume (<disk type='volume'>). The shim
gets the open image from storaged (the fd broker) and hands it to QEMU; the image is
root's alone (0600), so neither QEMU's user nor anyone else opens it by path. While the
domain runs the volume is in use; when it stops, the hold ends with its shim."""

import os

import storageclient as sc
import vsclient as vc
import vsharness as h

MIB = 1024 * 1024


def stats(path):
    return {str(k): v for k, v in vc.domain(path).GetStats(vc.no_options(),
                                                           timeout=vc.TIMEOUT).items()}


def delete_error(vol):
    return sc.error_name(lambda: sc.iface(vol, sc.VOLUME).Delete(sc.opts(), timeout=vc.TIMEOUT))


def test_a_domain_boots_with_a_volume_disk_that_is_in_use_while_it_runs():
    pool_name = vc.unique("vmpool")
    pool, directory = sc.running_dir_pool(pool_name)
    vol = str(sc.iface(pool, sc.POOL).CreateVolume(sc.volume_xml("disk", str(16 * MIB)),
                                                   sc.opts(), timeout=vc.TIMEOUT))
    image = os.path.join(directory, "disk")
    os.chmod(image, 0o600)
    name = vc.unique("voldisk")
    serial = os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")
    disk = (f"<disk type='volume' device='disk'><source pool='{pool_name}' volume='disk'/>"
            "<target dev='vda' bus='virtio'/></disk>")
    path = vc.define(vc.domain_xml(name, serial=serial, extra_devices=disk))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    vc.wait_file_contains(serial, "VIRTSWARM-GUEST-READY")
    # The guest's virtio_blk reads the volume (QEMU's counters).
    h.wait_until(lambda: int(stats(path)["block.0.rd.reqs"]) > 0, 120, 0.5,
                 "the guest to read its volume")
    # QEMU holds the image through the fd storaged opened.
    pid = vc.qemu_pid(path)
    held = [fd for fd in os.listdir(f"/proc/{pid}/fd")
            if os.path.realpath(f"/proc/{pid}/fd/{fd}") == os.path.realpath(image)]
    assert held
    # The live XML keeps the disk as defined: pool and volume.
    live = str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT))
    assert f"pool=\"{pool_name}\"" in live and "volume=\"disk\"" in live
    assert delete_error(vol) == "org.virtswarm.Error.InvalidState"

    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: delete_error(vol) == "", 60, 0.5, "the volume to be released")
    assert not os.path.exists(image)
