"""virt-install (virtinst 4.1) creating a VM's disk in storaged's pool `default` through
virtswarm-proxyd: `--disk size=N` and `--disk pool=default,size=N` look the pool up, create
the volume with vol-create-xml and define the domain with a file disk on the volume's path.
`--import --noreboot` only defines (no guest is booted), so no QEMU runs here.

Run through tests/harness/with-test-bus (ctest -R integration-test_bridge_storage_install).
"""

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

import bridgeclient as bc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")


@pytest.fixture(scope="module")
def bridge():
    proxyd = bc.Bridge("bridge-install")
    yield {"rw": proxyd.rw_uri, "home": bc.virsh_home(proxyd.root), "root": proxyd.root}
    proxyd.stop()


def virsh(bridge, *args, check=True):
    return bc.virsh(bridge["home"], bridge["rw"], *args, check=check)


def virt_install(bridge, name, disk, *extra):
    kernel = os.path.join(bridge["root"], "vmlinuz")     # never booted: any file will do
    open(kernel, "w").close()
    return subprocess.run(
        ["virt-install", "--connect", bridge["rw"], "--import", "--noreboot",
         "--noautoconsole", "--name", name, "--memory", "128", "--vcpus", "1",
         "--disk", disk, "--osinfo", "generic", "--virt-type", "qemu", "--network", "none",
         "--graphics", "none", "--boot", f"kernel={kernel}", *extra],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        env=dict(os.environ, HOME=bridge["home"]))


def default_pool_path(bridge):
    return ET.fromstring(virsh(bridge, "pool-dumpxml", "default").stdout).find(
        "target/path").text


@pytest.mark.parametrize("disk", ["size=1", "pool=default,size=1"])
def test_virt_install_creates_its_disk_in_default(bridge, disk):
    name = "vi-" + disk.split("=")[0]
    r = virt_install(bridge, name, disk)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        volume = os.path.join(default_pool_path(bridge), name + ".qcow2")
        assert os.path.exists(volume)
        facts = virsh(bridge, "vol-info", volume).stdout
        assert "1.00 GiB" in facts
        xml = ET.fromstring(virsh(bridge, "dumpxml", name).stdout)
        disk_el = xml.find("devices/disk")
        assert disk_el.get("type") == "file"
        assert disk_el.find("source").get("file") == volume
    finally:
        virsh(bridge, "undefine", name, check=False)
        virsh(bridge, "vol-delete", name + ".qcow2", "--pool", "default", check=False)


def test_virt_install_print_xml_names_the_volume_it_made(bridge):
    """virtinst 4.1 builds the storage even for --print-xml (as against libvirtd): the
    printed disk is a volume of `default` that exists."""
    r = subprocess.run(
        ["virt-install", "--connect", bridge["rw"], "--import", "--print-xml", "--name", "vi-dry",
         "--memory", "128", "--disk", "size=1", "--osinfo", "generic", "--virt-type", "qemu",
         "--network", "none", "--graphics", "none", "--boot", "kernel=/nonexistent"],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        env=dict(os.environ, HOME=bridge["home"]))
    assert r.returncode == 0, r.stderr
    source = ET.fromstring(r.stdout).find("devices/disk/source").get("file")
    try:
        assert source == os.path.join(default_pool_path(bridge), "vi-dry.qcow2")
        assert virsh(bridge, "vol-pool", source).stdout.strip() == "default"
        r = virsh(bridge, "dominfo", "vi-dry", check=False)
        assert r.returncode == 1                   # printing defines nothing
    finally:
        virsh(bridge, "vol-delete", "vi-dry.qcow2", "--pool", "default", check=False)
